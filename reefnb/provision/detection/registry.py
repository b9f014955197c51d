"""Which detectors there are: the built-ins, then the plugins other distributions register under the entry-point
group ``reefnb.detectors`` (loaded through ``reefnb.common.plugins``; a broken one is logged and skipped).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from reefnb.common.plugins import entry_point_values, load_plugins
from reefnb.provision.detection.base import DetectContext, Detector
from reefnb.provision.detection.cache import CACHE_FORMAT, cache_path, write_cache
from reefnb.provision.detection.detectors import BUILTIN_DETECTORS
from reefnb.provision.detection.stamps import file_stamp, folder_stamp

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "reefnb.detectors"


def plugin_detectors() -> dict[str, Detector]:
    """Detectors registered by other distributions under the entry-point group ``reefnb.detectors``.

    An entry point names a Detector class or instance. One that cannot be loaded is logged as a
    warning and skipped; so is one whose name a built-in or an earlier plugin already has.
    """
    found: dict[str, Detector] = {}
    for plugin in load_plugins(ENTRY_POINT_GROUP, _named_detector, _detector_entry_points()):
        name, detector = plugin.loaded
        if name in BUILTIN_DETECTORS or name in found:
            log.warning(
                "skipping detector plugin %s = %s: a detector named %r exists already", plugin.name, plugin.value, name
            )
            continue
        found[name] = detector
    return found


def _named_detector(entry_name: str, loaded: Any) -> tuple[str, Detector]:
    """(name, detector) of what an entry point names: a Detector class (instantiated) or instance."""
    detector = loaded() if isinstance(loaded, type) else loaded
    if not callable(getattr(detector, "detect", None)):
        raise TypeError(f"{loaded!r} has no detect(context) method")
    name = getattr(detector, "name", None) or entry_name
    if not isinstance(name, str):
        raise TypeError(f"its name {name!r} is not a string")
    return name, detector


def _detector_entry_points() -> list[list[str]]:
    """[name, value] of each entry point of the group, cached while sys.path and its folders stay the same.

    Asking importlib.metadata reads every distribution's metadata: most of a warm ``detect()``.
    """
    path = cache_path(DetectContext()).with_name("entry-points.json")
    signature = json.loads(
        json.dumps(
            [[entry, *(folder_stamp(entry) if os.path.isdir(entry) else [file_stamp(entry)])] for entry in sys.path]
        )
    )
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("format") == CACHE_FORMAT and cached.get("signature") == signature:
            return cached["entry_points"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    found = [list(entry) for entry in entry_point_values(ENTRY_POINT_GROUP)]
    write_cache(path, {"format": CACHE_FORMAT, "signature": signature, "entry_points": found})
    return found


def available_detectors() -> dict[str, Detector]:
    """Every detector: built-ins first, then plugins."""
    return {**BUILTIN_DETECTORS, **plugin_detectors()}


def default_detector_names() -> list[str]:
    """The detectors ``detect()`` runs when given no names (those not ``on_request_only``)."""
    return [name for name, detector in available_detectors().items() if not getattr(detector, "on_request_only", False)]
