"""The jupyter_server extension's REST endpoints (reefnb.frontends.server), on a real server from pytest-jupyter:
a notebook's solution and parameter schema, requirements, runs, a run with parameters on a real kernel,
export, dashboard; authentication; paths outside the server's root refused."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

# pytest-jupyter's server, for this module only; skips without jupyter_server
from helpers.lab_server import *  # noqa: F403
from helpers.solutions import HELLO, write_notebook, write_solution

import reefnb
from reefnb.frontends.server import RequestError, confined


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    """The server's root: a copy of hello-sweep and a plain notebook; a secret notebook beside the root."""
    shutil.copytree(
        HELLO, jp_root_dir / "hello-sweep", ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json")
    )
    write_notebook(jp_root_dir / "plain" / "analysis.ipynb", "rate: float = 0.5  # how fast", "print(rate)")
    write_notebook(jp_root_dir.parent / "secret.ipynb", "x = 1")
    return jp_root_dir


def test_notebook_gives_its_solution_and_parameter_schema(call):
    status, info = call("GET", "notebook", "hello-sweep/main.ipynb")
    assert status == 200
    assert info["solution"] == {
        "name": "hello-sweep",
        "version": "0.1.0",
        "description": info["solution"]["description"],
        "folder": "hello-sweep",
        "manifest": "hello-sweep/solution.json",
        "workflows": ["benchmark", "run"],
    }
    assert info["workflow"] == "run"
    properties = info["parameters"]["properties"]
    assert properties["method"]["enum"] == ["random", "stratified"]
    assert (
        properties["samples"]["type"] == "integer" and properties["samples"]["default"] == 10000
    )  # the manifest's default

    status, info = call("GET", "notebook", "plain/analysis.ipynb")
    assert status == 200 and info["solution"]["manifest"] is None and info["solution"]["name"] == "analysis"
    assert info["parameters"]["properties"]["rate"] == {"type": "number", "default": 0.5, "description": "how fast"}


def test_paths_outside_the_root_and_bad_requests_are_refused(call, root):
    (root / "escape.ipynb").symlink_to(root.parent / "secret.ipynb")
    (root / "notes.txt").write_text("hello")
    refused = {
        "../secret.ipynb": 403,
        "hello-sweep/../../secret.ipynb": 403,
        str(root.parent / "secret.ipynb"): 403,  # absolute, even when it names a file
        "escape.ipynb": 403,  # a link inside the root to a file outside it
        "nowhere.ipynb": 404,
        "notes.txt": 400,
        "": 400,
    }
    for path, expected in refused.items():
        for endpoint in ("notebook", "requirements", "runs", "dashboard"):
            status, answer = call("GET", endpoint, path)
            assert status == expected, (endpoint, path, answer)
            assert "\n" not in answer["message"] and answer["message"], answer
    status, answer = call("GET", "notebook", "../secret.ipynb")
    assert answer["message"] == "../secret.ipynb: outside the server's root: refused"
    for endpoint in ("runs", "export", "install"):
        status, answer = call("POST", endpoint, body={"path": "../secret.ipynb"})
        assert status == 403, (endpoint, answer)
    status, answer = call("POST", "export", body={"path": "hello-sweep/main.ipynb", "output": "../stolen.reef.zip"})
    assert status == 403 and "outside the server's root" in answer["message"]
    assert not (root.parent / "stolen.reef.zip").exists()
    status, answer = call("POST", "runs", body={"path": "hello-sweep/main.ipynb", "parameters": [1, 2]})
    assert status == 400 and answer["message"] == "'parameters' must be an object of parameter names to values"
    status, answer = call("POST", "runs", body={"path": 3})
    assert status == 400
    assert call("GET", "export", "hello-sweep/main.ipynb")[0] == 405 and call("POST", "notebook", body={})[0] == 405


def test_the_api_needs_authentication(call):
    status, _ = call("GET", "notebook", "hello-sweep/main.ipynb", headers={"Authorization": ""})
    assert status == 403


