"""Load a solution's actions and call them: in this process, or as a worker on another environment's python.

This module needs nothing but the standard library, so ``reefnb.actions.api`` runs it by its path with the
python of a solution's environment, where reefnb may not be installed::

    python action_worker.py REQUEST_FD REPLY_FD

The worker reads requests from the pipe ``REQUEST_FD`` and writes replies to the pipe ``REPLY_FD`` (both passed
to it alone, not inherited by what the actions start); its stdin is empty and its stdout and stderr are a log, so
prints of the solution's code, its native libraries and its child processes never reach the caller. Every
message is a frame: ``MAGIC``, the payload's length (4 bytes, big-endian), then the payload, one JSON object
carrying the ``id`` of its request. The first request is ``{"id", "folder", "entries": {NAME: "MODULE:ATTR"}}``,
answered ``{"id", "ready": true}`` or ``{"id", "error": LINE}``; each later request ``{"id", "action": NAME,
"input": {...}}`` is answered ``{"id", "output": ...}`` or ``{"id", "error": "ExceptionType: message"}``. The
caller checks every frame (magic, length, JSON object, its request's id, one answer): anything else, or bytes
waiting before a request is sent, is a broken worker, stopped and replaced, and never another call's answer.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import struct
import sys
from pathlib import Path

MAGIC = b"reef"
HEADER = struct.Struct(">4sI")
MAX_FRAME_BYTES = 1 << 30  # 1 GiB: a length beyond this is not a reply, whatever its magic


class LoadError(Exception):
    """An entry cannot be loaded: the message is one line naming the action."""


def load_entries(folder: str | Path, entries: dict[str, str]) -> dict:
    """Import each ``MODULE:ATTR`` from the solution ``folder`` once; a class is instantiated once (its model loads
    there). Returns ``{name: callable}``. A module that resolves outside ``folder`` (a same-named module imported
    earlier, or an installed one) is refused: an action is the solution's own code."""
    folder = Path(folder).resolve()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    loaded = {}
    for name, entry in entries.items():
        module_name, _, attribute = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise LoadError(f"action '{name}': cannot import {module_name}: {one_line(error)}") from None
        where = Path(getattr(module, "__file__", None) or "").resolve()
        if not where.is_relative_to(folder):
            raise LoadError(
                f"action '{name}': module {module_name} is {where}, not the solution's own code in {folder}"
            )
        target = getattr(module, attribute, None)
        if target is None:
            raise LoadError(f"action '{name}': {module_name} has no attribute '{attribute}'")
        if inspect.isclass(target):
            try:
                target = target()
            except Exception as error:
                raise LoadError(f"action '{name}': {entry}() failed: {one_line(error)}") from None
        if not callable(target):
            raise LoadError(f"action '{name}': {entry} is not callable")
        loaded[name] = target
    return loaded


def call(function, arguments: dict) -> str:
    """Call an action with the input's fields as keyword arguments; its output as JSON text (numpy values become
    plain numbers and lists; NaN and infinities are refused, as JSON has none)."""
    return json.dumps(function(**arguments), default=plain, allow_nan=False, separators=(",", ":"))


def plain(value):
    """``json.dumps`` default: numpy arrays and scalars (anything with ``tolist``/``item``) as plain data."""
    for method in ("tolist", "item"):
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 500 else text[:497] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def frame(payload: bytes) -> bytes:
    """``payload`` as one frame."""
    return HEADER.pack(MAGIC, len(payload)) + payload


def read_frame(read) -> bytes | None:
    """The payload of the next frame, ``read(n)`` giving at most n bytes (b"" at the end); None at a clean end.
    ValueError for bytes that are not a frame (wrong magic, a length over the limit, a frame cut short)."""
    header = _read_exactly(read, HEADER.size, at_start=True)
    if header is None:
        return None
    magic, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise ValueError(f"not a frame (starts {header[:8]!r})")
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {length} bytes is over the limit of {MAX_FRAME_BYTES}")
    return _read_exactly(read, length)


def _read_exactly(read, size: int, at_start: bool = False) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = read(min(left, 1 << 20))
        if not chunk:
            if at_start and left == size:
                return None
            raise ValueError(f"the channel ended inside a frame ({size - left} of {size} bytes)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve_frames(requests: int, replies: int) -> None:
    """The worker loop over two pipes (see the module's docstring)."""

    unread = b""

    def read(size: int) -> bytes:
        nonlocal unread
        if not unread:
            unread = os.read(requests, max(size, 1 << 16))
        chunk, unread = unread[:size], unread[size:]
        return chunk

    def reply(request_id, message: dict) -> None:
        write_all(replies, frame(json.dumps({"id": request_id, **message}).encode("utf-8")))

    hello = json.loads(read_frame(read) or b"{}")
    try:
        functions = load_entries(hello["folder"], hello["entries"])
    except LoadError as error:
        return reply(hello.get("id"), {"error": str(error)})
    except Exception as error:
        return reply(hello.get("id"), {"error": f"worker: {one_line(error)}"})
    reply(hello["id"], {"ready": True})
    while True:
        payload = read_frame(read)
        if payload is None:
            return
        request = json.loads(payload)
        try:
            text = call(functions[request["action"]], request["input"])
        except (Exception, SystemExit, KeyboardInterrupt) as error:  # an action cannot end its worker (os._exit can)
            reply(request["id"], {"error": one_line(error)})
            continue
        write_all(
            replies, frame(b'{"id":' + json.dumps(request["id"]).encode() + b',"output":' + text.encode("utf-8") + b"}")
        )


def main() -> None:
    requests, replies = int(sys.argv[1]), int(sys.argv[2])
    for fd in (requests, replies):
        os.set_inheritable(fd, False)  # what an action starts does not get the channels
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints go to the log (the caller passes it as both)
    serve_frames(requests, replies)


if __name__ == "__main__":
    main()
