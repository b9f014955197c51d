"""Verified datasets and models for solutions: download, unpack safely, or generate locally.

A manifest's ``artifacts`` section maps a name to a spec (``$defs/artifact`` in
``schemas/solution.schema.json``). ``fetch_artifact`` makes one artifact available on disk:

1. from the cache, where downloads live by content: ``cache/sha256/<hex>/<filename>`` (no network);
2. from its URLs, tried in order: streamed to a ``.part`` file (resumed with ``Range`` when one is
   left over), verified by sha256 (and size) before the atomic rename into place;
3. from its ``fallback`` artifact, when every URL failed to answer (or ``offline``);
4. from its ``generate`` entry point, run into ``cache/generated/<name>/``.

Every download is verified; an integrity failure (wrong sha256 or size, an unsafe archive) is an
error and is never hidden behind a fallback. Archives are unpacked into a temporary folder beside
their target and renamed into place, after every member has been checked to stay inside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError
from urllib.parse import unquote, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener, url2pathname

from reefnb.common.archives import ARCHIVE_SUFFIXES, LIMITS, extract_archive
from reefnb.common.exceptions import ArchiveError, ArtifactError, ArtifactUnavailable, PathOutside, TransferInterrupted
from reefnb.common.files import atomic_file, locked_file, replaced_folder
from reefnb.common.json_input import pointer_token
from reefnb.common.paths import reef_home
from reefnb.common.plugins import load_object
from reefnb.common.units import format_size, parse_size
from reefnb.solution.checks import is_plain_path, spec_urls
from reefnb.solution.confinement import resolve_inside

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None"], None]
"""``progress(bytes_done, bytes_total_or_None)``, called as a download streams."""

CHUNK_SIZE = 1 << 20
TIMEOUT_SECONDS = 60.0  # a read that waits longer for the next bytes fails (REEF_DOWNLOAD_TIMEOUT)
MAX_DOWNLOAD = 20 * 1024**3  # bytes, for a download whose manifest declares no size (REEF_MAX_DOWNLOAD)
MAX_DOWNLOAD_VARIABLE = "REEF_MAX_DOWNLOAD"
TIMEOUT_VARIABLE = "REEF_DOWNLOAD_TIMEOUT"
RESUME_ATTEMPTS = 3  # resumptions of an interrupted download within one call, while it progresses
MAX_MEMBERS = LIMITS.max_members
MAX_RATIO = LIMITS.max_ratio  # total uncompressed size allowed, as a multiple of the archive's size
UNPACKED_MARKER = ".reef-unpacked"
GENERATED_MARKER = ".reef-generated"
_MARKERS = (UNPACKED_MARKER, GENERATED_MARKER)
_USER_AGENT = "reefnb-artifacts"


class _HttpRedirectsOnly(HTTPRedirectHandler):
    """urllib follows redirects to ftp: too; a download follows them only to http(s) URLs."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise HTTPError(req.full_url, code, f"redirect to a {scheme or 'schemeless'} URL refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = build_opener(_HttpRedirectsOnly())


@dataclass(frozen=True)
class ArtifactResult:
    """Where a fetched artifact is and how it got there."""

    name: str
    path: Path  # the verified file, or the unpacked folder when the spec says unpack, or the generated folder
    sha256: str  # of the downloaded file (the archive when unpacked), or tree_sha256 of a generated folder
    size: int  # bytes of the downloaded file, or of all generated files
    source: str  # "cache" | "download" | "fallback:<name>" | "generate"
    url: str | None = None  # the URL it was downloaded from, when it was

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for locks and records)."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


# ---------------------------------------------------------------------------------------------
# Public API