def test_requirements_are_checked_where_the_solution_runs_and_say_what_install_would_change(call, root):
    status, answer = call("GET", "requirements", "hello-sweep/main.ipynb")
    assert status == 200 and answer["solution"] == "hello-sweep@0.1.0" and answer["installable"] is True
    # No `reef init` yet: it runs on the kernel its notebook names, and is checked against that kernel's python.
    assert answer["place"]["label"] == "kernel python3" and answer["place"]["python"] == sys.executable
    rows = {row["name"]: row for row in answer["requirements"]}
    assert (
        rows["numpy"]["kind"] == "package"
        and rows["numpy"]["required"] == ">=1.24"
        and rows["numpy"]["status"] == "found"
    )
    assert answer["summary"] == "checked against kernel python3: all found"
    effect = answer["install"]
    assert effect["label"] == "Make its own environment" and effect["refusal"] is None
    assert (
        effect["changes"][0].startswith("make environment hello-sweep (python ")
        and "kernel reef-hello-sweep" in effect["changes"][0]
    )
    assert effect["changes"][-1].startswith(
        "then runs, sweeps and benchmarks run in environment hello-sweep instead of kernel python3"
    )
    status, answer = call("GET", "requirements", "plain/analysis.ipynb")
    assert (
        status == 200 and answer["requirements"] == [] and answer["installable"] is False and answer["install"] is None
    )
    # `%reef require` into the open notebook: the editor's metadata, not saved yet, is what the sidebar sends.
    declared = {
        "requires": {
            "packages": ["numpy", "reef-no-such-package", 'reef-elsewhere; platform_machine == "no-such-machine"']
        }
    }
    status, answer = call("POST", "requirements", body={"path": "plain/analysis.ipynb", "declared": declared})
    assert status == 200, answer
    assert [(row["name"], row["status"]) for row in answer["requirements"]] == [
        ("numpy", "found"),
        ("reef-no-such-package", "missing"),
        ("reef-elsewhere", "skipped"),
    ]
    assert all(
        row["reason"] for row in answer["requirements"] if row["status"] != "found"
    )  # every row that is not found says why
    assert answer["summary"] == "checked against kernel python3: 1 missing; 1 skipped (for another platform)"
    status, answer = call("POST", "requirements", body={"path": "plain/analysis.ipynb", "declared": [1]})
    assert status == 400 and answer["message"] == "'declared' must be the notebook's metadata.reef, an object"
    status, answer = call("POST", "install", body={"path": "plain/analysis.ipynb"})
    assert status == 400 and "not part of a solution" in answer["message"]


def test_install_refuses_what_cannot_be_met_here(call, root):
    manifest = json.loads((root / "hello-sweep" / "solution.json").read_text())
    manifest["requires"]["hardware"] = {"memory_gb": 100000}
    (root / "hello-sweep" / "solution.json").write_text(json.dumps(manifest))
    status, answer = call("GET", "requirements", "hello-sweep/main.ipynb")
    assert status == 200 and answer["unmet"] == 1
    assert [row["status"] for row in answer["requirements"] if row["kind"] == "hardware"] == ["unmet"]
    status, answer = call("POST", "install", body={"path": "hello-sweep/main.ipynb"})
    assert status == 400 and "cannot be met here" in answer["message"] and "\n" not in answer["message"]


def test_an_invalid_manifest_is_a_one_line_400(call, root):
    (root / "hello-sweep" / "solution.json").write_text(
        '{"name": "hello-sweep", "version": "x", "workflows": {"run": {"notebook": "main.ipynb"}}}'
    )
    status, answer = call("GET", "notebook", "hello-sweep/main.ipynb")
    assert status == 400 and answer["message"].endswith(
        "solution.json: /version: 'x' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 0.1.0)"
    )


def test_run_with_parameters_then_runs_export_and_dashboard(call, root):
    status, answer = call("POST", "runs", body={"path": "hello-sweep/main.ipynb", "parameters": {"samples": "lots"}})
    assert status == 400 and answer["message"] == "parameter 'samples' expects int, got 'lots'"
    status, answer = call("POST", "runs", body={"path": "hello-sweep/main.ipynb", "parameters": {"batch": 3}})
    assert status == 400 and answer["message"].startswith("unknown parameter 'batch'")

    status, run = call(
        "POST", "runs", body={"path": "hello-sweep/main.ipynb", "parameters": {"samples": 2000, "method": "stratified"}}
    )
    assert status == 200, run
    assert run["status"] == "ok", run["error"]
    assert run["workflow"] == "run" and run["parameters"] == {"samples": 2000, "method": "stratified"}
    assert run["metrics"]["points"]["unit"] == "points" and 0 < run["metrics"]["points"]["value"] <= 2000
    assert run["output"] == f"hello-sweep/runs/{run['run_id']}/main.ipynb" and (root / run["output"]).is_file()
    assert (
        run["system"].startswith("peak RSS ") and "samples" in run["system"]
    )  # telemetry, for the sidebar's run details

    status, answer = call("GET", "runs", "hello-sweep/main.ipynb")
    assert status == 200 and [r["run_id"] for r in answer["runs"]] == [run["run_id"]]

    status, summary = call("POST", "export", body={"path": "hello-sweep/main.ipynb"})
    assert status == 200, summary
    assert summary["package"] == "hello-sweep/hello-sweep-0.1.0.reef.zip" and summary["runs"] == 1
    assert (root / summary["package"]).is_file()
    status, summary = call("POST", "export", body={"path": "plain/analysis.ipynb", "output": "analysis.reef.zip"})
    assert status == 200 and summary["package"] == "analysis.reef.zip" and (root / "analysis.reef.zip").is_file()
    status, answer = call("POST", "export", body={"path": "plain/analysis.ipynb", "output": "analysis.zip"})
    assert status == 400 and answer["message"] == "analysis.zip: a package's name ends in .reef.zip"

    status, answer = call("GET", "dashboard", "hello-sweep/main.ipynb")
    assert status == 200 and answer["runs"] == 1
    assert answer["html"].lstrip().lower().startswith("<!doctype html") and run["run_id"] in answer["html"]
    status, answer = call("GET", "dashboard", "plain/analysis.ipynb")
    assert status == 400 and "no runs recorded" in answer["message"]


