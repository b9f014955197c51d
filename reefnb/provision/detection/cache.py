"""The detection cache: one JSON file per environment under ``$REEF_HOME/cache/detect``, each detector's result
kept with the signature it was detected under.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from reefnb.common.files import write_text_atomically
from reefnb.common.paths import reef_home
from reefnb.provision.detection.base import DetectContext

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def cache_path(context: DetectContext | None = None) -> Path:
    """Where ``detect`` keeps the fingerprint of the context's environment."""
    context = context or DetectContext()
    key = hashlib.sha256(context.identity.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return reef_home() / "cache" / "detect" / f"{key}.json"


def read_cache(path: Path, context: DetectContext) -> dict:
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.info("ignoring the unreadable detection cache %s: %s", path, error)
        return {}
    if not isinstance(cache, dict) or cache.get("format") != CACHE_FORMAT or cache.get("identity") != context.identity:
        return {}
    if not isinstance(cache.get("detectors"), dict):
        return {}
    return cache


def write_cache(path: Path, cache: dict) -> None:
    try:
        write_text_atomically(path, json.dumps(cache))
    except OSError as error:
        log.warning("cannot write the detection cache %s: %s", path, error)


def cache_holds(entry: dict | None, signature: Any) -> bool:
    """Whether a cached entry is still this detector's answer: its signature is known and has not changed."""
    return signature is not None and entry is not None and entry.get("signature") == signature