def fetch_artifact(
    name: str,
    artifacts: dict[str, dict],
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    offline: bool = False,
    manifest_path: Path | str | None = None,
    *,
    timeout: float | None = None,
    max_download: int | None = None,
) -> ArtifactResult:
    """Make artifact ``name`` of ``artifacts`` available on disk, verified.

    It comes from the cache, else from its URLs in order (verified by sha256 and size), else from its
    ``fallback`` artifact when no URL answered (or ``offline``), else from its ``generate`` entry point; see the module
    docstring of ``reefnb.provision.artifacts``. An integrity failure is an error, never hidden behind a
    fallback. A download stops at its declared ``size`` plus one byte, or at ``max_download`` bytes when
    it declares none, and when the source sends nothing for ``timeout`` seconds; nothing of a failed
    download is kept.

    Parameters
    ----------
    name
        The artifact's name.
    artifacts
        A manifest's ``artifacts`` section (name -> spec), which the ``fallback`` chain is read from too.
    cache_dir
        The cache (default: ``$REEF_HOME/cache``).
    progress
        Called as ``progress(bytes_done, bytes_total_or_None)`` as a download streams.
    offline
        Skip every http(s) URL (``file:`` URLs are still read).
    manifest_path
        Names the manifest in messages, anchors relative ``file:`` URLs and puts the solution's folder
        on ``sys.path`` for ``generate`` entry points.
    timeout
        Seconds a download may wait for the next bytes (default: ``download_limits()``).
    max_download
        Bytes at most of a download whose spec declares no ``size`` (default: ``download_limits()``).

    Returns
    -------
    ArtifactResult
        Where the artifact is (the file, the unpacked folder or the generated folder), its sha256 and
        size, and where it came from (``cache``, ``download``, ``fallback:NAME``, ``generate``).

    Raises
    ------
    ArtifactError
        When the artifact cannot be fetched, verified, unpacked or generated (the message names it and
        the URL or file); ``ArtifactUnavailable``, a subclass, when no source answered and nothing
        stood in.
    """
    default_timeout, default_limit = download_limits()
    fetcher = _Fetcher(
        artifacts, cache_dir, progress, offline, manifest_path, default_timeout if timeout is None else timeout
    )
    fetcher.max_download = default_limit if max_download is None else max_download
    fetcher.check_chain(name)
    return fetcher.place(name, fetcher.fetch(name, ()))


def supply_artifact(
    name: str,
    artifacts: dict[str, dict],
    source: Path | str,
    cache_dir: Path | None = None,
    manifest_path: Path | str | None = None,
) -> ArtifactResult:
    """Take artifact ``name`` from a file the user has (``--artifact NAME=PATH``), verified by its sha256 and size.

    This is how a ``supplied`` artifact (no URL: ``reef export --external``) reaches another machine,
    and how any artifact with a sha256 can be given offline. The file is copied into the cache,
    hashed as it is copied; a file with another digest is refused with both digests, and nothing
    is kept. Then it is placed at the spec's ``path`` like a fetched one.
    """
    fetcher = _Fetcher(artifacts, cache_dir, None, True, manifest_path, TIMEOUT_SECONDS)
    spec = fetcher.spec(name)
    if not spec.get("sha256"):
        raise ArtifactError(f"{fetcher.where(name)}: declares no sha256, so a file given for it cannot be verified")
    source = Path(os.path.expanduser(str(source)))
    if not source.is_file():
        raise ArtifactError(f"--artifact {name}={source}: no such file")
    expected = spec["sha256"].lower()
    folder = fetcher.folder(spec)
    filename = _filename(spec.get("path") or source.name, name)
    with locked_file(fetcher.cache / "locks" / f"{expected}.lock"):
        result = fetcher.cached(name, spec)
        if result is None:
            try:
                with atomic_file(folder / filename) as copy:
                    digest, size = _copy_hashing(source, copy)
                    if digest != expected or size != spec.get("size", size):
                        declared = f"{spec['size']} bytes" if "size" in spec else "size not declared"
                        raise ArtifactError(
                            f"--artifact {name}={source}: sha256 {digest} ({size} bytes), but {fetcher.where(name)} "
                            f"declares sha256 {expected} ({declared}): not the file the solution was made with"
                        )
            except BaseException:
                _remove_if_empty(folder)
                raise
            log.info("%s: supplied from %s (%d bytes, sha256 verified)", fetcher.where(name), source, size)
            result = fetcher.finish(name, spec, folder / filename, "supplied", None)
    return fetcher.place(name, result)


