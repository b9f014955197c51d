"""Files reef writes under its home and in solution folders: atomic replacement, JSON objects, one
portable file lock."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from reefnb.common.exceptions import ReefError


def read_json_object(path: Path) -> dict:
    """A JSON object kept under ``$REEF_HOME`` (an index, a list of registries); {} when the file is missing."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ReefError(f"{path}: /: invalid JSON: {error}") from None
    return data if isinstance(data, dict) else {}


def write_json_object(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file renamed)."""
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: readers see the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@contextlib.contextmanager
def locked_file(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) between processes: ``flock`` on POSIX,
    ``msvcrt.locking`` on Windows (both imported here, when a lock is taken). The one file lock of reefnb
    (registries, pins, artifact caches).

    Locks are per open file: a process must not take the same lock again while holding it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
            return
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
