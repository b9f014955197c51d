"""``detect()``: the fingerprint ``{detector name: data}`` of this machine and one python environment, each
detector's result taken from the cache while its signature holds, the others run (at the same time when there
are several); and the questions other stages ask of an environment through it (packages, modules, version).
"""

from __future__ import annotations

import json
import logging
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.provision.detection.base import DetectContext, Detector
from reefnb.provision.detection.cache import CACHE_FORMAT, cache_holds, cache_path, read_cache, write_cache
from reefnb.provision.detection.detectors import BUILTIN_DETECTORS
from reefnb.provision.detection.registry import available_detectors

log = logging.getLogger(__name__)


def detect(
    names: list[str] | None = None, python: str | None = None, env_name: str | None = None, refresh: bool = False
) -> dict:
    """The fingerprint ``{detector name: data}`` of this machine and of one python environment.

    A detector that fails is logged and left out. A detector's result is cached (in
    ``$REEF_HOME/cache/detect``) while its ``signature`` stays the same.

    Parameters
    ----------
    names
        The detectors to run (default: all but the on-request ones).
    python
        The environment's interpreter (default: this one).
    env_name
        The environment's name, as the ``environment`` detector reports it.
    refresh
        Ignore the cache.

    Returns
    -------
    dict
        Detector name -> its data, in the order of ``names``.

    Raises
    ------
    ReefError
        When ``names`` names an unknown detector, or ``python`` is missing or cannot be run.
    """
    context = DetectContext(python or sys.executable, env_name)
    names, registry = _chosen_detectors(names)
    path = cache_path(context)
    cache = {} if refresh else read_cache(path, context)
    context._cached_facts = cache.get("facts")
    if not context.is_current:
        context.facts()  # a missing or broken interpreter is the user's error: say so now (ReefError)
    entries: dict[str, dict] = dict(cache.get("detectors", {}))
    signatures = {name: _signature_of(registry[name], context) for name in names}
    results = {name: entries[name]["data"] for name in names if cache_holds(entries.get(name), signatures[name])}
    computed = _run_detectors([name for name in names if name not in results], registry, context)
    changed = _keep_detected(computed, registry, context, signatures, results, entries) or refresh
    facts = context._facts
    if changed or (facts is not None and facts != cache.get("facts")):
        write_cache(
            path,
            {
                "format": CACHE_FORMAT,
                "identity": context.identity,
                "python": context.python,
                "facts": facts or cache.get("facts"),
                "detectors": entries,
            },
        )
    return {name: results[name] for name in names if name in results}


def _chosen_detectors(names: list[str] | None) -> tuple[list[str], dict[str, Any]]:
    """The detectors ``detect`` runs (default: all but the on-request ones) and the registry they come from."""
    if names is None:
        registry = available_detectors()
        return [
            name for name, detector in registry.items() if not getattr(detector, "on_request_only", False)
        ], registry
    names = list(dict.fromkeys(names))
    registry = BUILTIN_DETECTORS if all(name in BUILTIN_DETECTORS for name in names) else available_detectors()
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ReefError(f"unknown detector {', '.join(map(repr, unknown))} (known: {', '.join(sorted(registry))})")
    return names, registry


def _run_detectors(stale: list[str], registry: dict[str, Any], context: DetectContext) -> dict[str, Any]:
    """Run the detectors the cache could not answer, at the same time when there are several (``_FAILED`` for a
    failure)."""
    if len(stale) == 1:
        return {stale[0]: _run_detector(registry[stale[0]], context)}
    if not stale:
        return {}
    with ThreadPoolExecutor(max_workers=len(stale), thread_name_prefix="reef-detect") as pool:
        return dict(zip(stale, pool.map(lambda name: _run_detector(registry[name], context), stale), strict=True))


def _keep_detected(
    computed: dict[str, Any],
    registry: dict[str, Any],
    context: DetectContext,
    signatures: dict,
    results: dict,
    entries: dict,
) -> bool:
    """Add what the detectors found to ``results``, and to the cache's ``entries`` where its signature is known; whether
    the cache changed."""
    changed = False
    for name, data in computed.items():
        if data is _FAILED:
            continue
        results[name] = data
        # A signature unknown before detection (e.g. an environment seen for the first time) may be known now.
        signature = signatures[name] if signatures[name] is not None else _signature_of(registry[name], context)
        if signature is not None:
            entries[name] = {"signature": signature, "data": json.loads(json.dumps(data))}
            changed = True
    return changed


_FAILED = object()


def _run_detector(detector: Detector, context: DetectContext) -> Any:
    try:
        data = detector.detect(context)
        json.dumps(data)
    except ReefError as error:
        log.warning("detector %s: %s", detector.name, error)
        return _FAILED
    except Exception as error:  # one detector's bug must not hide the others' facts
        log.warning(
            "detector %s failed: %s: %s",
            getattr(detector, "name", detector),
            type(error).__name__,
            error,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return _FAILED
    return data


def _signature_of(detector: Detector, context: DetectContext) -> Any:
    method = getattr(detector, "signature", None)
    if method is None:
        return None
    try:
        signature = method(context)
        # As it will read back from the cache (tuples become lists).
        return None if signature is None else json.loads(json.dumps(signature))
    except ReefError as error:
        log.warning("detector %s: %s", detector.name, error)
    except Exception as error:
        log.warning(
            "detector %s: cannot tell whether its cached result is current: %s: %s",
            getattr(detector, "name", detector),
            type(error).__name__,
            error,
        )
    return None


def environment_packages(python: str | None = None, refresh: bool = False) -> dict[str, str]:
    """``{distribution name: version}`` of an environment (default: this python), cached like ``detect``."""
    return detect(["packages"], python=python, refresh=refresh).get("packages", {})


def environment_modules(python: str | None = None, refresh: bool = False) -> dict[str, list[str]]:
    """``{top-level import name: [distribution names]}`` of an environment (default: this python), cached like
    ``detect``."""
    return detect(["modules"], python=python, refresh=refresh).get("modules", {})


def python_version(python: str | None = None) -> str:
    """The version (e.g. ``3.11.7``) of an environment's python (default: this one)."""
    if python is None or DetectContext(python).is_current:
        return platform.python_version()
    return detect(["environment"], python=python)["environment"]["version"]