def split_artifact_arguments(entries: list[str] | tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """``--artifact`` values: the names to fetch now, and ``NAME=PATH`` files the user supplies (name -> path)."""
    names, supplied = [], {}
    for entry in entries:
        name, equals, path = entry.partition("=")
        if equals and not (name and path):
            raise ArtifactError(f"--artifact {entry}: expected NAME or NAME=PATH")
        names.append(name)
        if equals:
            supplied[name] = path
    return names, supplied


def supply_instruction(name: str, spec: dict) -> str:
    """What to type to supply a ``supplied`` artifact: ``--artifact NAME=/path/to/FILE`` with its size and digest."""
    filename = Path(spec.get("path") or name).name
    size = f"{format_size(spec['size'])}, " if "size" in spec else ""
    return (
        f"artifact '{name}' ({filename}, {size}sha256 {spec.get('sha256', '?')[:16]}...) is not shipped: "
        f"supply your copy with --artifact {name}=/path/to/{filename} (reef init or reef reproduce)"
    )


def artifact_status(
    name: str,
    artifacts: dict[str, dict],
    cache_dir: Path | None = None,
    offline: bool = False,
    manifest_path: Path | str | None = None,
) -> dict[str, str]:
    """What ``fetch_artifact`` would do, without doing it: ``{name, status, detail}`` where status is
    ``cached``, ``fetch``, ``fallback``, ``generate`` or ``missing`` (offline with nothing to use)."""
    fetcher = _Fetcher(artifacts, cache_dir, None, offline, manifest_path, TIMEOUT_SECONDS)
    fetcher.check_chain(name)
    spec = fetcher.spec(name)
    urls = fetcher.urls(name, spec)
    if spec.get("supplied") and not urls:
        cached = fetcher.find_cached(spec)
        if cached is not None:
            return {"name": name, "status": "cached", "detail": str(cached)}
        return {"name": name, "status": "missing", "detail": supply_instruction(name, spec)}
    if urls:
        cached = fetcher.find_cached(spec)
        if cached is not None:
            return {"name": name, "status": "cached", "detail": str(cached)}
        reachable = [url for url in urls if not offline or url.startswith("file:")]
        if reachable:
            size = f" ({format_size(spec['size'])})" if "size" in spec else ""
            return {"name": name, "status": "fetch", "detail": reachable[0] + size}
    elif _generated_marker(fetcher.generated_folder(name), spec, generate_only=True) is not None:
        return {"name": name, "status": "cached", "detail": str(fetcher.generated_folder(name))}
    if "fallback" in spec:
        return {"name": name, "status": "fallback", "detail": f"offline: use '{spec['fallback']}'"}
    if "generate" in spec:
        return {"name": name, "status": "generate", "detail": spec["generate"]}
    return {"name": name, "status": "missing", "detail": "offline and not in the cache"}


def unpack_archive(
    archive: Path | str,
    target: Path | str,
    sha256: str | None = None,
    *,
    max_members: int = MAX_MEMBERS,
    max_ratio: float = MAX_RATIO,
) -> Path:
    """Extract a zip or tar (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) archive into ``target``, safely.

    ``reefnb.common.archives.extract_archive`` checks every member before anything is written (absolute paths,
    ``..`` components, links, special files, duplicate names, more than ``max_members`` members, a total size
    over ``max_ratio`` times the archive's). Extraction goes to a temporary folder beside ``target`` that is
    renamed into place, with a marker holding the archive's sha256 (``sha256`` when the caller has verified it,
    otherwise computed): a complete folder is reused as it is.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise ArtifactError(f"{archive}: no such archive")
    digest = sha256 or file_sha256(archive)
    marker = _read_marker(target / UNPACKED_MARKER)
    if marker is not None and marker.get("sha256") == digest:
        log.debug("%s: already unpacked in %s", archive, target)
        return target
    if target.exists() and marker is None and (not target.is_dir() or any(target.iterdir())):
        raise ArtifactError(f"{archive}: cannot unpack into {target}: it exists and was not unpacked by reef")
    limits = replace(LIMITS, max_members=max_members, max_ratio=max_ratio)
    try:
        with replaced_folder(target) as temporary:
            extracted = extract_archive(archive, temporary, limits)
            marker_data = {
                "sha256": digest,
                "archive": archive.name,
                "size": archive.stat().st_size,
                "members": extracted.members,
            }
            (temporary / UNPACKED_MARKER).write_text(json.dumps(marker_data) + "\n", encoding="utf-8")
    except ArchiveError as error:
        raise ArtifactError(str(error)) from None
    log.info("%s: unpacked %d members into %s", archive, extracted.members, target)
    return target


def download_limits() -> tuple[float, int]:
    """(read timeout in seconds, size limit in bytes for a download without a declared size), from
    ``REEF_DOWNLOAD_TIMEOUT`` and ``REEF_MAX_DOWNLOAD`` (``500M``, ``2GiB``, ``20G``, bytes), else the defaults."""
    limit = os.environ.get(MAX_DOWNLOAD_VARIABLE, "").strip()
    timeout = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    return (
        _positive_seconds(timeout, TIMEOUT_VARIABLE) if timeout else TIMEOUT_SECONDS,
        parse_size(limit, MAX_DOWNLOAD_VARIABLE) if limit else MAX_DOWNLOAD,
    )


def _positive_seconds(text: str, origin: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86_400 * 365:
        raise ArtifactError(f"{origin}: {text[:40]!r} is not a number of seconds above 0")
    return value


def file_sha256(path: Path | str) -> str:
    """The hex sha256 of a file's contents (what a manifest's ``sha256`` holds for a download)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def tree_sha256(folder: Path | str) -> str:
    """The hex sha256 of a folder's files (what a manifest's ``sha256`` holds for a generated artifact).

    Over the files sorted by relative POSIX path, each as ``path NUL size NUL contents``; reef's own
    marker files are left out and symbolic links are refused.
    """
    return _tree_digest(Path(folder))[0]


