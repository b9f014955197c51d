"""The audit hook that records the files a run reads: on for ``reef run`` (what ``reef export`` packs), off
with ``--no-trace-files`` and for sweeps (nothing is installed in the kernel then), and complete beyond the
1,000 items at which IPython's text of a list stops."""

from __future__ import annotations

from conftest import write_notebook

import reefnb
from reefnb.frontends.cli import main

READER = (
    "import glob\ntotal = 0\nfor name in sorted(glob.glob('parts/*.txt')):\n    with open(name) as handle:\n"
    "        total += int(handle.read())\nimport reefnb\nreefnb.record('total', total)"
)
HOOKED = "import sys, reefnb\nreefnb.record('hooked', hasattr(sys, '_reef_files_read'))"


def reader(tmp_path, count: int):
    folder = tmp_path / "work"
    (folder / "parts").mkdir(parents=True)
    for index in range(count):
        (folder / "parts" / f"{index:05d}.txt").write_text(f"{index}\n")
    return write_notebook(folder / "reader.ipynb", "scale = 1", READER, HOOKED)


def test_every_file_read_is_recorded_past_a_thousand(tmp_path):
    notebook = reader(tmp_path, 1200)
    record = reefnb.run(notebook)
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["hooked"]["value"] is True
    assert len(record["files_read"]) == 1200 and record["files_read"][0] == "parts/00000.txt"


def test_no_trace_files_installs_nothing(tmp_path, capsys):
    notebook = reader(tmp_path, 3)
    assert main(["run", str(notebook), "--no-trace-files", "--json"]) == 0
    record = reefnb.results().iloc[-1]
    assert record["metric.hooked"] is False or record["metric.hooked"] == 0
    stored = reefnb.run(notebook, trace_files=False)
    assert "files_read" not in stored and stored["metrics"]["hooked"]["value"] is False


def test_sweeps_do_not_trace(tmp_path):
    notebook = reader(tmp_path, 3)
    records = reefnb.sweep(notebook, grid={"scale": [1, 2]}, jobs=1)
    assert len(records) == 2
    for record in records:
        assert record["status"] == "ok", record["error"]
        assert "files_read" not in record and record["metrics"]["hooked"]["value"] is False
