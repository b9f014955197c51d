"""The one way reef runs a program and reads what it says: bounded in time and in bytes.

``subprocess.run(capture_output=True)`` keeps all a program prints: a tool on PATH that answers
``--version`` (or ``nvidia-smi``, or an environment's python) with hundreds of megabytes puts them all in
reef's memory. ``run_tool`` reads at most ``max_bytes`` of each stream. Past that, by default, the program
is ended (its whole process group) and the result says the output was cut (``cut``); with ``keep_tail``
it runs on and only the last ``max_bytes`` are kept (an installer, whose last lines hold the error).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

MAX_TOOL_OUTPUT_BYTES = 1024 * 1024  # a version line, a CSV row per GPU: a megabyte is far more than enough
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ToolOutput:
    """What a program said: its exit status (None when it was
    ended), stdout and stderr as text, and why it was stopped."""

    returncode: int | None
    stdout: str
    stderr: str
    cut: bool = False  # said more than max_bytes on a stream and was ended (or, with keep_tail, only the tail is here)
    timed_out: bool = False


def run_tool(
    command: Sequence[str],
    timeout: float | None,
    *,
    max_bytes: int = MAX_TOOL_OUTPUT_BYTES,
    keep_tail: bool = False,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> ToolOutput:
    """Run ``command`` and read at most ``max_bytes`` of its stdout and of its stderr; OSError when it cannot start.

    The program runs in its own session, so ending it ends what it started too. Past ``timeout`` seconds it is
    ended (``timed_out``). Past ``max_bytes`` on a stream it is ended (``cut``), unless ``keep_tail``: then it
    runs to its end and each stream keeps its last ``max_bytes``. Text is decoded as UTF-8, bad bytes replaced.
    ``timeout`` None: no limit in time.
    """
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=os.name == "posix",
    )
    stop = threading.Event()  # set when it ends, or (unless keep_tail) when a stream passes max_bytes
    readers = [_Reader(stream, max_bytes, keep_tail, stop) for stream in (process.stdout, process.stderr)]
    threading.Thread(target=lambda: (process.wait(), stop.set()), name="reef-tool-wait", daemon=True).start()
    try:
        timed_out = not stop.wait(timeout)
    except BaseException:  # Ctrl-C: in its own session, it does not get the terminal's SIGINT
        _end(process)
        raise
    if timed_out or process.poll() is None:
        _end(process)
    process.wait()
    for reader in readers:
        reader.finish()
    cut = any(reader.over for reader in readers)
    return ToolOutput(
        None if (cut and not keep_tail) or timed_out else process.returncode,
        readers[0].text(),
        readers[1].text(),
        cut,
        timed_out,
    )


def _end(process: subprocess.Popen) -> None:
    """Kill the process and its process group (its own session, see ``run_tool``)."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


class _Reader:
    """Reads one stream in a thread: its first ``max_bytes`` (or its last, with ``keep_tail``)."""

    def __init__(self, stream, max_bytes: int, keep_tail: bool, stop: threading.Event):
        self.stream, self.max_bytes, self.keep_tail, self.stop = stream, max_bytes, keep_tail, stop
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.over = False
        self.thread = threading.Thread(target=self._read, name="reef-tool-output", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while chunk := self.stream.read1(_CHUNK):
                self.chunks.append(chunk)
                self.size += len(chunk)
                if self.size <= self.max_bytes:
                    continue
                self.over = True
                if not self.keep_tail:
                    self.stop.set()
                    return
                while self.size - len(self.chunks[0]) >= self.max_bytes:
                    self.size -= len(self.chunks.popleft())
        except (OSError, ValueError):  # closed under it
            pass

    def finish(self) -> None:
        """Wait for the stream's end; a program that left its process group may hold it open: then give up on it."""
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.stream.close()

    def text(self) -> str:
        data = b"".join(self.chunks)
        data = data[-self.max_bytes :] if self.keep_tail else data[: self.max_bytes]
        return data.decode("utf-8", "replace")
