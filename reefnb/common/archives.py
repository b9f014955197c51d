"""Safe extraction: the one extractor of zip and tar archives reef did not make (packages, artifacts, registries).

Every member is checked before anything is written, against one set of limits (``LIMITS``):

- names: no absolute path, no ``..`` component, no control character, at most ``max_name_bytes`` per folder
  or file and ``max_path_bytes`` in all; no two files whose names differ only in case (they would be one file
  on macOS and Windows), no file that is also a folder;
- kinds: regular files and folders only (no symbolic or hard link, device, fifo or socket), nothing encrypted;
- layout (zip): the members one after the other from the first byte, the central directory right after them and
  its end at the end of the file: nothing before, between or after them (two zips joined, a zip appended to
  another file: readers would disagree on what it holds) and no two members sharing bytes;
- amounts: at most ``max_members`` members, and at most ``max_ratio`` times the archive's size uncompressed,
  counted from the sizes the archive declares and again from the bytes that come out (a lying header stops
  the extraction at the limit).

A refusal raises ArchiveError, one line ``ARCHIVE: member 'NAME': why``; callers raise it again as their own
error. ``extract_archive`` writes into a folder the caller gives (a temporary one, from
``reefnb.common.files.replaced_folder``), so a refused archive leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reefnb.common.exceptions import ArchiveError

try:
    from lzma import LZMAError as _LZMAError
except ImportError:  # a Python built without lzma: tarfile then refuses .tar.xz itself
    _LZMAError = zlib.error  # type: ignore[misc,assignment]

ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip")
CHUNK_SIZE = 1 << 20
_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    zlib.error,
    _LZMAError,
    EOFError,
    ValueError,
)


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may hold. One set (``LIMITS``) serves packages, artifacts and registries."""

    max_members: int = 100_000  # datasets have many files (ImageNet's validation set: 50,000 images)
    max_ratio: float = 100.0  # uncompressed size as a multiple of the archive's: text compresses 3-10x, a bomb 1000x
    max_name_bytes: int = 255  # a file or folder name (NAME_MAX on Linux, macOS and Windows)
    max_path_bytes: int = 1024  # a member's whole name, leaving room under PATH_MAX for the target folder


LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class ExtractedArchive:
    """What ``extract_archive`` wrote: the number of members the archive has, the files' names (``a/b.txt``), and
    each file's sha256 (hex), taken as it was written (so that checking it reads no file again)."""

    members: int
    files: tuple[str, ...]
    sha256: dict[str, str] = field(default_factory=dict)


@dataclass
class _Member:
    raw: str  # the name as the archive has it
    parts: tuple[str, ...]  # normalised relative path
    is_dir: bool
    size: int
    executable: bool
    handle: Any  # TarInfo or ZipInfo

    @property
    def name(self) -> str:
        return "/".join(self.parts)


