"""reefnb.attach: files a run produces are kept with the run (runs/RUN_ID/files/) and listed in its record."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import jsonschema
from helpers.cli import call
from helpers.solutions import write_solution

import reefnb
from reefnb.frontends.rendering import file_line
from reefnb.kernel import recording
from reefnb.runs.attachments import attached_folder, compare_files, keep_attachments, media_type

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
        {
            "name": "performance/mlperf_log_summary.txt",
            "size": summary.stat().st_size,
            "sha256": _sha256(summary),
            "media_type": "text/plain",
        },
        {
            "name": "detections.json",
            "size": detections.stat().st_size,
            "sha256": _sha256(detections),
            "media_type": "application/json",
        },
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
    assert (folder / "table.csv").is_file() and (
        folder / "table2.csv"
    ).is_file()  # copies: the solution's own files stay
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
    record = reefnb.default_store().records()[-1]
    lines = out.splitlines()
    assert f"  files: {folder.resolve() / 'runs' / record['run_id'] / 'files'}" in lines
    summary = next(entry for entry in record["files"] if entry["name"] == "performance/mlperf_log_summary.txt")
    assert f"    {file_line(summary)}" in lines  # the one rendering the magic and the sidebar show too
    assert (
        file_line(summary) == f"performance/mlperf_log_summary.txt  36 B  text/plain  sha256 {summary['sha256'][:12]}"
    )
    code, out, _ = call("run", str(folder), "--json")
    assert code == 0
    assert [entry["name"] for entry in json.loads(out)["files"]] == [
        "performance/mlperf_log_summary.txt",
        "detections.json",
    ]


def _links(page: str) -> dict[str, str]:
    """The attached-files table of a dashboard: file name -> href (None when listed without a link)."""
    table = page.split("<h2>Attached files", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>[^<]*</td><td>(?:<a href=\"([^\"]*)\">)?([^<]*)", table)
    return {name: href or None for href, name in rows}


def test_the_dashboard_links_the_attached_files_where_the_links_resolve_else_lists_them(tmp_path):
    folder = write_solution(tmp_path / "evidence", MINIMAL, "n = 2", WRITE_AND_ATTACH)
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    files = f"runs/{record['run_id']}/files"
    for page_path, prefix in (
        (folder / "dashboard.html", ""),
        (folder / "reports" / "dashboard.html", "../"),
        (tmp_path / "dashboard.html", "evidence/"),
    ):
        code, _, err = call("dashboard", "--solution", str(folder), "-o", str(page_path))
        assert code == 0, err
        page = page_path.read_text()
        links = _links(page)
        assert links == {
            "performance/mlperf_log_summary.txt": f"{prefix}{files}/performance/mlperf_log_summary.txt",
            "detections.json": f"{prefix}{files}/detections.json",
        }
        for entry in record["files"]:  # each link leads to the very file the record lists
            assert _sha256(page_path.parent / links[entry["name"]]) == entry["sha256"]
        assert str(tmp_path) not in page

    elsewhere = tmp_path / "shared" / "dashboard.html"  # a link would climb out of the solution: listed, not linked
    code, _, err = call("dashboard", "--solution", str(folder), "-o", str(elsewhere))
    assert code == 0, err
    page = elsewhere.read_text()
    assert _links(page) == {"performance/mlperf_log_summary.txt": None, "detections.json": None}
    for entry in record["files"]:
        assert entry["sha256"] in page
    assert str(tmp_path) not in page and "../" not in page.split("<h2>Attached files", 1)[1].split("</table>", 1)[0]


def test_outside_reef_attach_only_shows_and_run_folder_is_temporary(tmp_path, monkeypatch):
    monkeypatch.delenv("REEF_RUN_FOLDER", raising=False)
    target = tmp_path / "x.txt"
    target.write_text("x")
    assert reefnb.attach(target, name="kept/x.txt") == "kept/x.txt"
    folder = reefnb.run_folder()
    assert (
        folder.name.startswith("reef-run-")
        and folder.parent == Path(tempfile.gettempdir())
        and reefnb.run_folder() == folder
    )
    shutil.rmtree(folder)  # what atexit does when the kernel exits (this test's process lives on)
    recording._scratch.clear()


def _attached_run(tmp_path, extra: str = "") -> tuple:
    folder = write_solution(tmp_path / "evidence", MINIMAL, "n = 2", WRITE_AND_ATTACH + extra)
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    return folder, record


def test_export_packs_the_attached_files_byte_for_byte_and_no_files_leaves_them_out(tmp_path):
    import zipfile

    folder, record = _attached_run(tmp_path)
    code, out, err = call("export", str(folder), "-o", str(tmp_path / "with.reef.zip"))
    assert code == 0, err + out
    kept = folder / "runs" / record["run_id"] / "files"
    with zipfile.ZipFile(tmp_path / "with.reef.zip") as archive:
        for entry in record["files"]:
            member = archive.read(f"results/{record['run_id']}/files/{entry['name']}")
            assert (
                member == (kept / entry["name"]).read_bytes() and hashlib.sha256(member).hexdigest() == entry["sha256"]
            )
    imported = reefnb.import_package(
        tmp_path / "with.reef.zip", tmp_path / "imported"
    )  # nested results/ JSON is not taken for a record
    assert (imported / "results" / record["run_id"] / "files" / "detections.json").is_file()
    code, out, err = call("export", str(folder), "-o", str(tmp_path / "without.reef.zip"), "--no-files")
    assert code == 0, err + out
    with zipfile.ZipFile(tmp_path / "without.reef.zip") as archive:
        assert not [name for name in archive.namelist() if "/files/" in name]
        assert f"results/{record['run_id']}.json" in archive.namelist()


def test_export_leaves_out_an_attached_file_that_changed_or_names_this_machine(tmp_path):
    import zipfile

    folder, record = _attached_run(
        tmp_path, "import os\nopen(folder / 'where.txt', 'w').write(os.getcwd())\nreefnb.attach(folder / 'where.txt')\n"
    )
    kept = folder / "runs" / record["run_id"] / "files"
    (kept / "detections.json").write_text("[]")  # edited after the run: no longer the evidence the record lists
    code, out, err = call("export", str(folder), "-o", str(tmp_path / "p.reef.zip"))
    assert code == 0, err + out
    assert "attached file detections.json: changed since the run: left out" in out
    assert "attached file where.txt: holds an absolute path of this machine: left out" in out
    with zipfile.ZipFile(tmp_path / "p.reef.zip") as archive:
        names = [name for name in archive.namelist() if "/files/" in name]
    assert names == [f"results/{record['run_id']}/files/performance/mlperf_log_summary.txt"]


def test_reproduce_compares_the_attached_files_with_the_original_runs(tmp_path):
    folder, record = _attached_run(tmp_path)
    code, out, err = call("export", str(folder), "-o", str(tmp_path / "p.reef.zip"))
    assert code == 0, err + out
    report = reefnb.reproduce_solution(
        tmp_path / "p.reef.zip", trust=True, environment="native", folder=tmp_path / "again"
    )
    files = report["experiments"][0]["files"]
    assert files == {
        "same": ["detections.json", "performance/mlperf_log_summary.txt"],
        "different": [],
        "missing": [],
        "new": [],
    }
    from reefnb.frontends.reproduce_text import report_lines

    assert "  attached files: 2 same" in report_lines(report)


def test_results_push_with_files_shares_them_within_the_limit(tmp_path):
    import subprocess

    from reefnb.sharing import registry

    bare = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    registry.add_registry("shared", str(bare))
    folder, record = _attached_run(tmp_path)
    summary_size = next(entry["size"] for entry in record["files"] if entry["name"].startswith("performance/"))
    code, out, err = call("results", "push", "--with-files", "--files-limit", str(summary_size), "--json")
    assert code == 0, err + out
    result = json.loads(out)
    assert (
        result["files"] == 1
        and len(result["files_left_out"]) == 1
        and "over the size limit" in result["files_left_out"][0]
    )
    listed = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    assert f"files/{record['run_id']}/performance/mlperf_log_summary.txt" in listed.split()
    assert f"files/{record['run_id']}/detections.json" not in listed
    code, out, err = call("results", "push", "--json")  # without --with-files: records only
    assert code == 0 and "files" not in json.loads(out)


# The executor's side (keep_attachments), called directly: what is moved, what is copied, what is refused and why.
# Links, FIFOs and the size limit: tests/hostile/test_attach_paths.py.


def _run_layout(tmp_path) -> tuple[Path, Path]:
    """A solution folder with a data file, and its run folder holding the executed notebook and a log the run wrote."""
    solution = tmp_path / "solution"
    run = solution / "runs" / "r1"
    (run / "logs").mkdir(parents=True)
    (solution / "data.csv").write_text("a\n1\n")
    (run / "main.ipynb").write_text("{}")
    (run / "logs" / "out.log").write_text("done\n")
    return solution, run


def test_a_file_written_in_the_run_folder_is_moved_any_other_copied(tmp_path):
    solution, run = _run_layout(tmp_path)
    attached = [
        {"name": "out.log", "path": str(run / "logs" / "out.log")},
        {"name": "inputs/data.csv", "path": str(solution / "data.csv")},
        {"name": "notebook.ipynb", "path": str(run / "main.ipynb")},  # the executed notebook stays where it is
    ]
    kept = keep_attachments(attached, run, solution)
    assert "files_refused" not in kept
    assert [(entry["name"], entry["size"], entry["media_type"]) for entry in kept["files"]] == [
        ("out.log", 5, "text/plain"),
        ("inputs/data.csv", 4, "text/csv"),
        ("notebook.ipynb", 2, media_type("notebook.ipynb")),
    ]
    files = run / "files"
    assert not (run / "logs" / "out.log").exists() and (files / "out.log").read_text() == "done\n"
    assert (solution / "data.csv").exists() and (files / "inputs" / "data.csv").read_text() == "a\n1\n"
    assert (run / "main.ipynb").exists() and (files / "notebook.ipynb").read_text() == "{}"
    for entry in kept["files"]:
        assert entry["sha256"] == _sha256(files / entry["name"])


def test_what_cannot_be_kept_is_listed_with_its_reason_and_the_rest_kept(tmp_path):
    solution, run = _run_layout(tmp_path)
    attached = [
        {"name": "relative.txt", "path": "data.csv"},
        {"name": "gone.txt", "path": str(solution / "gone.txt")},
        {"name": "../escape.txt", "path": str(solution / "data.csv")},
        {"name": "data.csv", "path": str(solution / "data.csv")},
    ]
    kept = keep_attachments(attached, run, solution)
    assert [entry["name"] for entry in kept["files"]] == ["data.csv"]
    reasons = {entry["name"]: entry["reason"] for entry in kept["files_refused"]}
    assert reasons["relative.txt"] == "not an absolute path"
    assert reasons["gone.txt"].startswith("cannot be read: ")
    assert set(reasons) == {"relative.txt", "gone.txt", "../escape.txt"}
    assert not (run / "escape.txt").exists()
    assert keep_attachments([], run, solution) == {}


def test_media_types_are_guessed_from_the_name_with_text_for_logs():
    assert media_type("a.json") == "application/json" and media_type("run.log") == "text/plain"
    assert media_type("notes.md") in ("text/markdown", "text/plain")
    assert media_type("weights.unknownsuffix") == "application/octet-stream"


def test_a_rerun_s_files_compare_by_name_and_sha256_with_the_original_s(tmp_path):
    original = {"files": [{"name": "a", "sha256": "1"}, {"name": "b", "sha256": "2"}, {"name": "c", "sha256": "3"}]}
    rerun = {"files": [{"name": "a", "sha256": "1"}, {"name": "b", "sha256": "9"}, {"name": "d", "sha256": "4"}]}
    assert compare_files(original, rerun) == {"same": ["a"], "different": ["b"], "missing": ["c"], "new": ["d"]}
    assert compare_files({"files": []}, rerun) is None and compare_files(None, rerun) is None
    executed = tmp_path / "runs" / "r1" / "main.ipynb"
    assert attached_folder({"notebook": {"output_path": str(executed)}}) == executed.parent / "files"
    assert attached_folder({"notebook": {"output_path": "runs/r1/main.ipynb"}}) is None  # not on this machine
