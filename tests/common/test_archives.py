"""The one safe extractor (reefnb.common.archives) and the one atomic writer (reefnb.common.files)."""

from __future__ import annotations

import hashlib
import inspect
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from reefnb.common.archives import LIMITS, extract_archive
from reefnb.common.exceptions import ArchiveError
from reefnb.common.files import atomic_file, replaced_folder, write_text_atomically
from reefnb.provision.artifacts import unpack_archive
from reefnb.sharing.package import import_package


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def _tar(path: Path, members: dict[str, bytes], mode: int = 0o644) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            archive.addfile(info, io.BytesIO(content))
    return path


def test_packages_and_artifacts_have_one_set_of_limits():
    for importer in (import_package, unpack_archive):
        defaults = inspect.signature(importer).parameters
        assert defaults["max_members"].default == LIMITS.max_members == 100_000
        assert defaults["max_ratio"].default == LIMITS.max_ratio == 100


@pytest.mark.parametrize("maker", [_zip, _tar])
@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"README": b"a", "readme": b"b"}, "duplicate name"),  # one file on macOS and Windows
        ({"bell\x07.txt": b"x"}, "control character"),
        ({"a" * 256: b"x"}, "a name longer than 255 bytes"),
        ({"/".join(["d" * 200] * 6): b"x"}, "or 1024 in all"),
        ({"data": b"x", "data/inner": b"y"}, "both a file and a folder"),
    ],
)
def test_the_rules_hold_for_zip_and_tar(tmp_path, maker, members, reason):
    archive = maker(tmp_path / ("a.zip" if maker is _zip else "a.tar.gz"), members)
    with pytest.raises(ArchiveError, match=reason) as caught:
        extract_archive(archive, tmp_path / "out")
    assert str(archive) in str(caught.value) and "\n" not in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_files_and_folders_come_out_with_plain_modes(tmp_path):
    archive = _tar(tmp_path / "tool.tar.gz", {"bin/run": b"#!/bin/sh\n", "data/x.csv": b"1,2\n"}, mode=0o4777)
    extracted = extract_archive(archive, tmp_path / "kept")
    assert extracted.members == 2 and sorted(extracted.files) == ["bin/run", "data/x.csv"]
    assert extracted.sha256 == {
        name: hashlib.sha256(content).hexdigest()
        for name, content in (("bin/run", b"#!/bin/sh\n"), ("data/x.csv", b"1,2\n"))
    }
    assert (tmp_path / "kept" / "bin" / "run").stat().st_mode & 0o7777 == 0o755  # no setuid, no world-writable
    extract_archive(archive, tmp_path / "plain", executables=False)
    assert (tmp_path / "plain" / "bin" / "run").stat().st_mode & 0o7777 == 0o644


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = _zip(tmp_path / "big.zip", {"zeros.bin": bytes(1_000_000)})
    with pytest.raises(ArchiveError, match="exceeds 100x the archive's"):
        extract_archive(archive, tmp_path / "out", LIMITS)
    assert list((tmp_path / "out").iterdir()) == []


def test_an_atomic_file_is_all_or_nothing(tmp_path):
    path = tmp_path / "kept.json"
    write_text_atomically(path, "old\n")
    path.chmod(0o600)
    with pytest.raises(RuntimeError), atomic_file(path, text=True) as stream:
        stream.write("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old\n" and [entry.name for entry in tmp_path.iterdir()] == ["kept.json"]
    write_text_atomically(path, "new\r\nline\n")
    assert path.read_bytes() == b"new\r\nline\n" and path.stat().st_mode & 0o777 == 0o600  # the mode it had


def test_a_replaced_folder_is_the_old_one_or_the_whole_new_one(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), replaced_folder(target) as temporary:
        (temporary / "new.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert [entry.name for entry in tmp_path.iterdir()] == ["data"] and (target / "old.txt").is_file()
    with replaced_folder(target) as temporary:
        (temporary / "new.txt").write_text("new")
    assert [entry.name for entry in tmp_path.iterdir()] == ["data"] and [entry.name for entry in target.iterdir()] == [
        "new.txt"
    ]
