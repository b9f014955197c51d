"""What runs where the notebooks run (reefnb.runs.executors.worker): the solution shipped to a worker as a zip, and
the run's files landed back in the sweep's solution folder."""

from __future__ import annotations

import io
import zipfile

import pytest

from reefnb.common.exceptions import PathOutside
from reefnb.runs.executors.worker import bundle_solution, land_files


def test_the_bundle_holds_the_solution_without_runs_git_caches_or_links(tmp_path):
    folder = tmp_path / "solution"
    (folder / "data").mkdir(parents=True)
    (folder / "solution.json").write_text("{}", encoding="utf-8")
    (folder / "data" / "points.csv").write_text("a\n1\n", encoding="utf-8")
    for left_out in ("runs/20260101T000000Z-0/out.ipynb", ".git/HEAD", "data/__pycache__/x.pyc"):
        (folder / left_out).parent.mkdir(parents=True, exist_ok=True)
        (folder / left_out).write_text("x", encoding="utf-8")
    (tmp_path / "secret").write_text("outside", encoding="utf-8")
    (folder / "link").symlink_to(tmp_path / "secret")

    with zipfile.ZipFile(io.BytesIO(bundle_solution(folder))) as archive:
        assert sorted(archive.namelist()) == ["data/points.csv", "solution.json"]
        assert archive.read("data/points.csv") == b"a\n1\n"


def shipped(tmp_path, files: dict[str, bytes]) -> dict:
    """An outcome as a worker with its own copy of the solution returns it: the record and the run folder's files."""
    elsewhere = tmp_path / "worker-copy" / "runs" / "RUN-1"
    record = {
        "run_id": "RUN-1",
        "notebook": {"output_path": str(elsewhere / "main.ipynb")},
        "solution": {"path": str(tmp_path / "worker-copy")},
    }
    return {"record": record, "files": files}


def test_shipped_files_land_in_the_solution_folder_and_the_record_points_there(tmp_path):
    folder = tmp_path / "solution"
    folder.mkdir()
    record = land_files(folder, shipped(tmp_path, {"main.ipynb": b"{}", "files/plot.png": b"PNG"}))
    run_folder = folder / "runs" / "RUN-1"
    assert (run_folder / "main.ipynb").read_bytes() == b"{}"
    assert (run_folder / "files" / "plot.png").read_bytes() == b"PNG"
    assert record["notebook"]["output_path"] == str((run_folder / "main.ipynb").resolve())
    assert record["solution"]["path"] == str(folder.resolve())


def test_an_outcome_without_files_is_its_record_unchanged(tmp_path):
    outcome = shipped(tmp_path, {})
    before = repr(outcome["record"])
    assert land_files(tmp_path / "solution", outcome) is outcome["record"]
    assert repr(outcome["record"]) == before and not (tmp_path / "solution").exists()


def test_a_shipped_file_named_outside_its_run_folder_is_refused(tmp_path):
    folder = tmp_path / "solution"
    folder.mkdir()
    with pytest.raises(PathOutside):
        land_files(folder, shipped(tmp_path, {"../../escaped.txt": b"x"}))
    assert not (tmp_path / "escaped.txt").exists() and not (folder / "escaped.txt").exists()
