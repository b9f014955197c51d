"""A run leaves no process behind: children in their own session, double forks, scrubbed environments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.processes import alive, marker
from helpers.solutions import write_solution

import reefnb

MINIMAL = {"name": "escapees", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
REEF = str(Path(sys.executable).parent / "reef")


def escapes(mark: str, scrubbed: bool = False) -> list[str]:
    """Cells that leave processes behind: a new session, a double fork with setsid, optionally with `env -i`."""
    cells = [
        f"import subprocess\nsubprocess.Popen(['sleep', '{mark}'], start_new_session=True)",
        f"subprocess.run(['setsid', 'sh', '-c', 'sleep {mark} &'], check=True)",
    ]
    if scrubbed:  # no reef token in its environment, reparented to reef: claimed by `reef run`
        cells.append(f"subprocess.run(['setsid', 'sh', '-c', 'env -i sleep {mark} &'], check=True)")
    return cells


@pytest.fixture
def sweeper():
    """Kill whatever a failing test leaves (by the pids found, never by name)."""
    marks: list[str] = []
    yield marks
    for mark in marks:
        for process in alive(mark):
            process.kill()


def count_cell(mark: str, expected: int) -> str:
    """A last cell that records how many of the marked processes run (so no test passes vacuously), once the
    ``expected`` number have started (the double forks exec `sleep` a moment after their cell ends) or after 30 s."""
    return (
        "import time, psutil, reefnb\ndeadline = time.monotonic() + 30\nwhile True:\n"
        f"    marked = sum('{mark}' in (p.info['cmdline'] or []) for p in psutil.process_iter(['cmdline']))\n"
        f"    if marked >= {expected} or time.monotonic() > deadline:\n        break\n    time.sleep(0.05)\n"
        "reefnb.record('running', marked)"
    )


def test_reef_run_leaves_no_process(tmp_path, sweeper):
    mark = marker()
    sweeper.append(mark)
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", *escapes(mark, scrubbed=True), count_cell(mark, 3))
    result = subprocess.run([REEF, "run", str(folder), "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metrics"]["running"]["value"] == 3
    assert alive(mark) == []


def test_library_run_leaves_no_process(tmp_path, sweeper):
    mark = marker()
    sweeper.append(mark)
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", *escapes(mark), count_cell(mark, 2))
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["running"]["value"] == 2
    assert alive(mark) == []


def test_failed_and_timed_out_runs_leave_no_process(tmp_path, sweeper):
    mark = marker()
    sweeper.append(mark)
    failing = write_solution(tmp_path / "failing", MINIMAL, "x = 1", *escapes(mark), "raise RuntimeError('boom')")
    assert reefnb.run(failing)["status"] == "failed"
    assert alive(mark) == []
    slow = write_solution(tmp_path / "slow", MINIMAL, "x = 1", *escapes(mark), "import time\ntime.sleep(120)")
    assert reefnb.run(slow, timeout=4)["status"] == "timeout"
    assert alive(mark) == []


def test_unrelated_children_of_the_reef_process_survive(tmp_path, sweeper):
    """In a long-lived process (the server, a test session) only the run's own processes are ended."""
    mark, own = marker(), marker()
    sweeper += [mark, own]
    neighbour = subprocess.Popen(["sleep", own], start_new_session=True)
    try:
        folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", *escapes(mark))
        assert reefnb.run(folder)["status"] == "ok"
        assert alive(mark) == []
        assert neighbour.poll() is None and [process.pid for process in alive(own)] == [neighbour.pid]
    finally:
        neighbour.kill()
        neighbour.wait()


@pytest.mark.parametrize("jobs", [1, 2], ids=["in-process-with-kernel-started-ahead", "process-pool"])
def test_sweep_leaves_no_process(tmp_path, sweeper, jobs):
    mark = marker()
    sweeper.append(mark)
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", *escapes(mark))
    records = reefnb.sweep(folder, grid={"x": [1, 2, 3]}, jobs=jobs)
    # Ending one run's processes must not touch the kernel started ahead for the next run.
    assert [record["status"] for record in records] == ["ok", "ok", "ok"], [record["error"] for record in records]
    assert alive(mark) == []
