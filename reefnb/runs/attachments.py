"""The files a run attaches as evidence (``reefnb.attach``): kept in ``runs/RUN_ID/files/``, listed in its record.

The kernel only names the files (a display output, see ``reefnb.kernel.recording``); the executor decides
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import AttachmentRefused, PathOutside
from reefnb.common.files import atomic_file
from reefnb.common.scrub import find_secrets
from reefnb.common.units import parse_size
from reefnb.kernel.recording import check_attachment_name
from reefnb.solution.confinement import resolve_inside

log = logging.getLogger(__name__)

FILES_FOLDER = "files"
MAX_ATTACHED = 512 * 2**20
MAX_ATTACHED_VARIABLE = "REEF_MAX_ATTACHED"
_CHUNK = 2**20


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
        except (ValueError, PathOutside, AttachmentRefused) as problem:
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
        raise AttachmentRefused("not an absolute path")
    try:
        return resolve_inside(solution_folder, path)
    except PathOutside as problem:
        raise AttachmentRefused(f"{problem} (links followed): only files inside the solution folder are kept") from None


def _keep(source: Path, target: Path, run_folder: Path, protected: set[Path], room: int) -> tuple[int, str]:
    """Move (inside the run folder) or copy ``source`` to ``target``; its size and sha256."""
    handle = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(handle, "rb") as reader:
        status = os.fstat(reader.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise AttachmentRefused("not a regular file")
        if status.st_size > room:
            raise AttachmentRefused(
                f"{status.st_size} bytes: over the {MAX_ATTACHED_VARIABLE} limit of the run's files ({room} bytes left)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if source == target:
            return _hashed(reader, None, room)
        if (
            source.is_relative_to(run_folder)
            and source not in protected
            and not source.is_relative_to(run_folder / FILES_FOLDER)
        ):
            os.replace(source, target)
            try:
                return _hashed(reader, None, room)
            except AttachmentRefused:
                target.unlink(missing_ok=True)
                raise
        with atomic_file(target) as writer:
            return _hashed(reader, writer, room)


def _hashed(reader, writer, room: int) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := reader.read(_CHUNK):
        size += len(chunk)
        if size > room:  # it grew since it was measured
            raise AttachmentRefused(f"over the {MAX_ATTACHED_VARIABLE} limit of the run's files")
        digest.update(chunk)
        if writer is not None:
            writer.write(chunk)
    return size, digest.hexdigest()


def attached_folder(record: dict) -> Path | None:
    """Where a run's attached files are (``runs/RUN_ID/files``), or None for a record without its executed notebook."""
    output = (record.get("notebook") or {}).get("output_path")
    return Path(output).parent / FILES_FOLDER if output and os.path.isabs(output) else None


def file_links(record: dict, base: str | Path, within: str | Path | None = None) -> dict[str, str]:
    """Relative links (``/``-separated, from the folder ``base``) to the run's attached files that are here, by name.

    With ``within`` (a folder), only links that stay inside it: below ``base``, or below ``within`` when ``base``
    is inside it too, so that a link never spells out the folders above (a page that leaves this machine).
    """
    folder = attached_folder(record)
    if folder is None:
        return {}
    base, links = os.path.realpath(base), {}
    inside = within is not None and Path(base).is_relative_to(os.path.realpath(within))
    for entry in record.get("files") or []:
        try:
            path = resolve_inside(folder, str(entry.get("name")))
        except (PathOutside, ValueError):
            continue
        if not path.is_file():
            continue
        if within is not None and not (
            path.is_relative_to(base) or (inside and path.is_relative_to(os.path.realpath(within)))
        ):
            continue
        links[str(entry["name"])] = Path(os.path.relpath(path, base)).as_posix()
    return links


def packed_attachments(
    record: dict, scrubber: Any, warnings: list[str], room: int | None = None
) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of each file a run attached, for a package or a registry, byte for byte: they are
    evidence, their sha256 stays the record's, so they are checked rather than scrubbed. A file that is gone
    or changed since the run, that holds a secret (detect-secrets' keyed detectors), the home folder or the
    user's or host's name (``scrubber``'s words), or that would pass ``room`` bytes in all, is left out with a
    warning in ``warnings``."""
    folder = attached_folder(record)
    for entry in record.get("files") or []:
        name = str(entry.get("name"))
        where = f"run {record.get('run_id')}: attached file {name}"
        try:
            content = resolve_inside(folder, name).read_bytes() if folder is not None else None
        except (PathOutside, OSError):
            content = None
        if content is None or hashlib.sha256(content).hexdigest() != entry.get("sha256"):
            warnings.append(f"{where}: {'gone' if content is None else 'changed since the run'}: left out")
            continue
        if room is not None and len(content) > room:
            warnings.append(f"{where}: {len(content)} bytes, over the size limit ({room} bytes left): left out")
            continue
        problem = _private(content.decode("utf-8", "replace"), scrubber)
        if problem:
            warnings.append(f"{where}: holds {problem}: left out (attach a cleaned copy)")
            continue
        if room is not None:
            room -= len(content)
        yield name, content


def _private(text: str, scrubber: Any) -> str | None:
    secrets = find_secrets(text, high_entropy=False)  # LoadGen's hex responses look random: keyed detectors only
    if secrets:
        return f"a secret ({secrets[0][2]})"
    if any(path in text for path, _ in scrubber.paths):
        return "an absolute path of this machine"
    if any(pattern.search(text) for pattern, _ in scrubber.words):
        return "the user's or host's name"
    return None


def compare_files(original: dict | None, record: dict) -> dict | None:
    """The attached files of a rerun against the original run's, by name and sha256 (None when the original attached
    none): ``same``, ``different``, ``missing`` (attached by the original only), ``new`` (by the rerun only)."""
    if not original or not original.get("files"):
        return None
    before = {entry["name"]: entry["sha256"] for entry in original["files"]}
    after = {entry["name"]: entry["sha256"] for entry in record.get("files") or []}
    return {
        "same": sorted(name for name in before if after.get(name) == before[name]),
        "different": sorted(name for name in before if name in after and after[name] != before[name]),
        "missing": sorted(set(before) - set(after)),
        "new": sorted(set(after) - set(before)),
    }
