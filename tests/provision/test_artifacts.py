"""Artifacts: verified, resumable, mirrored downloads from a real HTTP server on 127.0.0.1, safe
unpacking of real tar and zip archives, fallbacks and generate entry points."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from helpers.artifacts import ArtifactServer, sha
from helpers.servers import serving

from reefnb.common.exceptions import ReefError
from reefnb.provision.artifacts import (
    ArtifactError,
    ArtifactUnavailable,
    artifact_status,
    fetch_artifact,
    file_sha256,
    tree_sha256,
    unpack_archive,
)
from reefnb.solution.checks import artifact_problems

# ------------------------------------------------------------------------------------------------
# A local HTTP server: serves bytes the test gives it, honours Range, can cut responses, logs requests


@pytest.fixture
def server():
    with serving(ArtifactServer()) as instance:
        yield instance


# ------------------------------------------------------------------------------------------------
# Test data, made here


def coco_files() -> dict[str, bytes]:
    """A tiny pycocotools-style dataset: instances JSON plus an image file."""
    instances = {
        "info": {"description": "reef test subset", "version": "1.0"},
        "images": [{"id": 139, "file_name": "000000000139.jpg", "width": 640, "height": 426}],
        "annotations": [
            {
                "id": 1,
                "image_id": 139,
                "category_id": 1,
                "bbox": [412.8, 157.61, 53.05, 138.01],
                "area": 2913.1,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    return {
        "coco-mini/annotations/instances_val2017.json": json.dumps(instances).encode(),
        "coco-mini/val2017/000000000139.jpg": os.urandom(3000),
        "coco-mini/LICENSE.txt": b"CC BY 4.0\n",
    }


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def make_zip(path: Path, files: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return path.read_bytes()


def evil_tar(path: Path, kind: str) -> Path:
    """A .tar.gz with one normal file and one member of the given unsafe ``kind``."""
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("good.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        data = b"pwned\n"
        if kind == "dotdot":
            info = tarfile.TarInfo("data/../../evil.txt")
        elif kind == "absolute":
            info = tarfile.TarInfo(str(path.parent / "absolute-evil.txt"))
        elif kind == "symlink":
            info = tarfile.TarInfo("passwd")
            info.type, info.linkname, data = tarfile.SYMTYPE, "/etc/passwd", b""
        elif kind == "hardlink":
            info = tarfile.TarInfo("passwd")
            info.type, info.linkname, data = tarfile.LNKTYPE, "good.txt", b""
        elif kind == "fifo":
            info = tarfile.TarInfo("pipe")
            info.type, data = tarfile.FIFOTYPE, b""
        elif kind == "duplicate":
            info = tarfile.TarInfo("good.txt")
        else:
            raise AssertionError(kind)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def evil_zip(path: Path, kind: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we want
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
            zipped.writestr("good.txt", b"ok")
            if kind == "dotdot":
                zipped.writestr(zipfile.ZipInfo("../evil.txt"), b"pwned\n")
            elif kind == "absolute":
                zipped.writestr(zipfile.ZipInfo(str(path.parent / "absolute-evil.txt")), b"pwned\n")
            elif kind == "symlink":
                info = zipfile.ZipInfo("passwd")
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zipped.writestr(info, "/etc/passwd")
            elif kind == "duplicate":
                zipped.writestr("good.txt", b"again")
            elif kind == "bomb":
                zipped.writestr("zeros.bin", bytes(4_000_000))
            else:
                raise AssertionError(kind)
    return path


def write_generators(folder: Path, module: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(
        "import json\n"
        "CALLS = []\n"
        "def labels(target):\n"
        "    CALLS.append(str(target))\n"
        "    (target / 'labels.json').write_text(json.dumps({'categories': [{'id': 1, 'name': 'person'}]}))\n"
        "    (target / 'weights').mkdir()\n"
        "    (target / 'weights' / 'w.bin').write_bytes(bytes(range(256)))\n"
        "def nothing(target):\n"
        "    pass\n"
        "def broken(target):\n"
        "    raise RuntimeError('no GPU here')\n",
        encoding="utf-8",
    )


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


# ------------------------------------------------------------------------------------------------
# Downloads


def test_download_verifies_caches_and_reuses_without_a_request(server, reef_home):
    data = os.urandom(300_000)
    url = server.serve("data/blob.bin", data)
    artifacts = {"blob": {"kind": "dataset", "url": url, "sha256": sha(data), "size": len(data), "license": "CC0-1.0"}}
    seen: list[tuple[int, int | None]] = []

    result = fetch_artifact("blob", artifacts, progress=lambda done, total: seen.append((done, total)))

    assert result.source == "download" and result.url == url
    assert result.path == reef_home / "cache" / "sha256" / sha(data) / "blob.bin"
    assert result.path.read_bytes() == data and result.sha256 == sha(data) and result.size == len(data)
    assert seen[-1] == (len(data), len(data)) and [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert not list(result.path.parent.glob("*.part"))
    assert len(server.requests) == 1

    again = fetch_artifact("blob", artifacts)
    assert again.source == "cache" and again.path == result.path and again.url is None
    assert len(server.requests) == 1, "a cached, verified file needs no request"
    assert again.as_dict()["path"] == str(result.path)


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_mismatch_is_refused_and_leaves_nothing_in_the_cache(server, reef_home, wrong):
    data = os.urandom(50_000)
    url = server.serve("model.bin", data)
    spec = {"url": url, "sha256": sha(data), "size": len(data)}
    spec[wrong] = sha(b"something else") if wrong == "sha256" else len(data) - 1

    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("model", {"model": spec})

    message = str(caught.value)
    assert "'model'" in message and url in message and "\n" not in message
    assert f"{wrong} mismatch" in message and "expected" in message
    assert not isinstance(caught.value, ArtifactUnavailable)
    assert files_under(reef_home / "cache" / "sha256") == []


def test_a_download_cut_every_time_is_resumed_then_given_up_leaving_no_part(server, reef_home):
    data = os.urandom(400_000)
    url = server.serve("big.bin", data)
    artifacts = {"big": {"url": url, "sha256": sha(data), "size": len(data)}}
    server.cut["big.bin"] = 10**6  # every response hangs up halfway

    with pytest.raises(ArtifactUnavailable, match="interrupted"):
        fetch_artifact("big", artifacts)

    assert server.ranges("big.bin") == [None, "bytes=200000-", "bytes=300000-", "bytes=350000-"]
    assert files_under(reef_home / "cache" / "sha256") == []


def test_a_part_left_by_a_killed_process_is_resumed_with_a_range_request(server, reef_home):
    data = os.urandom(400_000)
    url = server.serve("big.bin", data)
    folder = reef_home / "cache" / "sha256" / sha(data)
    folder.mkdir(parents=True)
    part = folder / "big.bin.part"
    part.write_bytes(data[:123_456])

    result = fetch_artifact("big", {"big": {"url": url, "sha256": sha(data), "size": len(data)}})

    assert server.ranges("big.bin") == ["bytes=123456-"]
    assert result.source == "download" and result.path.read_bytes() == data
    assert not part.exists()


def test_a_server_that_ignores_ranges_restarts_from_zero(server, reef_home):
    data = os.urandom(100_000)
    url = server.serve("plain.bin", data)
    folder = reef_home / "cache" / "sha256" / sha(data)
    folder.mkdir(parents=True)
    (folder / "other-mirror-name.bin.part").write_bytes(b"\0" * 1_000)  # left by another mirror, and wrong
    server.honour_ranges = False

    result = fetch_artifact("plain", {"plain": {"url": url, "sha256": sha(data)}})

    assert server.ranges("plain.bin") == ["bytes=1000-"]
    assert result.path.read_bytes() == data and sorted(path.name for path in folder.iterdir()) == ["plain.bin"]


def test_a_part_as_long_as_the_file_gets_416_and_restarts(server, reef_home):
    data = os.urandom(10_000)
    url = server.serve("full.bin", data)
    folder = reef_home / "cache" / "sha256" / sha(data)
    folder.mkdir(parents=True)
    (folder / "full.bin.part").write_bytes(os.urandom(len(data)))

    result = fetch_artifact("full", {"full": {"url": url, "sha256": sha(data)}})

    assert server.ranges("full.bin") == [f"bytes={len(data)}-", None]
    assert result.path.read_bytes() == data


def test_a_cut_is_resumed_within_the_same_call(server):
    data = os.urandom(200_000)
    url = server.serve("cut-once.bin", data)
    server.cut["cut-once.bin"] = 1

    result = fetch_artifact("blob", {"blob": {"url": url, "sha256": sha(data)}})

    assert server.ranges("cut-once.bin") == [None, f"bytes={len(data) // 2}-"]
    assert result.path.read_bytes() == data


def test_mirrors_are_tried_in_order(server):
    data = os.urandom(10_000)
    good = server.serve("mirror-b/file.bin", data)
    missing = server.url("mirror-a/file.bin")

    result = fetch_artifact("file", {"file": {"urls": [missing, good], "sha256": sha(data)}})

    assert result.url == good and result.path.read_bytes() == data
    assert [request["path"] for request in server.requests] == ["mirror-a/file.bin", "mirror-b/file.bin"]


def test_every_mirror_failing_names_each_url(server):
    urls = [server.url("a.bin"), server.url("b.bin")]
    with pytest.raises(ArtifactUnavailable) as caught:
        fetch_artifact("gone", {"gone": {"urls": urls, "sha256": sha(b"x")}})
    message = str(caught.value)
    assert "'gone'" in message and urls[0] in message and urls[1] in message and "404" in message


def test_offline_uses_the_fallback_without_touching_the_network(server, tmp_path):
    small = os.urandom(2_000)
    local = tmp_path / "weights-small.bin"
    local.write_bytes(small)
    big = os.urandom(20_000)
    artifacts = {
        "weights": {
            "kind": "model",
            "url": server.serve("weights.bin", big),
            "sha256": sha(big),
            "fallback": "weights-small",
        },
        "weights-small": {"kind": "model", "url": local.as_uri(), "sha256": sha(small)},
    }
    assert artifact_status("weights", artifacts, offline=True)["status"] == "fallback"

    result = fetch_artifact("weights", artifacts, offline=True)

    assert result.name == "weights" and result.source == "fallback:weights-small"
    assert result.path.read_bytes() == small and result.sha256 == sha(small)
    assert server.requests == []

    online = fetch_artifact("weights", artifacts)
    assert online.source == "download" and online.path.read_bytes() == big


def test_unreachable_url_falls_back_and_offline_without_fallback_fails(server):
    data = b"labels\n"
    artifacts = {
        "primary": {"url": server.url("gone.bin"), "sha256": sha(data), "fallback": "mirror"},
        "mirror": {"url": server.serve("labels.txt", data), "sha256": sha(data)},
    }
    result = fetch_artifact("primary", artifacts)
    assert result.source == "fallback:mirror" and result.path.read_bytes() == data

    with pytest.raises(ArtifactUnavailable, match="offline"):
        fetch_artifact("lonely", {"lonely": {"url": server.url("x.bin"), "sha256": sha(b"not cached")}}, offline=True)


def test_fallback_cycles_and_unknown_names_are_refused_before_any_request(server):
    artifacts = {
        "a": {"url": server.url("a"), "sha256": sha(b"a"), "fallback": "b"},
        "b": {"url": server.url("b"), "sha256": sha(b"b"), "fallback": "a"},
    }
    with pytest.raises(ArtifactError, match=r"fallback cycle: a -> b -> a"):
        fetch_artifact("a", artifacts)
    with pytest.raises(ArtifactError, match="no such artifact"):
        fetch_artifact("c", artifacts)
    assert server.requests == []
    problems = artifact_problems(
        {**artifacts, "c": {"url": "ftp://example.org/c", "sha256": sha(b"c")}, "d": {"url": "https://x.org/d"}}
    )
    pointers = {pointer for pointer, _ in problems}
    assert {"/artifacts/a/fallback", "/artifacts/b/fallback", "/artifacts/c/url", "/artifacts/d/sha256"} <= pointers


def test_a_download_without_sha256_or_with_another_scheme_is_refused(server, tmp_path):
    url = server.serve("unverified.bin", b"data")
    manifest = tmp_path / "solution.json"
    with pytest.raises(ArtifactError, match="must be verified") as caught:
        fetch_artifact("raw", {"raw": {"url": url}}, manifest_path=manifest)
    assert str(caught.value).startswith(f"{manifest}: /artifacts/raw/sha256: ")
    with pytest.raises(ArtifactError, match="only http, https and file"):
        fetch_artifact("ftp", {"ftp": {"url": "ftp://example.org/x.bin", "sha256": sha(b"x")}})
    assert server.requests == []
    assert issubclass(ArtifactError, ReefError)


def test_relative_file_url_is_read_from_the_solution_folder(tmp_path):
    solution = tmp_path / "solution"
    (solution / "data").mkdir(parents=True)
    data = os.urandom(5_000)
    (solution / "data" / "blob.bin").write_bytes(data)
    artifacts = {"blob": {"url": "file:data/blob.bin", "sha256": sha(data)}}

    result = fetch_artifact("blob", artifacts, offline=True, manifest_path=solution / "solution.json")

    assert result.path.read_bytes() == data and result.url == (solution / "data" / "blob.bin").as_uri()


# ------------------------------------------------------------------------------------------------
# Archives


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_archive_is_downloaded_unpacked_and_reused(server, tmp_path, kind):
    files = coco_files()
    archive = tmp_path / f"coco-mini.{kind}"
    data = make_tar(archive, files) if kind == "tar.gz" else make_zip(archive, files)
    artifacts = {
        "coco": {
            "kind": "dataset",
            "url": server.serve(archive.name, data),
            "sha256": sha(data),
            "size": len(data),
            "unpack": True,
        }
    }

    result = fetch_artifact("coco", artifacts)

    assert (
        result.path.is_dir()
        and result.path.name == "coco-mini"
        and result.sha256 == sha(data)
        and result.size == len(data)
    )
    for name, content in files.items():
        assert (result.path / name).read_bytes() == content
    instances = json.loads((result.path / "coco-mini/annotations/instances_val2017.json").read_text())
    assert {"images", "annotations", "categories"} <= set(instances)
    assert sorted(path.name for path in result.path.parent.iterdir()) == sorted([archive.name, "coco-mini"])
    assert artifact_status("coco", artifacts)["status"] == "cached"

    again = fetch_artifact("coco", artifacts)
    assert again.source == "cache" and again.path == result.path
    assert len(server.requests) == 1


def test_unpack_is_idempotent_and_reextracts_a_different_archive(tmp_path):
    archive = tmp_path / "data.tar.xz"
    make_tar(archive, {"a.txt": b"one"}, mode="w:xz")
    target = tmp_path / "out" / "data"

    assert unpack_archive(archive, target) == target
    marker = target / ".reef-unpacked"
    first = marker.stat().st_mtime_ns
    assert unpack_archive(archive, target) == target and marker.stat().st_mtime_ns == first

    make_tar(archive, {"b.txt": b"two"}, mode="w:xz")
    unpack_archive(archive, target)
    assert sorted(path.name for path in target.iterdir()) == [".reef-unpacked", "b.txt"]
    assert json.loads(marker.read_text())["sha256"] == file_sha256(archive)
    assert sorted(path.name for path in target.parent.iterdir()) == ["data"]


def test_unpack_refuses_a_folder_it_did_not_make(tmp_path):
    archive = tmp_path / "data.zip"
    make_zip(archive, {"a.txt": b"one"})
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="was not unpacked by reef"):
        unpack_archive(archive, target)
    assert (target / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("maker", "kind", "words"),
    [
        (evil_tar, "dotdot", "'..'"),
        (evil_tar, "absolute", "absolute path"),
        (evil_tar, "symlink", "symbolic link"),
        (evil_tar, "hardlink", "hard link"),
        (evil_tar, "fifo", "special file"),
        (evil_tar, "duplicate", "duplicate name"),
        (evil_zip, "dotdot", "'..'"),
        (evil_zip, "absolute", "absolute path"),
        (evil_zip, "symlink", "symbolic link"),
        (evil_zip, "duplicate", "duplicate name"),
        (evil_zip, "bomb", "zip bomb"),
    ],
)
def test_unsafe_archives_are_refused_and_nothing_is_extracted(tmp_path, maker, kind, words):
    archives = tmp_path / "archives"
    archives.mkdir()
    archive = maker(archives / ("evil.tar.gz" if maker is evil_tar else "evil.zip"), kind)
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(ArtifactError) as caught:
        unpack_archive(archive, out / "target")

    message = str(caught.value)
    assert words in message and str(archive) in message and "member '" in message and "\n" not in message
    assert list(out.iterdir()) == [], "nothing half-extracted, no temporary folder left"
    assert not (tmp_path / "evil.txt").exists() and not (archives / "absolute-evil.txt").exists()


def test_too_many_members_and_a_tar_bomb_are_refused(tmp_path):
    archive = tmp_path / "many.tar.gz"
    make_tar(archive, {f"f{index}.txt": b"x" for index in range(5)})
    with pytest.raises(ArtifactError, match="more than 4 members"):
        unpack_archive(archive, tmp_path / "many", max_members=4)
    bomb = tmp_path / "bomb.tar.bz2"
    make_tar(bomb, {"zeros.bin": bytes(3_000_000)}, mode="w:bz2")
    with pytest.raises(ArtifactError, match="zip bomb"):
        unpack_archive(bomb, tmp_path / "bomb")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bomb.tar.bz2", "many.tar.gz"]


def test_a_refused_downloaded_archive_is_an_error_not_a_fallback(server, tmp_path):
    archive = evil_tar(tmp_path / "evil.tar.gz", "dotdot")
    data = archive.read_bytes()
    artifacts = {
        "evil": {"url": server.serve("evil.tar.gz", data), "sha256": sha(data), "unpack": True, "fallback": "other"},
        "other": {"url": server.serve("other.bin", b"other"), "sha256": sha(b"other")},
    }
    with pytest.raises(ArtifactError, match="'..'"):
        fetch_artifact("evil", artifacts)
    assert server.ranges("other.bin") == []


# ------------------------------------------------------------------------------------------------
# Generate entry points


def test_generate_entry_point_makes_verifies_and_reuses(tmp_path, monkeypatch, reef_home):
    write_generators(tmp_path / "generators", "reef_gen_ok")
    monkeypatch.syspath_prepend(str(tmp_path / "generators"))
    artifacts = {"labels": {"kind": "other", "generate": "reef_gen_ok:labels"}}
    assert artifact_status("labels", artifacts)["status"] == "generate"

    result = fetch_artifact("labels", artifacts)

    assert result.source == "generate" and result.url is None
    assert result.path == reef_home / "cache" / "generated" / "labels"
    assert json.loads((result.path / "labels.json").read_text())["categories"][0]["name"] == "person"
    assert (result.path / "weights" / "w.bin").read_bytes() == bytes(range(256))
    assert result.sha256 == tree_sha256(result.path) and result.size == 256 + len(
        (result.path / "labels.json").read_bytes()
    )
    module = sys.modules["reef_gen_ok"]
    assert module.CALLS == [str(result.path)]

    pinned = {"labels": {**artifacts["labels"], "sha256": result.sha256, "size": result.size}}
    again = fetch_artifact("labels", pinned)
    assert again.source == "cache" and again.sha256 == result.sha256 and module.CALLS == [str(result.path)]
    assert artifact_status("labels", pinned)["status"] == "cached"

    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        fetch_artifact("labels", {"labels": {**artifacts["labels"], "sha256": sha(b"other")}})
    assert not (reef_home / "cache" / "generated" / "labels").exists()


def test_generate_is_the_last_resort_and_is_imported_from_the_solution_folder(server, tmp_path, monkeypatch):
    solution = tmp_path / "solution"
    write_generators(solution, "reef_gen_solution")
    monkeypatch.delitem(sys.modules, "reef_gen_solution", raising=False)
    artifacts = {
        "labels": {
            "url": server.url("labels.tar.gz"),
            "sha256": sha(b"x"),
            "unpack": True,
            "generate": "reef_gen_solution:labels",
        }
    }

    result = fetch_artifact("labels", artifacts, manifest_path=solution / "solution.json")

    assert result.source == "generate" and (result.path / "labels.json").is_file()
    assert server.ranges("labels.tar.gz") == [None]
    assert str(solution) not in sys.path


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("reef_gen_bad:nothing", "made no files"),
        ("reef_gen_bad:broken", "RuntimeError: no GPU here"),
        ("reef_gen_bad:missing", "cannot load"),
        ("no_such_module_here:make", "cannot load"),
    ],
)
def test_generate_failures_are_one_line_errors(tmp_path, monkeypatch, reef_home, entry, words):
    write_generators(tmp_path / "generators", "reef_gen_bad")
    monkeypatch.syspath_prepend(str(tmp_path / "generators"))
    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("made", {"made": {"generate": entry}})
    assert words in str(caught.value) and "'made'" in str(caught.value) and "\n" not in str(caught.value)
    assert files_under(reef_home / "cache" / "generated") == []
