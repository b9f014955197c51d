"""Hostile downloads (issue 15, case 3): sources that never end, lie about their length, stall,
redirect elsewhere, or are not files at all. Each is refused with one line, writes at most its limit
and leaves no ``.part`` (nor anything else) in the cache. Servers run on 127.0.0.1, started here."""

from __future__ import annotations

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers.servers import serving

from reefnb.common.exceptions import ReefError
from reefnb.provision.artifacts import ArtifactError, ArtifactUnavailable, download_limits, fetch_artifact, parse_size

BLOCK = b"\0" * 65_536
ANY_SHA = hashlib.sha256(b"what the attacker claims").hexdigest()
STALL_AFTER = 50_000


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.stopping = threading.Event()
        self.sent: dict[str, int] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}/{path}"


class HostileHandler(BaseHTTPRequestHandler):
    server: HostileServer

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        if path.startswith("redirect-"):
            self.send_response(302)
            self.send_header(
                "Location", {"redirect-ftp": "ftp://127.0.0.1:9/x.bin", "redirect-file": "file:///etc/hostname"}[path]
            )
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if path == "liar":
            self.send_header("Content-Length", str(10 * 1024**3))
        if path == "stall":
            self.send_header("Content-Length", "1000000")
        self.end_headers()
        if path == "stall":  # some bytes, then nothing until the test ends
            self.wfile.write(BLOCK[:STALL_AFTER])
            self.wfile.flush()
            self.server.stopping.wait(60)
            return
        try:  # "endless" and "liar": zeros until the client hangs up
            while not self.server.stopping.is_set():
                self.wfile.write(BLOCK)
                self.server.sent[path] = self.server.sent.get(path, 0) + len(BLOCK)
        except OSError:
            pass


@pytest.fixture
def hostile():
    with serving(HostileServer()) as server:
        try:
            yield server
        finally:
            server.stopping.set()  # the stalled and endless handlers end


class Watcher:
    """A progress callback that measures the ``.part`` file as the download writes it."""

    def __init__(self, cache: Path, interrupt_after: int | None = None):
        self.cache = cache
        self.largest = 0
        self.interrupt_after = interrupt_after

    def __call__(self, done: int, total: int | None) -> None:
        for part in self.cache.rglob("*.part"):
            self.largest = max(self.largest, part.stat().st_size)
        if self.interrupt_after is not None and done >= self.interrupt_after:
            raise KeyboardInterrupt


NO_SPECIAL_FILES = not hasattr(os, "mkfifo") or not Path("/dev/zero").exists()


def cache_files(reef_home: Path) -> list[Path]:
    folder = reef_home / "cache" / "sha256"
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and isinstance(error.value, ReefError)
    return message


def test_an_endless_download_without_a_size_stops_at_the_configured_limit(hostile, reef_home, monkeypatch):
    monkeypatch.setenv("REEF_MAX_DOWNLOAD", "3M")
    limit = 3 * 1024**2
    watcher = Watcher(reef_home / "cache")

    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("zeros", {"zeros": {"url": hostile.url("endless"), "sha256": ANY_SHA}}, progress=watcher)

    message = one_line(caught)
    assert f"larger than {limit} bytes" in message and "REEF_MAX_DOWNLOAD" in message
    assert 0 < watcher.largest <= limit
    assert cache_files(reef_home) == []


def test_a_declared_size_is_a_hard_limit(hostile, reef_home, tmp_path):
    watcher = Watcher(reef_home / "cache")
    artifacts = {"zeros": {"url": hostile.url("endless"), "sha256": ANY_SHA, "size": 100_000}}

    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("zeros", artifacts, progress=watcher, manifest_path=tmp_path / "solution.json")

    assert one_line(caught).startswith(f"{tmp_path / 'solution.json'}: /artifacts/zeros/size: ")
    assert "size mismatch: expected 100000 bytes, got more" in str(caught.value)
    assert 0 < watcher.largest <= 100_000
    assert cache_files(reef_home) == []


def test_an_announced_length_over_the_limit_is_refused_before_writing(hostile, reef_home, monkeypatch):
    monkeypatch.setenv("REEF_MAX_DOWNLOAD", "1MiB")
    watcher = Watcher(reef_home / "cache")

    with pytest.raises(ArtifactError) as caught:
        fetch_artifact("liar", {"liar": {"url": hostile.url("liar"), "sha256": ANY_SHA}}, progress=watcher)

    assert f"it announces {10 * 1024**3} bytes" in one_line(caught)
    assert watcher.largest == 0 and cache_files(reef_home) == []


