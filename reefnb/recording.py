"""Recording metrics from inside a notebook, and reading them back from an executed notebook.

``record`` needs nothing but IPython in the kernel: it emits a display output of MIME type
``application/vnd.reef.record+json`` that any nbformat reader keeps and the executor reads back.
This module imports only the standard library so that it works in any environment.
"""

from __future__ import annotations

import math
from typing import Any

RECORD_MIME = "application/vnd.reef.record+json"


def record(name: str, value: Any, unit: str | None = None) -> None:
    """Record a metric (or any JSON value) of this run, shown as ``name = value unit``.

    NaN and infinities are kept (as ``{"value": null, "special": "nan"}`` in the notebook, which
    must stay valid JSON) and come back as floats.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("record: the name must be a non-empty string")
    if unit is not None and not isinstance(unit, str):
        raise ValueError("record: the unit must be a string or None")
    payload = {"name": name, **encode_value(value)}
    if unit is not None:
        payload["unit"] = unit
    shown = f"{name} = {value!r}" + (f" {unit}" if unit else "")
    try:
        from IPython.display import display
    except ImportError:  # plain python: nothing to record into, say so on stdout
        print(f"[reef] {shown}")
        return
    display({RECORD_MIME: payload, "text/plain": shown}, raw=True)


def encode_value(value: Any) -> dict:
    """A JSON-safe form of a metric value (numpy scalars and arrays become plain values)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    elif hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return {"value": None, "special": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    return {"value": _check_json(value)}


def decode_value(payload: dict) -> Any:
    special = payload.get("special")
    return float(special) if special in ("nan", "inf", "-inf") else payload.get("value")


def _check_json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_check_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _check_json(item) for key, item in value.items()}
    raise ValueError(f"record: cannot record a value of type {type(value).__name__}; use numbers, strings, lists or dicts")


def read_records(notebook) -> dict[str, dict]:
    """The metrics recorded in an executed notebook: name -> {value, unit, cell_index}; last wins.

    Values stay JSON-safe (a non-finite float is ``value: null`` plus ``special``); ``decode_value``
    turns an entry back into the Python value.
    """
    metrics: dict[str, dict] = {}
    for index, cell in enumerate(source_cells(notebook)):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = output.get("data", {}).get(RECORD_MIME) if output.get("output_type") in ("display_data", "execute_result") else None
            if isinstance(payload, dict) and isinstance(payload.get("name"), str):
                entry = {"value": payload.get("value"), "unit": payload.get("unit"), "cell_index": index}
                if payload.get("special") in ("nan", "inf", "-inf"):
                    entry["special"] = payload["special"]
                metrics[payload["name"]] = entry
    return metrics


# Cells that papermill adds to an executed notebook: the injected parameters and error banners.
ADDED_CELL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag"})


def source_cells(notebook) -> list:
    """The cells of an executed notebook that come from the user's notebook, in order."""
    return [cell for cell in notebook.get("cells", []) if not ADDED_CELL_TAGS & set(cell.get("metadata", {}).get("tags", []))]
