"""Byte sizes, the one formatter and the one parser: ``format_size(1536) == "1.5 KiB"`` and ``parse_size("1.5K") == 1536``.

Sizes people set (``REEF_MAX_DOWNLOAD``, ``REEF_MAX_ATTACHED``, ``--max-output``, ``--files-limit``) are read by
``parse_size``; every byte count reef shows (artifacts, attached files, environments, memory) is written by
``format_size``, in the binary units ``parse_size`` reads back.
"""

from __future__ import annotations

import re

from reefnb.common.exceptions import ArtifactError

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?", re.IGNORECASE)
_UNITS = ("B", "KiB", "MiB", "GiB")


def parse_size(text: str, origin: str = "size") -> int:
    """Bytes from ``500M``, ``2GiB``, ``1.5G`` or ``1048576``: K/M/G/T are powers of 1024 with or without ``i``.

    Raises ArtifactError (a ReefError) naming ``origin`` when ``text`` is not a size or too large a one.
    """
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ArtifactError(f"{origin}: {text[:40]!r} is not a size (examples: 500M, 2GiB, 1048576)")
    value = float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")
    if not value < 2**62:
        raise ArtifactError(f"{origin}: {text[:40]!r} is too large a size")
    return int(value)


def format_size(count: int) -> str:
    """A size as people read it, in the units ``parse_size`` takes: ``512 B``, ``1.5 KiB``, ``2.0 GiB``."""
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"
