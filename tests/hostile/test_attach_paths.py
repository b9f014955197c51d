"""Attacks on reefnb.attach: what a notebook names as evidence is kept only when it is a regular file of its
solution, within the size limit. The kernel refuses early (a clear ValueError); the executor checks again,
because a notebook can write the attach output itself or swap the file after attaching it."""

from __future__ import annotations

import os

import pytest
from helpers.solutions import write_solution

import reefnb

MINIMAL = {"name": "hostile-attach", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
# What attach displays, written by hand: the executor must not trust it.
FORGE = """
from IPython.display import display
display(
    {{"application/vnd.reef.attach+json": {{"path": {path!r}, "name": {name!r}}}, "text/plain": "forged"}}, raw=True
)
"""


def _run(tmp_path, *cells):
    folder = write_solution(tmp_path / "solution", MINIMAL, None, *cells)
    record = reefnb.run(folder)
    files = folder / "runs" / record["run_id"] / "files"
    return record, files


def _kept(files) -> list[str]:
    return sorted(str(path.relative_to(files)) for path in files.rglob("*")) if files.exists() else []


def test_a_link_to_etc_passwd_is_refused_by_attach_in_the_kernel(tmp_path):
    record, files = _run(
        tmp_path, "import os, reefnb\nos.symlink('/etc/passwd', 'passwd.txt')\nreefnb.attach('passwd.txt')"
    )
    assert record["status"] == "failed"
    assert record["error"]["name"] == "ValueError" and "outside the solution folder" in record["error"]["message"]
    assert "files" not in record and _kept(files) == []


def test_a_forged_attach_of_a_link_out_is_refused_by_the_executor(tmp_path):
    setup = "import os\nos.symlink('/etc/passwd', 'passwd.txt')"
    record, files = _run(
        tmp_path, setup, FORGE.format(path=str(tmp_path / "solution" / "passwd.txt"), name="passwd.txt")
    )
    assert record["status"] == "ok"
    assert "files" not in record and _kept(files) == []
    assert record["files_refused"][0]["name"] == "passwd.txt"
    assert "leaves the solution folder" in record["files_refused"][0]["reason"]


def test_a_file_outside_the_solution_is_refused_in_the_kernel_and_by_the_executor(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    record, files = _run(tmp_path, f"import reefnb\nreefnb.attach({str(outside)!r})")
    assert record["status"] == "failed" and "outside the solution folder" in record["error"]["message"]
    record, files = _run(tmp_path, FORGE.format(path=str(outside), name="outside.txt"))
    assert _kept(files) == [] and record["files_refused"][0]["name"] == "outside.txt"


def test_a_file_swapped_for_a_link_after_attaching_is_refused(tmp_path):
    cell = """
import os, reefnb
open("evidence.txt", "w").write("fine")
reefnb.attach("evidence.txt")
os.remove("evidence.txt")
os.symlink("/etc/passwd", "evidence.txt")
"""
    record, files = _run(tmp_path, cell)
    assert record["status"] == "ok"
    assert _kept(files) == [] and record["files_refused"][0]["name"] == "evidence.txt"


@pytest.mark.parametrize("name", ["../../escape.txt", "/tmp/escape.txt", ".git/config", "a/../../b"])
def test_a_forged_name_that_leaves_the_files_folder_is_refused(tmp_path, name):
    record, files = _run(
        tmp_path, "open('ok.txt', 'w').write('x')", FORGE.format(path=str(tmp_path / "solution" / "ok.txt"), name=name)
    )
    assert record["files_refused"][0]["name"] == name
    assert _kept(files) == []
    assert not (tmp_path / "solution" / "runs" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()


def test_a_fifo_does_not_block_the_executor(tmp_path):
    record, files = _run(
        tmp_path,
        "import os\nos.mkfifo('pipe.txt')",
        FORGE.format(path=str(tmp_path / "solution" / "pipe.txt"), name="pipe.txt"),
    )
    assert record["files_refused"] == [{"name": "pipe.txt", "reason": "not a regular file"}]
    assert _kept(files) == []


def test_files_over_the_limit_are_refused_whole_and_nothing_half_written(tmp_path, monkeypatch):
    monkeypatch.setenv("REEF_MAX_ATTACHED", "2.5K")
    cell = """
import reefnb
for name, size in (("small.bin", 1024), ("huge.bin", 4096), ("second.bin", 1024), ("third.bin", 1024)):
    (reefnb.run_folder() / name).write_bytes(b"x" * size)
    reefnb.attach(reefnb.run_folder() / name)
"""
    record, files = _run(tmp_path, cell)
    assert [entry["name"] for entry in record["files"]] == [
        "small.bin",
        "second.bin",
    ]  # 2 KiB kept; 4 KiB and a third 1 KiB over 2.5 KiB
    assert [entry["name"] for entry in record["files_refused"]] == ["huge.bin", "third.bin"]
    assert "REEF_MAX_ATTACHED" in record["files_refused"][0]["reason"]
    assert _kept(files) == ["second.bin", "small.bin"]


def test_the_default_limit_is_512_mib_and_a_bad_setting_is_one_line(monkeypatch):
    from reefnb.provision.artifacts import ArtifactError
    from reefnb.runs.attachments import attached_limit

    assert attached_limit() == 512 * 2**20
    monkeypatch.setenv("REEF_MAX_ATTACHED", "lots")
    with pytest.raises(ArtifactError, match="^REEF_MAX_ATTACHED: 'lots' is not a size"):
        attached_limit()
    assert os.environ["REEF_MAX_ATTACHED"] == "lots"
