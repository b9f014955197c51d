"""The files a run attaches as evidence (``reefnb.attach``): kept in ``runs/RUN_ID/files/``, listed in its record.

The kernel only names the files (a display output, see ``reefnb.recording``); the executor decides
what is kept. A name is a relative path of plain parts; a file is kept only when it leads, links
followed, to a regular file inside the solution folder (never ``/etc/passwd`` through a link, never a
FIFO that would block), and only while the run's files stay within ``REEF_MAX_ATTACHED`` (512 MiB by
default). A file the run wrote inside its own folder is moved into ``files/``; any other is copied.
What is refused is listed with the reason, and nothing half-copied stays behind.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import stat
from pathlib import Path

from .artifacts import parse_size
from .confinement import PathOutside, resolve_inside
from .recording import check_attachment_name

log = logging.getLogger(__name__)

FILES_FOLDER = "files"
MAX_ATTACHED = 512 * 2**20
MAX_ATTACHED_VARIABLE = "REEF_MAX_ATTACHED"
_CHUNK = 2**20


class Refused(Exception):
    """One attached file that is not kept; ``str()`` says why."""


def attached_limit() -> int:
    """Bytes of attached files kept per run: ``$REEF_MAX_ATTACHED`` (a size such as ``100M``), else 512 MiB."""
    configured = os.environ.get(MAX_ATTACHED_VARIABLE, "").strip()
    return parse_size(configured, MAX_ATTACHED_VARIABLE) if configured else MAX_ATTACHED


def media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or ("text/plain" if name.endswith((".log", ".txt", ".md")) else "application/octet-stream")


def keep_attachments(attached: list[dict], run_folder: Path, solution_folder: Path, limit: int | None = None) -> dict:
    """Keep the files a run attached; returns ``{"files": [...], "files_refused": [...]}`` (empty lists left out).

    ``files`` entries: name, size, sha256, media_type (the file is ``run_folder/files/NAME``);
    ``files_refused`` entries: name, reason.
    """
    limit = attached_limit() if limit is None else limit
    run_folder = run_folder.resolve()
    protected = {path for path in run_folder.iterdir() if path.is_file()}  # the executed notebook, kernel.log
    kept, refused, total = [], [], 0
    for entry in attached:
        name = str(entry.get("name"))
        try:
            check_attachment_name(name)
            source = _source(entry.get("path"), solution_folder)
            target = resolve_inside(run_folder / FILES_FOLDER, name)
            size, digest = _keep(source, target, run_folder, protected, limit - total)
        except (ValueError, PathOutside, Refused) as problem:
            refused.append({"name": name[:1024], "reason": str(problem).removeprefix("attach: ")})
            log.warning("attached file %s not kept: %s", name[:200], refused[-1]["reason"])
            continue
        except OSError as problem:
            refused.append({"name": name[:1024], "reason": f"cannot be read: {problem.strerror or problem}"})
            log.warning("attached file %s not kept: %s", name[:200], refused[-1]["reason"])
            continue
        total += size
        kept.append({"name": name, "size": size, "sha256": digest, "media_type": media_type(name)})
    return {key: value for key, value in (("files", kept), ("files_refused", refused)) if value}


def _source(path: object, solution_folder: Path) -> Path:
    if not isinstance(path, str) or not os.path.isabs(path):
        raise Refused("not an absolute path")
    try:
        return resolve_inside(solution_folder, path)
    except PathOutside as problem:
        raise Refused(f"{problem} (links followed): only files inside the solution folder are kept") from None


def _keep(source: Path, target: Path, run_folder: Path, protected: set[Path], room: int) -> tuple[int, str]:
    """Move (inside the run folder) or copy ``source`` to ``target``; its size and sha256."""
    handle = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(handle, "rb") as reader:
        status = os.fstat(reader.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise Refused("not a regular file")
        if status.st_size > room:
            raise Refused(f"{status.st_size} bytes: over the {MAX_ATTACHED_VARIABLE} limit of the run's files ({room} bytes left)")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source == target:
            return _hashed(reader, None, room)
        if source.is_relative_to(run_folder) and source not in protected and not source.is_relative_to(run_folder / FILES_FOLDER):
            os.replace(source, target)
            try:
                return _hashed(reader, None, room)
            except Refused:
                target.unlink(missing_ok=True)
                raise
        partial = target.with_name(f".{target.name}.part")
        try:
            with open(partial, "wb") as writer:
                size, digest = _hashed(reader, writer, room)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return size, digest


def _hashed(reader, writer, room: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := reader.read(_CHUNK):
        size += len(chunk)
        if size > room:  # it grew since it was measured
            raise Refused(f"over the {MAX_ATTACHED_VARIABLE} limit of the run's files")
        digest.update(chunk)
        if writer is not None:
            writer.write(chunk)
    return size, digest.hexdigest()