@pytest.mark.parametrize("configured", ["argument", "environment"])
def test_a_server_that_stalls_times_out_and_leaves_no_part(hostile, reef_home, monkeypatch, configured):
    artifacts = {"slow": {"url": hostile.url("stall"), "sha256": ANY_SHA}}
    watcher = Watcher(reef_home / "cache")

    with pytest.raises(ArtifactUnavailable) as caught:
        if configured == "argument":
            fetch_artifact("slow", artifacts, progress=watcher, timeout=0.5)
        else:
            monkeypatch.setenv("REEF_DOWNLOAD_TIMEOUT", "0.5")
            fetch_artifact("slow", artifacts, progress=watcher)

    message = one_line(caught)
    assert "interrupted after" in message and "timed out" in message
    assert watcher.largest == STALL_AFTER
    assert cache_files(reef_home) == []


def test_an_interrupt_by_the_user_leaves_no_part(hostile, reef_home):
    watcher = Watcher(reef_home / "cache", interrupt_after=200_000)

    with pytest.raises(KeyboardInterrupt):
        fetch_artifact("zeros", {"zeros": {"url": hostile.url("endless"), "sha256": ANY_SHA}}, progress=watcher)

    assert watcher.largest >= 200_000
    assert cache_files(reef_home) == []


@pytest.mark.parametrize("target", ["redirect-ftp", "redirect-file"])
def test_redirects_leave_http_only(hostile, reef_home, target):
    with pytest.raises(ArtifactUnavailable) as caught:
        fetch_artifact("moved", {"moved": {"url": hostile.url(target), "sha256": ANY_SHA}})

    assert "302" in one_line(caught)
    assert cache_files(reef_home) == []


def special_files(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "folder").mkdir()
    (tmp_path / "to-zero").symlink_to("/dev/zero")
    return {
        "device": "file:///dev/zero",
        "fifo": fifo.as_uri(),
        "folder": (tmp_path / "folder").as_uri(),
        "link to a device": (tmp_path / "to-zero").as_uri(),
    }


@pytest.mark.skipif(NO_SPECIAL_FILES, reason="needs POSIX FIFOs and /dev/zero")
@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "link to a device"])
@pytest.mark.parametrize("size", [None, 1000])
def test_file_urls_must_name_regular_files(tmp_path, reef_home, kind, size):
    url = special_files(tmp_path)[kind]
    spec = {"url": url, "sha256": ANY_SHA, **({"size": size} if size else {})}
    outcome: dict = {}

    def fetch() -> None:  # in a thread, so that a hang (a FIFO's open) shows as a failure, not a stuck suite
        try:
            fetch_artifact("special", {"special": spec}, offline=True)
        except BaseException as error:  # noqa: BLE001 (handed to the test)
            outcome["error"] = error

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(60)

    assert not worker.is_alive(), "fetching a special file hung"
    error = outcome.get("error")
    assert isinstance(error, ArtifactError) and not isinstance(error, ArtifactUnavailable)
    assert "not a regular file" in str(error) and "\n" not in str(error)
    assert cache_files(reef_home) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500M", 500 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("20G", 20 * 1024**3),
        ("1048576", 1048576),
        ("1.5k", 1536),
        (" 7 MB ", 7 * 1024**2),
    ],
)
def test_sizes_in_the_configuration(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-5M", "1e400", "9" * 5000, "5 parsecs"])
def test_a_bad_configured_size_is_one_line(monkeypatch, text):
    monkeypatch.setenv("REEF_MAX_DOWNLOAD", text)

    with pytest.raises(ArtifactError) as caught:
        download_limits()

    assert one_line(caught).startswith("REEF_MAX_DOWNLOAD: ") and len(str(caught.value)) < 200


def test_the_defaults(monkeypatch):
    monkeypatch.delenv("REEF_MAX_DOWNLOAD", raising=False)
    monkeypatch.delenv("REEF_DOWNLOAD_TIMEOUT", raising=False)
    assert download_limits() == (60.0, 20 * 1024**3)
