"""The results a package expects: the last recorded run's metrics, each with a tolerance (the manifest's, else
a default by kind: timings informational, integers exact, floats relative 1e-6)."""

from __future__ import annotations

import re
from typing import Any

DEFAULT_FLOAT_TOLERANCE = {"rel": 1e-6}


def expectations_from_records(data: dict, records: list[dict]) -> list[dict]:
    """The manifest's expectations, with the last recorded run's metrics replacing or joining them.

    An expectation the author named (``id``) is never replaced: claims refer to it.
    """
    expected = [dict(entry) for entry in data.get("expected", [])]
    if not records:
        return expected
    last = records[-1]
    declared = {metric["name"]: metric for metric in data.get("metrics", [])}
    metrics = {}
    for name, metric in sorted(last["metrics"].items()):
        if metric.get("value") is None:
            continue
        entry: dict[str, Any] = {"value": metric["value"]}
        if metric.get("unit"):
            entry["unit"] = metric["unit"]
        entry["tolerance"] = declared.get(name, {}).get("tolerance") or default_tolerance(
            name, metric["value"], metric.get("unit")
        )
        metrics[name] = entry
    if not metrics:
        return expected
    new = {"workflow": last["workflow"], "parameters": last["parameters"], "metrics": metrics}
    same = [
        entry
        for entry in expected
        if entry.get("workflow", "run") == last["workflow"] and entry.get("parameters", {}) == last["parameters"]
    ]
    if any("id" in entry for entry in same):  # the author's own expectation (a claim may cite it) stands
        return expected
    return [entry for entry in expected if entry not in same] + [new]


def default_tolerance(name: str, value: Any, unit: str | None = None) -> dict:
    """Timings are informational, integers (and anything not a float) exact, floats relative 1e-6."""
    lowered, unit = name.lower(), (unit or "").lower()
    if (
        "time" in lowered
        or re.search(r"(^|_)(ms|s|sec|seconds)$", lowered)
        or unit in ("ms", "s", "sec", "seconds", "us", "ns")
    ):
        return {"informational": True}
    if isinstance(value, float):
        return dict(DEFAULT_FLOAT_TOLERANCE)
    return {"abs": 0}


def tolerance_text(tolerance: dict) -> str:
    if tolerance.get("informational"):
        return " (informational)"
    parts = []
    if "abs" in tolerance:
        parts.append(f"± {tolerance['abs']:g}")
    if "rel" in tolerance:
        parts.append(f"± {tolerance['rel']:g} relative")
    return f" {' or '.join(parts)}" if parts else " exactly"
