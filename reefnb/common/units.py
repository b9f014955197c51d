"""Byte sizes, one formatter and one parser: ``format_size(1536) == "1.5 KiB"``, ``parse_size("1.5K") == 1536``.

Sizes people set (``REEF_MAX_DOWNLOAD``, ``REEF_MAX_ATTACHED``, ``--max-output``, ``--files-limit``) are read by
``parse_size``; every byte count reef shows (artifacts, attached files, environments, memory) is written by
``format_size``, in the binary units ``parse_size`` reads back.

A metric's value with its unit is written by ``format_metric`` (in the metric's declared format, else by
``format_decimal``: ``10,000 points``, ``0.563``): the dashboard page, ``reef pareto`` and the widgets show numbers so.
"""

from __future__ import annotations

import re
from numbers import Integral, Real
from typing import Any

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


def format_metric(value: Any, spec: dict) -> str:
    """A metric's value as text: in its ``format`` (a Python format spec) when it declares one, else as a number is
    read (``format_decimal``), with its ``unit``: "10,000 points", not "1e+04 points"."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if spec.get("format") and isinstance(value, Real) and not isinstance(value, bool):
        try:
            text = format(value, spec["format"])
        except (TypeError, ValueError):
            text = format_decimal(value)
    else:
        text = format_decimal(value)
    return text + (f" {spec['unit']}" if spec.get("unit") else "")


def format_decimal(value: Any) -> str:
    """A number in decimal notation with thousands separators: whole numbers whole (10,000), others to 4 significant
    digits (0.5630 as 0.563, 12,345.6 as 12,346); only a magnitude under 0.001 or from 1e15 in scientific notation."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return str(number)
    if abs(number) >= 1e15 or (number and abs(number) < 1e-3):
        return f"{number:.4g}"
    if isinstance(value, Integral) or number.is_integer():
        return f"{int(number):,}"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.4g}"
