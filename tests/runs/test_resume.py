"""Resuming a failed run from cell checkpoints: the slow cells are not executed again."""

from __future__ import annotations

import io
import json

import nbformat
import pytest
from helpers.solutions import write_solution

import reefnb
from reefnb.frontends.cli import main
from reefnb.runs.checkpoints import checkpoint_folder

MANIFEST = {"name": "slow", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
SLOW = 1.0


def slow_solution(tmp_path, last_cell: str):
    """The slow cell appends a line to ``tmp_path / "slow-ran"`` each time it executes (the evidence, not the clock)."""
    ran = tmp_path / "slow-ran"
    cells = [
        f"import time\nimport numpy as np\nwith open({str(ran)!r}, 'a') as marker_file:\n"
        "    marker_file.write('ran\\n')\ndel marker_file\n"
        f"time.sleep({SLOW})\ndata = np.arange(n) * 2.0",
        "import reefnb\ntotal = float(data.sum())\nreefnb.record('total', total)\ndef twice(x):\n    return 2 * x",
        last_cell,
    ]
    return write_solution(tmp_path / "slow", MANIFEST, "n = 10", *cells)


def slow_runs(tmp_path) -> int:
    """How many times the slow cell has executed."""
    ran = tmp_path / "slow-ran"
    return len(ran.read_text().splitlines()) if ran.exists() else 0


def test_killed_in_its_last_cell_resumes_without_the_slow_cell(tmp_path):
    marker = tmp_path / "die-once"
    last = (
        f"import os, pathlib\nif not pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n    os._exit(1)\nreefnb.record('final', twice(total) + len(data))"
    )
    folder = slow_solution(tmp_path, last)
    failed = reefnb.run(folder, parameters={"n": 100}, checkpoint=True)
    assert failed["status"] == "killed" and failed["error"]["cell_index"] == 3
    assert list(checkpoint_folder().glob("*.pkl"))  # kept for the resume

    out, err = io.StringIO(), io.StringIO()
    assert main(["run", "--resume", failed["run_id"], "--json"], out=out, err=err) == 0, err.getvalue()

    resumed = json.loads(out.getvalue())
    assert resumed["status"] == "ok"
    assert resumed["resumed_from"]["run_id"] == failed["run_id"]
    assert resumed["resumed_from"]["replayed_cells"] == 4  # parameters, injected parameters, slow, middle
    assert slow_runs(tmp_path) == 1  # the slow cell was not executed again
    assert resumed["parameters"] == {"n": 100}

    marker.unlink()  # a clean run from scratch (dies, then a clean one with the marker in place)
    marker.touch()
    clean = reefnb.run(folder, parameters={"n": 100})
    assert clean["status"] == "ok" and slow_runs(tmp_path) == 2
    values = {name: metric["value"] for name, metric in resumed["metrics"].items()}
    assert (
        values
        == {name: metric["value"] for name, metric in clean["metrics"].items()}
        == {"total": 9900.0, "final": 19900.0}
    )
    assert not list(checkpoint_folder().glob("*.pkl"))  # an ok run leaves no checkpoints behind


def test_resume_falls_back_to_a_full_run_without_checkpoints(tmp_path):
    folder = slow_solution(tmp_path, "raise RuntimeError('late failure')")
    failed = reefnb.run(folder)  # no --checkpoint
    assert failed["status"] == "failed"
    again = reefnb.resume(failed["run_id"])
    assert again["resumed_from"]["replayed_cells"] == 0 and slow_runs(tmp_path) == 2
    assert again["status"] == "failed" and again["error"]["message"] == "late failure"


def test_resume_refuses_what_cannot_be_resumed(hello):
    ok = reefnb.run(hello, parameters={"samples": 10})
    with pytest.raises(reefnb.ReefError, match="ended ok: there is nothing to resume"):
        reefnb.resume(ok["run_id"])
    with pytest.raises(reefnb.ReefError, match="no run 'nope'"):
        reefnb.resume("nope")
    err = io.StringIO()
    assert main(["run", str(hello), "--resume", ok["run_id"]], out=io.StringIO(), err=err) == 2
    assert "takes its solution and parameters from that run" in err.getvalue()


def test_resume_restores_past_cells_that_do_not_execute(tmp_path):
    """A markdown and an empty code cell between the slow cell and the failure (nbclient runs neither, so no
    on_cell_executed hook checkpoints them): the resume still restores the slow cell's state instead of running it."""
    marker = tmp_path / "failed-once"
    last = (
        f"import pathlib\nif not pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n    raise RuntimeError('late failure')\n"
        "reefnb.record('final', twice(total))"
    )
    folder = slow_solution(tmp_path, last)
    notebook = nbformat.read(folder / "main.ipynb", as_version=4)
    notebook.cells[-1:-1] = [nbformat.v4.new_markdown_cell("## The last step"), nbformat.v4.new_code_cell("")]
    nbformat.write(notebook, folder / "main.ipynb")
    failed = reefnb.run(folder, parameters={"n": 100}, checkpoint=True)
    assert (
        failed["status"] == "failed" and failed["error"]["cell_index"] == 5
    )  # parameters, slow, middle, markdown, empty, last

    resumed = reefnb.resume(failed["run_id"])
    assert resumed["status"] == "ok", resumed["error"]
    assert resumed["resumed_from"]["replayed_cells"] >= 4  # parameters, injected parameters, slow, middle
    assert slow_runs(tmp_path) == 1  # restored, not executed again
    assert {name: metric["value"] for name, metric in resumed["metrics"].items()} == {"total": 9900.0, "final": 19800.0}
