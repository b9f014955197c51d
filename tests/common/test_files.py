"""The one atomic writer, JSON object files and the file lock (reefnb.common.files)."""

from __future__ import annotations

import fcntl
import json
import stat

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.common.files import (
    atomic_file,
    locked_file,
    read_json_object,
    replaced_folder,
    write_bytes_atomically,
    write_json_object,
    write_text_atomically,
)


def test_a_json_object_round_trips_and_a_missing_file_or_other_value_reads_as_empty(tmp_path):
    path = tmp_path / "deep" / "index.json"
    assert read_json_object(path) == {}
    write_json_object(path, {"b": 1, "a": [1, 2]})
    assert read_json_object(path) == {"b": 1, "a": [1, 2]}
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["a", "b"]  # sorted keys: stable diffs
    path.write_text("[1, 2]", encoding="utf-8")
    assert read_json_object(path) == {}


def test_invalid_json_is_one_reef_error_naming_the_file(tmp_path):
    path = tmp_path / "index.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReefError, match="invalid JSON") as raised:
        read_json_object(path)
    assert str(path) in str(raised.value)


def test_text_is_written_with_newline_line_ends_and_bytes_as_they_are(tmp_path):
    write_text_atomically(tmp_path / "a.txt", "one\ntwo\n")
    assert (tmp_path / "a.txt").read_bytes() == b"one\ntwo\n"
    write_bytes_atomically(tmp_path / "b.bin", b"\x00\r\n\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\r\n\xff"


def test_an_error_in_the_block_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "kept.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_file(path, text=True) as stream:
        stream.write("half of the new")
        raise RuntimeError("interrupted")
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["kept.txt"]


def test_the_new_file_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("echo old", encoding="utf-8")
    path.chmod(0o750)
    write_text_atomically(path, "echo new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert path.read_text(encoding="utf-8") == "echo new"


def test_a_replaced_folder_is_the_old_one_or_the_whole_new_one(tmp_path):
    target = tmp_path / "cache" / "artifact"
    target.mkdir(parents=True)
    (target / "old.txt").write_text("old", encoding="utf-8")
    with pytest.raises(ValueError), replaced_folder(target) as folder:
        (folder / "new.txt").write_text("new", encoding="utf-8")
        raise ValueError("failed half way")
    assert [entry.name for entry in target.iterdir()] == ["old.txt"]
    with replaced_folder(target) as folder:
        assert folder != target and folder.parent == target.parent and not any(folder.iterdir())
        (folder / "new.txt").write_text("new", encoding="utf-8")
    assert [entry.name for entry in target.iterdir()] == ["new.txt"]
    assert [entry.name for entry in target.parent.iterdir()] == ["artifact"]  # nothing moved aside is left


def test_the_lock_is_held_against_any_other_open_file_until_the_block_ends(tmp_path):
    path = tmp_path / "locks" / "registry.lock"

    def taken_elsewhere() -> bool:
        with open(path, "rb") as other:  # another open file: flock conflicts as with another process
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(other, fcntl.LOCK_UN)
            return False

    with locked_file(path):
        assert path.is_file()
        assert taken_elsewhere()
    assert not taken_elsewhere()


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    path = tmp_path / "a.lock"
    with pytest.raises(KeyError), locked_file(path):
        raise KeyError("x")
    with open(path, "rb") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise BlockingIOError if still held
