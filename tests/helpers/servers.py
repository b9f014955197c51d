"""Servers and processes a test starts, and waiting for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def serving(server):
    """Run a ``socketserver`` server (an HTTP server on 127.0.0.1 the test made) in a thread while inside."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def stop_process(process, grace: float = 30) -> None:
    """Stop a server a test started: SIGTERM, then SIGKILL after ``grace`` seconds; always reaped."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], T], timeout: float = 60, every: float = 0.05, what: str = "the condition") -> T:
    """Ask ``condition()`` every ``every`` seconds until it answers something true, and return that answer;
    fail the test after ``timeout`` seconds. Tests wait for what they need this way, never a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s in vain for {what}")
        time.sleep(every)
