"""Files reef writes under its home and in solution folders: the one atomic writer (a file, or a whole folder),
JSON objects, one portable file lock.

Atomic: a reader (or a process killed half way) sees the old file or the whole new one, never part of it. The
new content goes to a temporary name beside the target (same folder, same file system), is flushed to disk,
then renamed over the target; on any error the temporary is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from reefnb.common.exceptions import ReefError

_TEMPORARY_SUFFIX = ".tmp"


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
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` line ends on every system), atomically."""
    with atomic_file(path, text=True) as stream:
        stream.write(text)


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content``, atomically."""
    with atomic_file(path) as stream:
        stream.write(content)


@contextlib.contextmanager
def atomic_file(path: Path, text: bool = False) -> Iterator[IO]:
    """A file open for writing that replaces ``path`` when the block ends without an error (for streamed content).

    The new file gets the mode of the file it replaces, else the default for a new file (0o666 less the umask).
    An error in the block (or a BaseException: an interrupt) removes the temporary and leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name[:100]}.{uuid.uuid4().hex[:12]}{_TEMPORARY_SUFFIX}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") if text else os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def replaced_folder(target: Path) -> Iterator[Path]:
    """An empty folder beside ``target`` to fill; when the block ends without an error it becomes ``target``.

    An existing ``target`` (the caller decides whether one may be replaced) is moved aside, then removed, so
    ``target`` is at every moment the old folder or the complete new one. An error removes what was written.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name[:100]}.", suffix=_TEMPORARY_SUFFIX, dir=target.parent))
    try:
        yield temporary
        _rename_folder(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _rename_folder(temporary: Path, target: Path) -> None:
    """Rename ``temporary`` to ``target``, moving an older ``target``
    aside first (a rename cannot replace a full folder)."""
    try:
        os.rename(temporary, target)
        return
    except OSError:
        if not target.exists() and not target.is_symlink():
            raise
    aside = target.with_name(f".{target.name[:100]}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, aside)
    os.rename(temporary, target)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


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