def extract_archive(
    archive: Path | str, target: Path | str, limits: ArchiveLimits = LIMITS, *, executables: bool = True
) -> ExtractedArchive:
    """Extract a zip or tar (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) archive into the folder ``target``, safely.

    ``target`` is created when missing; the caller gives an empty folder (see the module's docstring). Files
    are written 0o644, or 0o755 where the archive marks them executable and ``executables`` is true.
    Raises ArchiveError when a member is refused or the archive cannot be read or written out.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    budget = int(limits.max_ratio * archive.stat().st_size)
    try:
        if is_zip(archive):
            with zipfile.ZipFile(archive) as zipped:
                check_zip_layout(archive, zipped)
                members = _zip_members(archive, zipped, limits)
                checked = _check_members(archive, members, limits, budget)
                digests = _write_members(archive, target, checked, zipped.open, budget, executables)
        elif is_tar(archive):
            with tarfile.open(archive, "r:*") as tar:
                members = _tar_members(archive, tar, limits)
                checked = _check_members(archive, members, limits, budget)
                digests = _write_members(
                    archive, target, checked, lambda handle: _tar_stream(archive, tar, handle), budget, executables
                )
        else:
            raise ArchiveError(f"{archive}: not a zip or tar archive")
    except (*_READ_ERRORS, OSError) as error:
        raise ArchiveError(f"{archive}: cannot read the archive: {_reason(error)}") from None
    return ExtractedArchive(len(members), tuple(digests), digests)


def is_zip(archive: Path) -> bool:
    """Whether ``archive`` is read as a zip: by its suffix, else by its first bytes."""
    lower = archive.name.lower()
    if lower.endswith(".zip"):
        return True
    if lower.endswith(ARCHIVE_SUFFIXES):
        return False
    return zipfile.is_zipfile(archive)


def is_tar(archive: Path) -> bool:
    """Whether ``archive`` is read as a tar (compressed or not): by its suffix, else by its first bytes."""
    if archive.name.lower().endswith(tuple(suffix for suffix in ARCHIVE_SUFFIXES if suffix != ".zip")):
        return True
    try:
        return tarfile.is_tarfile(archive)
    except (OSError, tarfile.TarError, EOFError, ValueError):
        return False


# --- reading the members -----------------------------------------------------------------------------


def _zip_members(archive: Path, zipped: zipfile.ZipFile, limits: ArchiveLimits) -> list[_Member]:
    infos = zipped.infolist()
    if len(infos) > limits.max_members:
        raise ArchiveError(
            f"{archive}: member '{infos[limits.max_members].filename}': more than {limits.max_members} members"
        )
    members = []
    for info in infos:
        mode = (info.external_attr >> 16) if info.create_system == 3 else 0
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"{archive}: member '{info.filename}': is a symbolic link; links are not allowed")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ArchiveError(
                f"{archive}: member '{info.filename}': is a device, fifo or socket; special files are not allowed"
            )
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{archive}: member '{info.filename}': is encrypted")
        parts = _member_parts(archive, info.filename, limits)
        members.append(_Member(info.filename, parts, info.is_dir(), info.file_size, bool(mode & 0o100), info))
    return members


_JOINED = "a zip with data before or after it (two zips joined, a zip appended to another file) is refused"
_LOCAL_HEADER = struct.Struct(
    "<4s22xHH"
)  # signature, (version, flags, method, time, date, crc, sizes), name and extra lengths
_END = struct.Struct(
    "<4s4H2LH"
)  # signature, disk numbers and counts, central directory size and offset, comment length
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk, offset of the zip64 end record, disks
_ZIP64_END = struct.Struct(
    "<4sQ2H2L4Q"
)  # signature, record size, versions, disks, counts, central directory size and offset


def check_zip_layout(archive: Path, zipped: zipfile.ZipFile) -> None:
    """ArchiveError unless the zip's members lie one after the other from its first byte, its central directory
    right after the last and its end record at the end of the file (with its comment): no byte belongs to no
    member or to two. ``zipfile`` reads the last end record and skips whatever comes before the archive, so a
    file made of two zips joined would be read as the second, while other readers see the first."""
    size = archive.stat().st_size
    infos = sorted(zipped.infolist(), key=lambda info: info.header_offset)
    ends = [info.header_offset for info in infos[1:]] + [zipped.start_dir]  # where each member's bytes end
    with open(archive, "rb") as stream:
        position = 0
        for info, following in zip(infos, ends, strict=False):
            if info.header_offset != position:
                raise ArchiveError(_gap(archive, position, info.header_offset, f"member '{info.filename}'"))
            stream.seek(position)
            signature, name_length, extra_length = _LOCAL_HEADER.unpack(
                stream.read(_LOCAL_HEADER.size).ljust(_LOCAL_HEADER.size, b"\0")
            )
            if signature != b"PK\x03\x04":
                raise ArchiveError(
                    f"{archive}: member '{info.filename}': no member header where the archive's directory says"
                )
            position += _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
            if (
                info.flag_bits & 0x08
            ):  # a data descriptor follows: crc and sizes (4 or 8 bytes each), a signature or not
                stream.seek(position)
                start = 4 if stream.read(4) == b"PK\x07\x08" else 0
                stream.seek(position + start)
                if stream.read(4) != struct.pack("<L", info.CRC):
                    raise ArchiveError(f"{archive}: member '{info.filename}': no data descriptor after its data")
                position += next(
                    (length for length in (start + 12, start + 20) if position + length == following), start + 12
                )
        if position != zipped.start_dir:
            raise ArchiveError(_gap(archive, position, zipped.start_dir, "its directory"))
        _check_zip_end(archive, stream, size, zipped)


def _gap(archive: Path, position: int, start: int, what: str) -> str:
    """Why ``what`` does not start at ``position``, where the bytes before it end."""
    if start < position:
        return f"{archive}: {what}: shares {position - start} bytes with the member before it"
    if position == 0:
        return f"{archive}: {start} bytes before the archive: {_JOINED}"
    return f"{archive}: {what}: {start - position} bytes before it belong to no member"


def _check_zip_end(archive: Path, stream: IO[bytes], size: int, zipped: zipfile.ZipFile) -> None:
    """The central directory ends where the end record (or the zip64 end record) begins, and that ends the file."""
    end = size - _END.size - len(zipped.comment)
    stream.seek(max(end, 0))
    record = stream.read(_END.size)
    if (
        end < 0
        or len(record) != _END.size
        or record[:4] != b"PK\x05\x06"
        or _END.unpack(record)[7] != len(zipped.comment)
    ):
        raise ArchiveError(f"{archive}: data after the archive's end: {_JOINED}")
    _, _, _, _, _, directory_size, _, _ = _END.unpack(record)
    directory_end = end
    if end >= _ZIP64_LOCATOR.size:
        stream.seek(end - _ZIP64_LOCATOR.size)
        locator = _ZIP64_LOCATOR.unpack(stream.read(_ZIP64_LOCATOR.size))
        if locator[0] == b"PK\x06\x07":
            stream.seek(locator[2])
            zip64 = _ZIP64_END.unpack(stream.read(_ZIP64_END.size).ljust(_ZIP64_END.size, b"\0"))
            if zip64[0] != b"PK\x06\x06" or locator[2] + 12 + zip64[1] != end - _ZIP64_LOCATOR.size:
                raise ArchiveError(f"{archive}: its zip64 end record is not where its locator says")
            directory_end, directory_size = locator[2], zip64[8]
    if zipped.start_dir + directory_size != directory_end:
        raise ArchiveError(f"{archive}: its directory does not end where its end record begins")


def _tar_members(archive: Path, tar: tarfile.TarFile, limits: ArchiveLimits) -> list[_Member]:
    members = []
    for index, info in enumerate(tar):
        if index >= limits.max_members:
            raise ArchiveError(f"{archive}: member '{info.name}': more than {limits.max_members} members")
        if info.issym() or info.islnk():
            kind = "symbolic link" if info.issym() else "hard link"
            raise ArchiveError(
                f"{archive}: member '{info.name}': is a {kind} (to '{info.linkname}'); links are not allowed"
            )
        if info.ischr() or info.isblk() or info.isfifo():
            raise ArchiveError(f"{archive}: member '{info.name}': is a device or fifo; special files are not allowed")
        if not (info.isreg() or info.isdir()):
            raise ArchiveError(f"{archive}: member '{info.name}': unsupported member type {info.type!r}")
        parts = _member_parts(archive, info.name, limits)
        members.append(_Member(info.name, parts, info.isdir(), info.size, bool(info.mode & 0o100), info))
    return members


def _tar_stream(archive: Path, tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(info)
    if stream is None:
        raise ArchiveError(f"{archive}: member '{info.name}': cannot be read")
    return stream


def _member_parts(archive: Path, raw: str, limits: ArchiveLimits) -> tuple[str, ...]:
    """A member's path as safe relative components; refused: absolute, ``..``, control characters, too long."""
    text = raw.replace("\\", "/")
    if any(ord(character) < 32 for character in text):
        raise ArchiveError(f"{archive}: member {raw!r}: has a control character in its name")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise ArchiveError(f"{archive}: member '{raw}': is an absolute path")
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ArchiveError(f"{archive}: member '{raw}': has a '..' component and would escape the target")
    if any(_bytes(part) > limits.max_name_bytes for part in parts) or _bytes(text) > limits.max_path_bytes:
        raise ArchiveError(
            f"{archive}: member '{raw[:60]}...': a name longer than {limits.max_name_bytes} bytes per folder "
            f"or file or {limits.max_path_bytes} in all"
        )
    return parts


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _check_members(archive: Path, members: list[_Member], limits: ArchiveLimits, budget: int) -> list[_Member]:
    """Refuse duplicates (case aside, for files), a file used as a folder and a zip bomb; the members to extract."""
    seen: dict[tuple[str, ...], bool] = {}  # parts -> is a folder
    files_folded: set[str] = set()
    parents: set[tuple[str, ...]] = set()
    total = 0
    checked = []
    for member in members:
        if not member.parts:
            if member.is_dir:
                continue  # the archive's root, "./"
            raise ArchiveError(f"{archive}: member '{member.raw}': has an empty name")
        folded = member.name.casefold()
        if (member.parts in seen and not (member.is_dir and seen[member.parts])) or (
            not member.is_dir and folded in files_folded
        ):
            raise ArchiveError(f"{archive}: member '{member.name}': duplicate name")
        seen[member.parts] = member.is_dir
        if not member.is_dir:
            files_folded.add(folded)
        parents.update(member.parts[:index] for index in range(1, len(member.parts)))
        total += max(member.size, 0)
        if total > budget:
            raise ArchiveError(
                f"{archive}: member '{member.name}': the uncompressed size exceeds {limits.max_ratio:g}x the archive's "
                f"({budget} bytes): refusing a possible zip bomb"
            )
        checked.append(member)
    for parts, is_dir in seen.items():
        if not is_dir and parts in parents:
            raise ArchiveError(f"{archive}: member '{'/'.join(parts)}': is both a file and a folder")
    return checked