# ---------------------------------------------------------------------------------------------
# Fetching


class _Fetcher:
    """One fetch: the artifacts section, where the cache is, and how to reach the network."""

    def __init__(
        self,
        artifacts: dict[str, dict],
        cache_dir: Path | None,
        progress: Progress | None,
        offline: bool,
        manifest_path: Path | str | None,
        timeout: float,
    ):
        self.artifacts = artifacts
        self.cache = Path(cache_dir) if cache_dir is not None else reef_home() / "cache"
        self.progress = progress
        self.offline = offline
        self.manifest_path = Path(manifest_path) if manifest_path is not None else None
        self.timeout = timeout
        self.max_download = MAX_DOWNLOAD

    # -- the spec ------------------------------------------------------------------------------

    def where(self, name: str, key: str = "") -> str:
        """How messages name an artifact (or one of its fields): the manifest's JSON pointer when known."""
        if self.manifest_path is not None:
            return f"{self.manifest_path}: /artifacts/{pointer_token(name)}" + (f"/{key}" if key else "")
        return f"artifact '{name}'"

    def spec(self, name: str) -> dict:
        if name not in self.artifacts:
            raise ArtifactError(
                f"{self.where(name)}: no such artifact (known: {', '.join(sorted(self.artifacts)) or 'none'})"
            )
        return self.artifacts[name]

    def urls(self, name: str, spec: dict) -> list[str]:
        """The spec's URLs, checked and resolved; a download without sha256 is refused."""
        urls = [self.resolve_url(name, url) for url in spec_urls(spec)]
        if urls and not spec.get("sha256"):
            raise ArtifactError(
                f"{self.where(name, 'sha256')}: refused to download {urls[0]} without a sha256: every download "
                "must be verified"
            )
        if not urls and "generate" not in spec and not spec.get("supplied"):
            raise ArtifactError(f"{self.where(name)}: needs 'url', 'urls', 'generate' or 'supplied'")
        return urls

    def resolve_url(self, name: str, url: str) -> str:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            if not parts.netloc:
                raise ArtifactError(f"{self.where(name, 'url')}: '{url}' has no host")
            return url
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ArtifactError(f"{self.where(name, 'url')}: '{url}': file URLs must name a local path")
            path = Path(url2pathname(parts.path))
            if path.is_absolute():
                return path.resolve().as_uri()
            if self.manifest_path is None:
                return (Path.cwd() / path).resolve().as_uri()
            try:  # a relative file: URL names a file of the solution
                return resolve_inside(self.manifest_path.parent, path).as_uri()
            except PathOutside as error:
                raise ArtifactError(f"{self.where(name, 'url')}: {error}") from None
        raise ArtifactError(f"{self.where(name, 'url')}: '{url}': only http, https and file URLs are allowed")

    def check_chain(self, name: str) -> None:
        """Every artifact on ``name``'s fallback chain exists and the chain has no cycle."""
        chain = [name]
        spec = self.spec(name)
        while "fallback" in spec:
            following = spec["fallback"]
            if following in chain:
                raise ArtifactError(
                    f"{self.where(chain[-1], 'fallback')}: fallback cycle: {' -> '.join([*chain, following])}"
                )
            if following not in self.artifacts:
                raise ArtifactError(f"{self.where(chain[-1], 'fallback')}: no artifact '{following}' to fall back to")
            chain.append(following)
            spec = self.artifacts[following]

    # -- the whole fetch ---------------------------------------------------------------------------

    def fetch(self, name: str, chain: tuple[str, ...]) -> ArtifactResult:
        spec = self.spec(name)
        urls = self.urls(name, spec)
        if spec.get("supplied") and not urls and "generate" not in spec:
            cached = self.cached(name, spec)
            if cached is None:
                raise ArtifactError(f"{self.where(name)}: {supply_instruction(name, spec)}")
            return cached
        failures: list[tuple[str, str]] = []
        skipped = False
        if urls:
            cached = self.cached(name, spec)
            if cached is not None:
                return cached
            reachable = [url for url in urls if not self.offline or url.startswith("file:")]
            skipped = len(reachable) < len(urls)
            for url in reachable:
                try:
                    return self.download(name, spec, url)
                except ArtifactUnavailable as error:
                    log.warning("%s", error)
                    failures.extend(error.failures)
        own = _unavailable_message(self.where(name), failures, skipped)
        if "fallback" in spec:
            following = spec["fallback"]
            if following in chain or following == name:  # check_chain makes this unreachable; kept as a guard
                raise ArtifactError(
                    f"{self.where(name, 'fallback')}: fallback cycle: {' -> '.join([*chain, name, following])}"
                )
            log.info("%s: using fallback '%s'", self.where(name), following)
            try:
                result = self.fetch(following, (*chain, name))
            except ArtifactUnavailable as error:
                if "generate" not in spec:
                    raise ArtifactUnavailable(f"{own}; fallback {error}", [*failures, *error.failures]) from None
            else:
                source = result.source if result.source.startswith("fallback:") else f"fallback:{following}"
                return replace(result, name=name, source=source)
        if "generate" in spec:
            return self.generate(name, spec, generate_only=not urls)
        raise ArtifactUnavailable(own, failures)

    def place(self, name: str, result: ArtifactResult) -> ArtifactResult:
        """A link at the spec's ``path`` in the solution folder to the verified artifact (a copy where links fail)."""
        spec = self.spec(name)
        if not spec.get("path") or self.manifest_path is None:
            return result
        relative = Path(spec["path"])
        if not is_plain_path(spec["path"]):
            raise ArtifactError(
                f"{self.where(name, 'path')}: '{spec['path']}' must be a relative path inside the solution folder"
            )
        try:
            parent = resolve_inside(self.manifest_path.parent, relative.parent)
        except PathOutside as error:
            raise ArtifactError(f"{self.where(name, 'path')}: {error}") from None
        target = parent / relative.name
        if target.is_symlink() and target.resolve() == result.path.resolve():
            return replace(result, path=target)
        if target.exists() and not target.is_symlink() and (target.is_dir() or file_sha256(target) != result.sha256):
            raise ArtifactError(f"{self.where(name, 'path')}: {target} exists and is not this artifact: move it away")
        parent.mkdir(parents=True, exist_ok=True)
        temporary = parent / f".{relative.name}.{uuid.uuid4().hex}.tmp"
        try:
            try:
                os.symlink(result.path, temporary, target_is_directory=result.path.is_dir())
            except OSError:  # a file system without links
                (shutil.copytree if result.path.is_dir() else shutil.copyfile)(result.path, temporary)
            os.replace(temporary, target)
        except BaseException:
            if temporary.is_dir() and not temporary.is_symlink():
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                temporary.unlink(missing_ok=True)
            raise
        log.info("%s: placed at %s", self.where(name), target)
        return replace(result, path=target)

    # -- the cache ---------------------------------------------------------------------------------

    def folder(self, spec: dict) -> Path:
        return self.cache / "sha256" / spec["sha256"].lower()

    def generated_folder(self, name: str) -> Path:
        return self.cache / "generated" / name

    def find_cached(self, spec: dict) -> Path | None:
        """The cached unpacked folder or downloaded file for ``spec``, without touching it."""
        folder = self.folder(spec)
        if spec.get("unpack"):
            unpacked = _unpacked_in(folder, spec["sha256"].lower())
            if unpacked is not None:
                return unpacked
        return _cached_file(folder)

    def cached(self, name: str, spec: dict) -> ArtifactResult | None:
        """The cached artifact (unpacking a cached archive when needed), or None."""
        folder = self.folder(spec)
        expected = spec["sha256"].lower()
        if spec.get("unpack"):
            unpacked = _unpacked_in(folder, expected)
            if unpacked is not None:
                marker = _read_marker(unpacked / UNPACKED_MARKER) or {}
                return ArtifactResult(name, unpacked, expected, int(marker.get("size", 0)), "cache")
        path = _cached_file(folder)
        if path is None:
            return None
        size = path.stat().st_size
        if "size" in spec and size != spec["size"]:
            raise ArtifactError(
                f"{self.where(name, 'size')}: the cached file {path} with this sha256 has {size} bytes, the "
                f"manifest says {spec['size']}"
            )
        log.debug("%s: cached at %s", self.where(name), path)
        return self.finish(name, spec, path, "cache", None)

    def finish(self, name: str, spec: dict, path: Path, source: str, url: str | None) -> ArtifactResult:
        expected = spec["sha256"].lower()
        size = path.stat().st_size
        if spec.get("unpack"):
            path = unpack_archive(path, path.parent / _unpacked_name(path.name), sha256=expected)
        return ArtifactResult(name, path, expected, size, source, url)

    # -- downloading ------------------------------------------------------------------------------

    def download(self, name: str, spec: dict, url: str) -> ArtifactResult:
        expected = spec["sha256"].lower()
        size = spec.get("size")
        folder = self.folder(spec)
        filename = _filename(url, name)
        with locked_file(self.cache / "locks" / f"{expected}.lock"):
            cached = self.cached(name, spec)  # another process may have finished it meanwhile
            if cached is not None:
                return cached
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f"{filename}.part"
            for other in folder.glob("*.part"):  # left by a process that was killed: resumed, whatever its mirror
                if other == part:
                    continue
                if part.exists():
                    other.unlink()
                else:
                    other.replace(part)
            try:
                digest, length = self.transfer_resuming(name, url, part, size)
                if length != size and size is not None:
                    raise ArtifactError(
                        f"{self.where(name)}: {url}: size mismatch: expected {size} bytes, got {length}"
                    )
                if digest != expected:
                    raise ArtifactError(
                        f"{self.where(name)}: {url}: sha256 mismatch: expected {expected}, got {digest}"
                    )
            except BaseException:  # any failure, an interruption by the user too: nothing of it is kept
                part.unlink(missing_ok=True)
                _remove_if_empty(folder)
                raise
            final = folder / filename
            os.replace(part, final)
            log.info("%s: downloaded %s (%d bytes, sha256 verified)", self.where(name), url, length)
            return self.finish(name, spec, final, "download", url)

    def transfer_resuming(self, name: str, url: str, part: Path, size: int | None) -> tuple[str, int]:
        """``transfer``, resumed while each attempt makes progress, up to RESUME_ATTEMPTS times."""
        attempts = 0
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                return self.transfer(name, url, part, size)
            except TransferInterrupted as error:
                after = part.stat().st_size if part.exists() else 0
                attempts += 1
                if after <= before or attempts > RESUME_ATTEMPTS:
                    reason = f"interrupted after {after} bytes ({error})"
                    raise ArtifactUnavailable(f"{self.where(name)}: {url}: {reason}", [(url, reason)]) from None
                log.warning("%s: %s: interrupted after %d bytes (%s); resuming", self.where(name), url, after, error)

    def transfer(self, name: str, url: str, part: Path, size: int | None) -> tuple[str, int]:
        """Stream ``url`` into ``part`` (resuming what it holds); return its sha256 and length.

        At most ``size`` bytes (or ``max_download`` when the manifest declares no size) are written:
        the byte after them stops the transfer with an ArtifactError.
        """
        limit = size if size is not None else self.max_download
        offset = part.stat().st_size if part.exists() else 0
        if offset > limit:
            part.unlink()
            offset = 0
        stream, start, length = self.open(name, url, offset)
        with stream:
            hasher = hashlib.sha256()
            if start:
                log.info("%s: resuming %s at byte %d", self.where(name), url, start)
                with open(part, "rb") as handle:
                    for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                        hasher.update(chunk)
            elif offset:
                log.info("%s: %s did not resume at byte %d; starting again", self.where(name), url, offset)
            total = start + length if length is not None else size
            if total is not None and total > limit:
                raise ArtifactError(self.too_large(name, url, size, limit, f"it announces {total} bytes"))
            done = start
            with open(part, "ab" if start else "wb") as out:
                self.report(done, total)
                while True:
                    try:
                        chunk = stream.read1(min(CHUNK_SIZE, limit + 1 - done))  # what has arrived: a stall keeps it
                    except (OSError, HTTPException) as error:  # a read timeout too
                        raise TransferInterrupted(_reason(error)) from None
                    if not chunk:
                        break
                    done += len(chunk)
                    if done > limit:
                        raise ArtifactError(self.too_large(name, url, size, limit, "got more"))
                    out.write(chunk)
                    hasher.update(chunk)
                    self.report(done, total)
                out.flush()
                os.fsync(out.fileno())
        if total is not None and done < total:
            raise TransferInterrupted(f"got {done} of {total} bytes")
        return hasher.hexdigest(), done

    def open(self, name: str, url: str, offset: int) -> tuple[IO[bytes], int, int | None]:
        """The source as a stream, the byte it starts at (``offset`` when the server resumed there, else 0)
        and the number of bytes it announces, when it does. A ``file:`` URL must name a regular file."""
        if url.startswith("file:"):
            return self.open_file(name, url)
        headers = {"User-Agent": _USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = _OPENER.open(Request(url, headers=headers), timeout=self.timeout)
        except HTTPError as error:
            error.close()
            if error.code == 416 and offset:  # the range is past the end: start again
                return self.open(name, url, 0)
            reason = f"HTTP {error.code} {error.reason}"
            raise ArtifactUnavailable(f"{self.where(name)}: {url}: {reason}", [(url, reason)]) from None
        except (OSError, HTTPException, ValueError) as error:
            reason = _reason(error)
            raise ArtifactUnavailable(f"{self.where(name)}: {url}: {reason}", [(url, reason)]) from None
        resumed = offset and response.status == 206 and _range_start(response.headers.get("Content-Range")) == offset
        length = response.headers.get("Content-Length")
        return response, offset if resumed else 0, int(length) if length and length.isdigit() else None

    def open_file(self, name: str, url: str) -> tuple[IO[bytes], int, int | None]:
        path = Path(url2pathname(urlsplit(url).path))
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        try:  # non-blocking, so that a FIFO without a writer does not hang the open
            descriptor = os.open(path, flags)
        except OSError as error:
            reason = _reason(error)
            raise ArtifactUnavailable(f"{self.where(name)}: {url}: {reason}", [(url, reason)]) from None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise ArtifactError(
                    f"{self.where(name, 'url')}: {url}: not a regular file (a device, FIFO, socket or folder): refused"
                )
            os.set_blocking(descriptor, True)
            return os.fdopen(descriptor, "rb"), 0, info.st_size
        except BaseException:
            os.close(descriptor)
            raise

    def too_large(self, name: str, url: str, size: int | None, limit: int, what: str) -> str:
        if size is not None:
            return f"{self.where(name, 'size')}: {url}: size mismatch: expected {size} bytes, {what}"
        return (
            f"{self.where(name)}: {url}: larger than {limit} bytes ({what}), the limit for a download without "
            "a declared "
            f"'size' (set {MAX_DOWNLOAD_VARIABLE}, e.g. 50GiB, or declare the size)"
        )

    def report(self, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(done, total)

    # -- generating --------------------------------------------------------------------------------

    def generate(self, name: str, spec: dict, generate_only: bool) -> ArtifactResult:
        """Run the spec's entry point into ``cache/generated/<name>/``; reuse a complete earlier run.

        A generate-only artifact's ``sha256`` and ``size`` are those of the generated files and are
        verified; an artifact that also has URLs declares the download's, so they are not compared.
        """
        entry = spec["generate"]
        target = self.generated_folder(name)
        expected = spec.get("sha256") if generate_only else None
        size = spec.get("size") if generate_only else None
        with locked_file(self.cache / "locks" / f"generated-{name}.lock"):
            marker = _generated_marker(target, spec, generate_only)
            if marker is not None:
                log.debug("%s: generated earlier in %s", self.where(name), target)
                return ArtifactResult(name, target, marker["sha256"], int(marker["size"]), "cache")
            function = self.entry_point(name, entry)
            if target.exists():  # an incomplete or outdated earlier run
                shutil.rmtree(target)
            target.mkdir(parents=True)
            try:
                try:
                    function(target, **{})
                except Exception as error:
                    raise ArtifactError(
                        f"{self.where(name, 'generate')}: {entry} failed: {type(error).__name__}: {error}"
                    ) from error
                digest, total, count = _tree_digest(target)
                if count == 0:
                    raise ArtifactError(f"{self.where(name, 'generate')}: {entry} made no files in {target}")
                if expected and digest != expected.lower():
                    raise ArtifactError(
                        f"{self.where(name, 'sha256')}: files made by {entry}: sha256 mismatch: expected "
                        f"{expected}, got {digest}"
                    )
                if size is not None and total != size:
                    raise ArtifactError(
                        f"{self.where(name, 'size')}: files made by {entry}: size mismatch: expected {size} "
                        f"bytes, got {total}"
                    )
                marker_data = {"generate": entry, "sha256": digest, "size": total, "files": count}
                (target / GENERATED_MARKER).write_text(json.dumps(marker_data) + "\n", encoding="utf-8")
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        log.info("%s: generated %d files (%d bytes) by %s", self.where(name), count, total, entry)
        return ArtifactResult(name, target, digest, total, "generate")

    def entry_point(self, name: str, entry: str) -> Callable[..., Any]:
        """Import ``module:function``, with the solution's folder on ``sys.path`` while importing."""
        module_name, _, function_name = entry.partition(":")
        if not module_name or not function_name:
            raise ArtifactError(f"{self.where(name, 'generate')}: '{entry}' is not 'module:function'")
        folder = str(self.manifest_path.parent.resolve()) if self.manifest_path is not None else None
        added = folder is not None and folder not in sys.path
        if added:
            sys.path.insert(0, folder)
        try:
            function = load_object(entry)
        except Exception as error:
            raise ArtifactError(
                f"{self.where(name, 'generate')}: cannot load {entry}: {type(error).__name__}: {error}"
            ) from error
        finally:
            if added:
                sys.path.remove(folder)
        if not callable(function):
            raise ArtifactError(f"{self.where(name, 'generate')}: {entry} is not callable")
        return function


# ---------------------------------------------------------------------------------------------
# Small helpers


def _unavailable_message(where: str, failures: list[tuple[str, str]], skipped: bool) -> str:
    """One line saying why no URL of an artifact answered."""
    parts = [f"{url}: {reason}" for url, reason in failures]
    if skipped:
        parts.append("offline: http(s) URLs skipped and not in the cache")
    if not parts:
        return f"{where}: no URL to download from"
    return f"{where}: " + "; ".join(parts)


def _copy_hashing(source: Path, writing: IO[bytes]) -> tuple[str, int]:
    """Copy ``source`` into ``writing``, hashing what is copied: (sha256, size) of the bytes written."""
    hasher, size = hashlib.sha256(), 0
    with open(source, "rb") as reading:
        for chunk in iter(lambda: reading.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
            writing.write(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _filename(url: str, name: str) -> str:
    """A safe file name for a download: the URL's last path component, else the artifact's name."""
    last = unquote(urlsplit(url).path).rstrip("/").rsplit("/", 1)[-1]
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", last).lstrip(".")[:200]
    if not clean or clean.endswith(".part"):
        clean = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:200] or "artifact"
    return clean


def _unpacked_name(filename: str) -> str:
    lower = filename.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return f"{filename}.unpacked"


def _cached_file(folder: Path) -> Path | None:
    """The verified download in a sha256 folder: only verified files are ever renamed there."""
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and not path.is_symlink()
            and not path.name.startswith(".")
            and not path.name.endswith(".part")
        ):
            return path
    return None


def _unpacked_in(folder: Path, sha256: str) -> Path | None:
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        if path.is_dir() and not path.name.startswith("."):
            marker = _read_marker(path / UNPACKED_MARKER)
            if marker is not None and marker.get("sha256") == sha256:
                return path
    return None


def _generated_marker(target: Path, spec: dict, generate_only: bool) -> dict | None:
    """The marker of a complete earlier generation that still matches ``spec``, or None."""
    marker = _read_marker(target / GENERATED_MARKER)
    if marker is None or marker.get("generate") != spec.get("generate"):
        return None
    if generate_only and spec.get("sha256") and marker.get("sha256") != spec["sha256"].lower():
        return None
    return marker


def _read_marker(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tree_digest(folder: Path) -> tuple[str, int, int]:
    """(sha256, total bytes, file count) of a folder's files; see ``tree_sha256``."""
    files: list[tuple[str, Path]] = []
    for directory, folders, names in os.walk(folder):
        for entry in [*folders, *names]:
            path = Path(directory, entry)
            if path.is_symlink():
                raise ArtifactError(f"{path}: symbolic links are not allowed in an artifact")
        for entry in names:
            path = Path(directory, entry)
            relative = path.relative_to(folder).as_posix()
            if relative not in _MARKERS:
                files.append((relative, path))
    hasher = hashlib.sha256()
    total = 0
    for relative, path in sorted(files):
        size = path.stat().st_size
        hasher.update(f"{relative}\0{size}\0".encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda handle=handle: handle.read(CHUNK_SIZE), b""):
                hasher.update(chunk)
        total += size
    return hasher.hexdigest(), total, len(files)


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    text = str(reason if reason is not None else error) or type(error).__name__
    return text.splitlines()[0] if text else type(error).__name__


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