ATTACHING = (
    "import reefnb\n(reefnb.run_folder() / 'summary.txt').write_text('Result is : VALID\\n')\n"
    "reefnb.attach(reefnb.run_folder() / 'summary.txt', name='performance/mlperf_log_summary.txt')\n"
    "(reefnb.run_folder() / 'big.log').write_text('x' * 100)\nreefnb.attach(reefnb.run_folder() / 'big.log')"
)


def test_run_details_list_the_attached_files_with_a_path_the_sidebar_opens(call, root, monkeypatch):
    from reefnb.frontends.rendering import file_details
    from reefnb.frontends.server import run_summary

    monkeypatch.setenv("REEF_MAX_ATTACHED", "50")  # big.log is over it: said why it was not kept
    write_solution(
        root / "evidence",
        {"name": "evidence", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "x = 1",
        ATTACHING,
    )
    status, run = call("POST", "runs", body={"path": "evidence/main.ipynb"})
    assert status == 200 and run["status"] == "ok", run
    record = reefnb.default_store().get(run["run_id"])
    path = f"evidence/runs/{run['run_id']}/files/performance/mlperf_log_summary.txt"
    assert run["files"] == [
        {"name": "performance/mlperf_log_summary.txt", "details": file_details(record["files"][0]), "path": path}
    ]
    assert (
        run["files"][0]["details"].startswith("18 B  text/plain  sha256 ")
        and (root / path).read_text() == "Result is : VALID\n"
    )
    assert run["files_refused"] == [
        "not kept: big.log: 100 bytes: over the REEF_MAX_ATTACHED limit of the run's files (32 bytes left)"
    ]
    status, answer = call("GET", "runs", "evidence/main.ipynb")
    assert status == 200 and answer["runs"][0]["files"] == run["files"]
    # under another root the file is out of reach: listed, no path to open
    assert run_summary(root / "plain", record)["files"] == [{**run["files"][0], "path": None}]


def test_detect_gives_the_fingerprint(call, reef_home):
    status, answer = call("GET", "detect")
    assert status == 200 and answer["reef_home"] == str(reef_home) and "cpu" in answer["fingerprint"]


def test_confined_keeps_paths_under_the_root(tmp_path):
    (tmp_path / "a").mkdir()
    assert confined(tmp_path, "a") == (tmp_path / "a").resolve()
    assert confined(tmp_path, "a/new.reef.zip", must_exist=False) == (tmp_path / "a" / "new.reef.zip").resolve()
    for bad in ("../x", "/etc/passwd", "a/../../x", "C:/x", "a\x00b"):
        with pytest.raises(RequestError):
            confined(tmp_path, bad, must_exist=False)


def test_the_environment_lists_both_extensions_as_installed_by_python():
    """What `make setup` (or a wheel) puts in place: JupyterLab lists the prebuilt extension as a python
    package's, with its install.json, and jupyter_server enables reefnb.frontends.server."""
    import subprocess
    import sys

    jupyter = Path(sys.executable).with_name("jupyter")
    labextensions = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120)
    text = labextensions.stdout + labextensions.stderr
    assert "reefnb v0.1.0" in text and "(python, reefnb)" in text, text
    servers = subprocess.run([str(jupyter), "server", "extension", "list"], capture_output=True, text=True, timeout=120)
    text = servers.stdout + servers.stderr
    assert "reefnb" in text and "enabled" in text, text
