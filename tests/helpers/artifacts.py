"""A local HTTP server for artifacts: serves bytes the test gives it, honours Range, can cut responses."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ArtifactServer(ThreadingHTTPServer):
    """Serves bytes the test gives it on 127.0.0.1, honours Range, can cut responses, logs the requests."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []  # {"path", "range"} in arrival order
        self.cut: dict[str, int] = {}  # path -> responses still to cut halfway
        self.honour_ranges = True  # False: answer every Range request with the whole file (200)
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}/{path}"

    def serve(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url(path)

    def ranges(self, path: str) -> list[str | None]:
        return [request["range"] for request in self.requests if request["path"] == path]


class RangeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ArtifactServer

    def log_message(self, format: str, *args) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        requested = self.headers.get("Range")
        with self.server.lock:
            self.server.requests.append({"path": path, "range": requested})
            cut = self.server.cut.get(path, 0)
            if cut > 0:
                self.server.cut[path] = cut - 1
        body = self.server.files.get(path)
        if body is None:
            self.send_error(404)
            return
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if match and self.server.honour_ranges:
            start, status = int(match.group(1)), 206
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        payload = body[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if cut:
            self.wfile.write(payload[: len(payload) // 2])  # then hang up: the client sees a short body
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


def sha(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex, as manifests write it."""
    return hashlib.sha256(data).hexdigest()
