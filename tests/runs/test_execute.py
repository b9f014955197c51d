"""Real papermill executions on real kernels: ok, failed, timeout, killed, interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import nbformat
import pytest
from helpers.solutions import write_notebook, write_solution

import reefnb
from reefnb.runs.store import Store

MINIMAL = {"name": "probe", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
RECORD_SCHEMA = reefnb.schema("run-record")
REEF = str(Path(sys.executable).parent / "reef")


def check_record(record: dict) -> None:
    jsonschema.Draft202012Validator(RECORD_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(record)


def test_ok_run_records_parameters_metrics_environment(hello):
    record = reefnb.run(hello, parameters={"samples": "2500", "method": "stratified"})
    check_record(record)
    assert record["status"] == "ok" and record["error"] is None
    assert record["parameters"] == {"samples": 2500, "method": "stratified"}  # "2500" cast to int
    metrics = record["metrics"]
    assert set(metrics) == {"pi_estimate", "abs_error", "time_ms", "points"}
    assert metrics["points"]["value"] == 2500 and metrics["points"]["unit"] == "points"
    assert metrics["time_ms"]["unit"] == "ms"
    assert abs(metrics["pi_estimate"]["value"] - 3.14159) < 0.1
    environment = record["environment"]
    assert environment["kernel"] == "python3"
    assert environment["python"]["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert environment["packages"]["numpy"]
    assert environment["cpu"]["count"] >= 1 and environment["memory_bytes"] > 0
    assert record["provenance"]["reefnb_version"] == reefnb.__version__
    output = Path(record["notebook"]["output_path"])
    assert output.is_file() and output.parent.parent == hello / "runs"
    executed = nbformat.read(output, as_version=4)
    assert executed.metadata["reef"]["run_id"] == record["run_id"]
    assert any("injected-parameters" in cell.metadata.get("tags", []) for cell in executed.cells)
    stored = Store().get(record["run_id"])
    assert stored == json.loads(json.dumps(record))


def test_manifest_defaults_then_file_then_arguments(hello, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("samples: 400\nseed: 3\n")
    record = reefnb.run(hello, parameter_file=params, parameters={"seed": 5})
    assert record["parameters"] == {"samples": 400, "method": "random", "seed": 5}
    assert record["metrics"]["points"]["value"] == 400


def test_unknown_or_mistyped_parameter_is_refused_before_any_run(hello):
    with pytest.raises(reefnb.ParameterError, match="unknown parameter 'sample'.*samples"):
        reefnb.run(hello, parameters={"sample": 3})
    with pytest.raises(reefnb.ParameterError, match="'samples' expects int, got 'many'"):
        reefnb.run(hello, parameters={"samples": "many"})
    assert not (hello / "runs").exists()
    assert reefnb.results().empty


def test_failing_cell_gives_failed_record_and_partial_notebook(tmp_path):
    cells = ["import reefnb\nreefnb.record('before', 1)", "raise ValueError(f'boom {x}')", "reefnb.record('after', 2)"]
    folder = write_solution(tmp_path / "s", MINIMAL, "x = 1", *cells)
    record = reefnb.run(folder, parameters={"x": 7})
    check_record(record)
    assert record["status"] == "failed"
    error = record["error"]
    assert error["name"] == "ValueError" and error["message"] == "boom 7"
    assert "raise ValueError" in nbformat.read(folder / "main.ipynb", as_version=4).cells[error["cell_index"]].source
    assert "ValueError" in error["traceback"] and "\x1b[" not in error["traceback"]
    assert record["metrics"]["before"]["value"] == 1 and "after" not in record["metrics"]
    assert Store().get(record["run_id"])["status"] == "failed"


def test_kernel_that_dies_gives_killed_record(tmp_path):
    folder = write_solution(tmp_path / "s", MINIMAL, "x = 1", "import os\nos._exit(3)")
    record = reefnb.run(folder)
    check_record(record)
    assert record["status"] == "killed"
    assert record["error"]["exit_code"] == 3
    assert "exit code 3" in record["error"]["message"]
    assert record["error"]["cell_index"] == 1  # in the user's notebook: parameters, then the fatal cell
    assert Store().integrity_check() == "ok"


def test_whole_run_timeout_gives_timeout_record(tmp_path):
    folder = write_solution(
        tmp_path / "s", MINIMAL, "x = 1", "import time\ntime.sleep(1.2)", "time.sleep(1.2)", "time.sleep(30)"
    )
    started = time.monotonic()
    record = reefnb.run(folder, timeout=2)
    assert time.monotonic() - started < 20
    check_record(record)
    assert record["status"] == "timeout"
    assert record["error"]["cell_index"] in (1, 2, 3)  # which sleeping cell, depends on the load


def test_package_versions_are_asked_of_the_kernel(tmp_path, monkeypatch):
    """A kernel whose environment has a package the reef process lacks: the record lists it."""
    site = tmp_path / "kernel-site"
    info = site / "only_in_kernel-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: only-in-kernel\nVersion: 1.2.3\n")
    kernels = tmp_path / "jupyter" / "kernels" / "probe-kernel"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Probe kernel",
                "language": "python",
                "env": {"PYTHONPATH": str(site)},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    folder = write_solution(tmp_path / "s", MINIMAL, "x = 1", "import reefnb\nreefnb.record('x', x)")
    record = reefnb.run(folder, kernel="probe-kernel")
    assert record["status"] == "ok"
    assert record["environment"]["kernel"] == "probe-kernel"
    assert record["environment"]["packages"]["only-in-kernel"] == "1.2.3"
    executed = nbformat.read(record["notebook"]["output_path"], as_version=4)
    assert executed.metadata["kernelspec"]["name"] == "probe-kernel"  # papermill would keep python3
    with pytest.raises(reefnb.ReefError, match="kernel 'no-such-kernel' not found"):
        reefnb.run(folder, kernel="no-such-kernel")


def test_git_provenance(tmp_path):
    git = pytest.importorskip("git", reason="GitPython needs the git executable")
    repo_dir = tmp_path / "repo"
    folder = write_solution(repo_dir / "sol", MINIMAL, "x = 1", "y = x")
    (repo_dir / ".gitignore").write_text("runs/\n")
    repo = git.Repo.init(repo_dir)
    repo.create_remote("origin", "https://someone:s3cret@example.org/lab/exp.git")
    repo.index.add([".gitignore", "sol/solution.json", "sol/main.ipynb"])
    repo.index.commit("experiment")
    record = reefnb.run(folder)
    provenance = record["provenance"]["git"]
    assert provenance["commit"] == repo.head.commit.hexsha
    assert provenance["dirty"] is False
    assert provenance["remote"] == "https://example.org/lab/exp.git"  # no credentials in records
    (folder / "main.ipynb").write_text((folder / "main.ipynb").read_text().replace("y = x", "y = 2 * x"))
    assert reefnb.run(folder)["provenance"]["git"]["dirty"] is True
    record_outside = reefnb.run(write_solution(tmp_path / "plain", MINIMAL, "x = 1", "y = x"))
    assert record_outside["provenance"]["git"] is None


def test_bare_notebook_runs_as_a_solution(tmp_path):
    notebook = write_notebook(
        tmp_path / "My Analysis.ipynb", "rate = 0.5", "import reefnb\nreefnb.record('twice', 2 * rate, unit='Hz')"
    )
    record = reefnb.run(notebook, parameters={"rate": "1.25"})
    assert record["status"] == "ok"
    assert record["solution"]["name"] == "my-analysis"
    assert record["metrics"]["twice"] == {"value": 2.5, "unit": "Hz", "cell_index": 1}


def test_ctrl_c_records_an_interrupted_run(tmp_path, reef_home):
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN, (
        "SIGINT ignored here, so in the reef started (kept across exec)"
    )
    in_the_cell = tmp_path / "in-the-slow-cell"  # the kernel writes it as the slow cell begins
    folder = write_solution(
        tmp_path / "s",
        MINIMAL,
        "x = 1",
        f"import pathlib, time\npathlib.Path({str(in_the_cell)!r}).touch()\ntime.sleep(60)",
    )
    env = {**os.environ, "REEF_HOME": str(reef_home)}
    process = subprocess.Popen(
        [REEF, "run", str(folder)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while (
        not in_the_cell.exists() and process.poll() is None and time.monotonic() < deadline
    ):  # until the slow cell runs
        time.sleep(0.05)
    if not in_the_cell.exists():
        process.kill()
        pytest.fail(f"the run never reached its slow cell: {process.communicate()[1]}")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    records = Store().records()
    assert [record["status"] for record in records] == ["interrupted"]