# --- writing them out --------------------------------------------------------------------------------


def _write_members(
    archive: Path,
    root: Path,
    members: list[_Member],
    open_member: Callable[[Any], IO[bytes]],
    budget: int,
    executables: bool,
) -> dict[str, str]:
    """Write checked members under ``root``; sizes are counted again as the bytes come out. Returns each file's sha256,
    by name, in the archive's order."""
    written = 0
    files = {}
    resolved_root = root.resolve()
    for member in members:
        destination = root.joinpath(*member.parts)
        if not destination.resolve().is_relative_to(resolved_root):
            raise ArchiveError(f"{archive}: member '{member.name}': would land outside the target")
        try:
            if member.is_dir:
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with open(destination, "xb") as out:
                for chunk in _chunks(archive, member, open_member):
                    digest.update(chunk)
                    written += len(chunk)
                    if written > budget:
                        raise ArchiveError(
                            f"{archive}: member '{member.name}': the uncompressed size exceeds the limit of "
                            f"{budget} bytes: refusing a possible zip bomb"
                        )
                    out.write(chunk)
            destination.chmod(0o755 if executables and member.executable else 0o644)
        except OSError as error:
            raise ArchiveError(
                f"{archive}: member '{member.name}': cannot be written into {root}: {error.strerror or error}"
            ) from None
        files[member.name] = digest.hexdigest()
    return files


def _chunks(archive: Path, member: _Member, open_member: Callable[[Any], IO[bytes]]) -> Iterator[bytes]:
    """The member's bytes; an error while reading or decompressing is the archive's, not the target's."""
    try:
        with open_member(member.handle) as source:
            while chunk := source.read(CHUNK_SIZE):
                yield chunk
    except (*_READ_ERRORS, OSError) as error:
        raise ArchiveError(f"{archive}: member '{member.name}': cannot be read: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "reason", None) or error) or type(error).__name__
    return text.splitlines()[0] if text.strip() else type(error).__name__
