"""Plugins: the one loader of entry points (``importlib.metadata``), as papermill loads its engines.

A distribution registers a plugin under a group in its metadata (``[project.entry-points."reefnb.detectors"]``
``name = "module:attribute"``). ``load_plugins`` loads every entry point of a group; one that cannot be
imported, or that its caller's ``make`` refuses, is logged as a warning that names it and skipped, and the
others still load: a broken plugin never breaks reef.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plugin:
    """A loaded entry point: its name, its value (``module:attribute``) and what ``make`` made of what it names."""

    name: str
    value: str
    loaded: Any


def entry_point_values(group: str) -> list[tuple[str, str]]:
    """``(name, value)`` of each entry point of ``group`` the installed distributions declare (reads their metadata)."""
    return [(entry_point.name, entry_point.value) for entry_point in entry_points(group=group)]


def load_object(value: str) -> Any:
    """What an entry point's value names: a module (``module``) or an attribute path in it (``module:attr.path``)."""
    if EntryPoint.pattern.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not an entry point (module:attribute)")
    return EntryPoint(name=value, value=value, group="").load()


def load_plugins(
    group: str,
    make: Callable[[str, Any], Any] = lambda name, loaded: loaded,
    entries: Iterable[tuple[str, str]] | None = None,
) -> list[Plugin]:
    """Each entry point of ``group`` (or of ``entries``, ``(name, value)`` pairs a caller has cached) loaded, in order.

    ``make(name, loaded)`` turns what an entry point names into the plugin (an instance of a class, say) and
    raises when it is not one. A plugin whose import or ``make`` raises is logged and left out.
    """
    plugins = []
    for name, value in entry_point_values(group) if entries is None else entries:
        try:
            plugins.append(Plugin(name, value, make(name, load_object(value))))
        except Exception as error:  # a broken plugin must not break the others, nor reef
            log.warning("skipping %s plugin %s = %s: %s: %s", group, name, value, type(error).__name__, error)
    return plugins
