"""reefnb.attach: files a run produces are kept with the run (runs/RUN_ID/files/) and listed in its record."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from conftest import call, write_solution

import reefnb
from reefnb import recording
from reefnb.recording import ATTACH_MIME, check_attachment_name, read_attachments

MINIMAL = {"name": "evidence", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
RECORD_SCHEMA = reefnb.schema("run-record")

WRITE_AND_ATTACH = """
import json, reefnb
folder = reefnb.run_folder()
(folder / "logs").mkdir()
(folder / "logs" / "summary.txt").write_text("Result is : VALID\\n" * n)
(folder / "logs" / "detections.json").write_text(json.dumps([{"image_id": 1, "score": 0.5}]))
reefnb.attach(folder / "logs" / "summary.txt", name="performance/mlperf_log_summary.txt")
reefnb.attach(folder / "logs" / "detections.json")
reefnb.record("n", n)
"""


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_attached_files_are_kept_in_the_run_folder_and_listed_with_sha256(tmp_path):
    folder = write_solution(tmp_path / "evidence", MINIMAL, "n = 3", WRITE_AND_ATTACH)
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    jsonschema.Draft202012Validator(RECORD_SCHEMA).validate(record)
    files = folder / "runs" / record["run_id"] / "files"
    summary, detections = files / "performance" / "mlperf_log_summary.txt", files / "detections.json"
    assert summary.read_text() == "Result is : VALID\n" * 3
    assert record["files"] == [
        {"name": "performance/mlperf_log_summary.txt", "size": summary.stat().st_size, "sha256": _sha256(summary), "media_type": "text/plain"},
        {"name": "detections.json", "size": detections.stat().st_size, "sha256": _sha256(detections), "media_type": "application/json"},
    ]
    # written inside the run's own folder: moved, not kept twice
    assert not (folder / "runs" / record["run_id"] / "logs" / "summary.txt").exists()
    assert "files_refused" not in record
    assert reefnb.default_store().get(record["run_id"])["files"] == record["files"]


def test_a_file_of_the_solution_is_copied_and_the_same_name_attached_twice_keeps_the_last(tmp_path):
    cell = """
import reefnb
open("table.csv", "w").write("a,b\\n1,2\\n")
reefnb.attach("table.csv", name="table.csv")
open("table2.csv", "w").write("a,b\\n3,4\\n")
reefnb.attach("table2.csv", name="table.csv")
"""
    folder = write_solution(tmp_path / "evidence", MINIMAL, None, cell)
    record = reefnb.run(folder)
    kept = folder / "runs" / record["run_id"] / "files" / "table.csv"
    assert kept.read_text() == "a,b\n3,4\n"
    assert (folder / "table.csv").is_file() and (folder / "table2.csv").is_file()  # copies: the solution's own files stay
    assert [entry["name"] for entry in record["files"]] == ["table.csv"]
    assert record["files"][0]["media_type"] == "text/csv"


def test_a_failed_run_keeps_what_it_attached_before_the_failure(tmp_path):
    cell = """
import reefnb
path = reefnb.run_folder() / "partial.log"
path.write_text("step 1 done\\n")
reefnb.attach(path)
raise RuntimeError("step 2 failed")
"""
    folder = write_solution(tmp_path / "evidence", MINIMAL, None, cell)
    record = reefnb.run(folder)
    assert record["status"] == "failed"
    assert [entry["name"] for entry in record["files"]] == ["partial.log"]
    assert (folder / "runs" / record["run_id"] / "files" / "partial.log").read_text() == "step 1 done\n"


def test_the_cli_summary_lists_the_attached_files(tmp_path):
    folder = write_solution(tmp_path / "evidence", MINIMAL, "n = 2", WRITE_AND_ATTACH)
    code, out, err = call("run", str(folder))
    assert code == 0, err
    assert "performance/mlperf_log_summary.txt" in out and "detections.json" in out
    code, out, _ = call("run", str(folder), "--json")
    assert code == 0
    assert [entry["name"] for entry in json.loads(out)["files"]] == ["performance/mlperf_log_summary.txt", "detections.json"]


def test_outside_reef_attach_only_shows_and_run_folder_is_temporary(tmp_path, monkeypatch):
    monkeypatch.delenv("REEF_RUN_FOLDER", raising=False)
    target = tmp_path / "x.txt"
    target.write_text("x")
    assert reefnb.attach(target, name="kept/x.txt") == "kept/x.txt"
    folder = reefnb.run_folder()
    assert folder.name.startswith("reef-run-") and folder.parent == Path(tempfile.gettempdir()) and reefnb.run_folder() == folder
    shutil.rmtree(folder)  # what atexit does when the kernel exits (this test's process lives on)
    recording._scratch.clear()


@pytest.mark.parametrize("name", ["", "../x", "/etc/passwd", "a//b", ".hidden", "a/../b", "a\\b", "x" * 300])
def test_bad_names_are_refused_in_the_kernel(name):
    with pytest.raises(ValueError, match="attach:"):
        check_attachment_name(name)


def test_read_attachments_ignores_malformed_outputs():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={ATTACH_MIME: {"path": 3, "name": "a"}}),
                    nbformat.v4.new_output("display_data", data={ATTACH_MIME: "nonsense"}),
                    nbformat.v4.new_output("display_data", data={ATTACH_MIME: {"path": "/x/a", "name": "a"}})]
    notebook.cells.append(cell)
    assert read_attachments(notebook) == [{"path": "/x/a", "name": "a", "cell_index": 0}]
