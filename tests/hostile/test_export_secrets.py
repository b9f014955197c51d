"""Secrets, paths and names that must not leave: every way out (package members, results push,
dashboard, JupyterLab export) is grepped for planted secrets and the exporter's home, user and host."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.analysis.dashboard import dashboard_html
from reefnb.analysis.frame import results
from reefnb.analysis.reproduce import reproduce
from reefnb.frontends.cli import main
from reefnb.sharing import registry
from reefnb.sharing.package import PackageError, export_package

GITHUB = "ghp_R8x2Lm9Pw4Rt7Yb3Nc6Vd1Kf5Hj0SaQe12Ab"
AWS = "AKIAQ3EGRX7TYUIVB4NM"
SLACK = "xoxb-240987651234-1039852213457-Qz8WmX3kLp9Rt2Vb7Nc4Hd6J"
PEM_BODY = "MIIEowIBAAKCAQEAvTq3Zm1"


def planted(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    notebook = write_notebook(
        folder / "leaky.ipynb",
        "gh_token = 'none'\nsteps = 3",
        "import os, getpass, socket\nprint('aws', os.environ['PLANTED_AWS'])\nprint('home', "
        "os.path.expanduser('~'), getpass.getuser())\n"
        "print('host', socket.gethostname())\nprint('slack', os.environ['PLANTED_SLACK'])",
        "import reefnb\nreefnb.record('steps', steps)\nreefnb.record('note', 'token ' + gh_token)",
    )
    saved = nbformat.read(
        notebook, as_version=4
    )  # a notebook saved after an interactive session: its outputs hold a key
    saved.cells[1].outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stdout",
            text=f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
        )
    ]
    saved.metadata["secret_note"] = f"deploy with {AWS}"
    nbformat.write(saved, notebook)
    return notebook


def leaks(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    found = [secret for secret in (GITHUB, AWS, SLACK, PEM_BODY, str(Path.home()) + "/") if secret in text]
    for name in (getpass.getuser(), socket.gethostname()):  # as a JSON value, or a word printed in an output
        if (
            len(name) > 2
            and name not in ("root", "localhost")
            and (f'"{name}"' in text or f" {name}\\n" in text or f" {name}\n" in text)
        ):
            found.append(name)
    return found


@pytest.fixture
def leaky_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANTED_AWS", AWS)
    monkeypatch.setenv("PLANTED_SLACK", SLACK)
    notebook = planted(tmp_path)
    record = reefnb.run(notebook, parameters={"gh_token": GITHUB})
    assert record["status"] == "ok", record["error"]
    return notebook, record


def test_package_members_carry_no_secret_home_user_or_host(leaky_run, tmp_path):
    notebook, _ = leaky_run
    summary = export_package(notebook, tmp_path / "leaky.reef.zip")
    with zipfile.ZipFile(summary["package"]) as archive:
        found = {name: leaks(archive.read(name)) for name in archive.namelist()}
        manifest = json.loads(archive.read("solution.json"))
        exported = nbformat.reads(archive.read("leaky.ipynb").decode(), as_version=4)
    assert {name: items for name, items in found.items() if items} == {}
    assert {"solution.json", "ro-crate-metadata.json", "reef.lock.json", "README.md"} <= set(found)
    assert manifest["expected"][-1]["parameters"]["gh_token"] == "<redacted>"
    original = nbformat.read(notebook, as_version=4)
    assert [cell.source for cell in exported.cells] == [cell.source for cell in original.cells]  # code as written
    assert "<redacted>" in exported.cells[1].outputs[0]["text"]


def test_results_push_carries_no_secret(leaky_run, tmp_path, monkeypatch):
    for key, value in {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }.items():
        monkeypatch.setenv(key, value)
    bare = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    registry.add_registry("shared", str(bare))
    assert registry.push_results(solution="leaky")["pushed"] == 1
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(clone)], check=True)
    import pyarrow.parquet as parquet

    parts = sorted(
        (clone / "results").rglob("part-*.parquet")
    )  # reefnb.sharing.crowd: records and environments as JSON text columns
    shared = {
        f"{path.name}:{row['run_id']}": (row["record"] + row["environment"]).encode()
        for path in parts
        for row in parquet.read_table(path).to_pylist()
    }
    assert shared and {name: leaks(text) for name, text in shared.items() if leaks(text)} == {}
    record = json.loads(parquet.read_table(parts[0]).column("record")[0].as_py())
    assert record["parameters"]["gh_token"] == "<redacted>" and record["metrics"]["note"]["value"] == "token <redacted>"


def test_dashboard_carries_no_secret(leaky_run):
    page = dashboard_html(results(solution="leaky"))
    assert leaks(page.encode()) == []
    assert "&lt;redacted&gt;" in page  # the planted token, replaced and HTML-escaped


def test_code_is_never_rewritten(tmp_path):
    notebook = write_notebook(
        tmp_path / "work" / "names.ipynb",
        None,
        'import os\nsecret = os.environ.get("MY_SECRET", "none")\n'
        "class Tokenizer:\n    def encode(self, text):\n        return text.split()\n"
        'tokenizer = Tokenizer()\ntoken = tokenizer.encode("hello world")',
    )
    summary = export_package(notebook, tmp_path / "names.reef.zip")
    with zipfile.ZipFile(summary["package"]) as archive:
        exported = nbformat.reads(archive.read("names.ipynb").decode(), as_version=4)
    assert exported.cells[0].source == nbformat.read(notebook, as_version=4).cells[0].source


def test_a_secret_in_code_stops_the_export_with_where_and_how(tmp_path, capsys):
    notebook = write_notebook(tmp_path / "work" / "hardcoded.ipynb", None, "x = 1", f"import os\napi_key = '{GITHUB}'")
    package = tmp_path / "hardcoded.reef.zip"
    with pytest.raises(PackageError) as caught:
        export_package(notebook, package)
    message = str(caught.value)
    assert (
        "hardcoded.ipynb: cell 1, line 2" in message
        and "--allow-secret-in-code" in message
        and "environment variable" in message
    )
    assert GITHUB not in message and not package.exists()
    assert main(["export", str(notebook), "-o", str(package)]) == 2
    assert "cell 1, line 2" in capsys.readouterr().err and not package.exists()
    assert main(["export", str(notebook), "-o", str(package), "--allow-secret-in-code"]) == 0
    with zipfile.ZipFile(package) as archive:
        assert GITHUB in archive.read("hardcoded.ipynb").decode()  # the author chose to ship the code as written


def test_an_absolute_path_parameter_inside_the_solution_is_made_relative(tmp_path):
    folder = tmp_path / "proj"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "input.csv").write_text("1\n2\n")
    notebook = write_notebook(
        folder / "paths.ipynb",
        f"data_dir = '{folder}/data'",
        "import os\nrows = open(os.path.join(data_dir, 'input.csv')).read().split()\nimport "
        "reefnb\nreefnb.record('rows', len(rows))",
    )
    record = reefnb.run(notebook)
    assert record["status"] == "ok"
    summary = export_package(notebook, tmp_path / "paths.reef.zip")
    with zipfile.ZipFile(summary["package"]) as archive:
        manifest = json.loads(archive.read("solution.json"))
        assert "data/input.csv" in archive.namelist()
    assert manifest["workflows"]["run"]["parameters"]["data_dir"] == "data"
    assert manifest["expected"][-1]["parameters"].get("data_dir", "data") == "data"
    folder.rename(tmp_path / "moved")  # the exporter's absolute path is gone: the package must not need it
    report = reproduce(summary["package"], trust=True, environment="native", folder=tmp_path / "imported")
    assert report["verdict"] == "reproduced", report["experiments"]


def test_an_absolute_path_parameter_outside_the_solution_is_refused(tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    notebook = write_notebook(tmp_path / "proj" / "paths.ipynb", f"data_dir = '{outside}'", "print(data_dir)")
    package = tmp_path / "paths.reef.zip"
    assert main(["export", str(notebook), "-o", str(package)]) == 2
    err = capsys.readouterr().err
    assert "parameter 'data_dir'" in err and "outside the solution folder" in err and len(err.strip().splitlines()) == 1
    assert not package.exists()


def test_user_and_host_names_are_replaced(monkeypatch):
    from reefnb.common import scrub

    monkeypatch.setattr(scrub, "_user", lambda: "alice.smith")
    monkeypatch.setattr(scrub.socket, "gethostname", lambda: "lab-node-17")
    text = scrub.Scrubber().text("alice.smith@lab-node-17 ran it; lab-node-170 and malice.smithers are other words")
    assert text == "<user>@<host> ran it; lab-node-170 and malice.smithers are other words"
    assert scrub.Scrubber(identify=True).text("alice.smith@lab-node-17") == "alice.smith@lab-node-17"
