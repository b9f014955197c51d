"""Recording metrics from inside a notebook, and reading them back from an executed notebook.

``record`` needs nothing but IPython in the kernel: it emits a display output of MIME type
``application/vnd.reef.record+json`` that any nbformat reader keeps and the executor reads back.
This module imports only the standard library so that it works in any environment.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

RECORD_MIME = "application/vnd.reef.record+json"
ATTACH_MIME = "application/vnd.reef.attach+json"
RUN_FOLDER_VARIABLE = "REEF_RUN_FOLDER"  # set in the kernel by the executor: runs/RUN_ID/ of the solution

# A run's metric budget: how many metrics it keeps and how many bytes of JSON they take. The executor puts
# both in the kernel's environment as whole numbers (``reefnb.runs.execute.metric_budget`` reads
# ``REEF_MAX_METRIC_BYTES`` as a size such as ``16M``); ``record`` refuses a metric beyond them, and the
# executor counts again what the notebook shows, so that an output bypassing ``record`` is bounded too.
MAX_METRICS = 1000
MAX_METRICS_VARIABLE = "REEF_MAX_METRICS"
MAX_METRIC_BYTES = 16 * 2**20
MAX_METRIC_BYTES_VARIABLE = "REEF_MAX_METRIC_BYTES"
# JSON carries an integer as its digits, and Python reads and writes at most this many by default
# (sys.get_int_max_str_digits): a longer one could not be read back, so ``record`` refuses it.
MAX_INTEGER_DIGITS = 4300


def record(name: str, value: Any, unit: str | None = None) -> None:
    """Record a metric (or any JSON value) of this run, shown as ``name = value unit``.

    NaN and infinities are kept (as ``{"value": null, "special": "nan"}`` in the notebook, which
    must stay valid JSON) and come back as floats. Integers are kept exactly, whatever their size (up to
    4300 digits), also those a float cannot hold (``10**400``): tables show those as their digits.

    A run keeps at most ``REEF_MAX_METRICS`` metrics (default 1,000) taking ``REEF_MAX_METRIC_BYTES`` of JSON
    (default 16M); a record call beyond them is refused, said in one line, and the run goes on with the
    metrics it has (its record's ``metrics_refused`` counts the refused calls). Recording a metric again
    replaces its value and takes no more of the budget than the new value needs.

    Parameters
    ----------
    name
        The metric's name, a non-empty string.
    value
        Any JSON value; numpy scalars and arrays become plain values.
    unit
        The unit shown after the value and kept in the record (None: no unit).

    Raises
    ------
    ValueError
        When ``name`` is not a non-empty string, ``unit`` is neither a string nor None, or ``value`` holds
        something JSON cannot keep exactly (an object of another type, an integer of more than 4300 digits).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("record: the name must be a non-empty string")
    if unit is not None and not isinstance(unit, str):
        raise ValueError("record: the unit must be a string or None")
    payload = {"name": name, **encode_value(value)}
    if unit is not None:
        payload["unit"] = unit
    if not _budget.admit(name, metric_size(payload)):
        return
    shown = f"{name} = {value!r}" + (f" {unit}" if unit else "")
    try:
        from IPython.display import display
    except ImportError:  # plain python: nothing to record into, say so on stdout
        print(f"[reef] {shown}")
        return
    display({RECORD_MIME: payload, "text/plain": shown}, raw=True)


def metric_size(payload: dict) -> int:
    """The bytes a metric takes of the run's budget: its JSON (name, value, unit, special; not its cell)."""
    kept = {key: item for key, item in payload.items() if key != "cell_index" and (item is not None or key == "value")}
    return len(json.dumps(kept, separators=(",", ":")))


def budget_limits() -> tuple[int, int]:
    """The run's metric budget, (metrics, bytes): ``$REEF_MAX_METRICS`` and ``$REEF_MAX_METRIC_BYTES`` when they
    are whole numbers (the executor sets them so), else the defaults."""
    limits = []
    for variable, default in ((MAX_METRICS_VARIABLE, MAX_METRICS), (MAX_METRIC_BYTES_VARIABLE, MAX_METRIC_BYTES)):
        text = os.environ.get(variable, "").strip()
        limits.append(int(text) if text.isdigit() else default)
    return limits[0], limits[1]


def budget_refusal(name: str, metrics: int | None, size: int) -> str:
    """The one line saying why a metric is refused: the run has ``metrics`` already (None: its bytes are spent)."""
    if metrics is not None:
        why = f"the run has {metrics} metrics, the most it keeps ({MAX_METRICS_VARIABLE})"
    else:
        why = f"the run's metrics would take more than {size} bytes ({MAX_METRIC_BYTES_VARIABLE})"
    return f"[reef] record: {name[:80]!r} refused: {why}; the metrics recorded before are kept"


class _Budget:
    """What this kernel recorded (each metric's size), and the record calls refused in the cell running now.

    The first refusal in a cell shows one line; when the cell ends that line says how many calls the cell refused,
    and its output (``{"refused": N}`` under ``RECORD_MIME``) is what the executor adds up in ``metrics_refused``.
    """

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.total = 0
        self.refused = 0  # in the cell running now
        self.line = ""
        self.handle: Any = None
        self.watching = False

    def admit(self, name: str, size: int) -> bool:
        most, room = budget_limits()
        old = self.sizes.get(name)
        total = self.total - (old or 0) + size
        if old is None and len(self.sizes) >= most:
            self._refuse(budget_refusal(name, len(self.sizes), room))
        elif total > room:
            self._refuse(budget_refusal(name, None, room))
        else:
            self.sizes[name], self.total = size, total
            return True
        return False

    def _refuse(self, line: str) -> None:
        self.refused += 1
        if self.refused > 1:
            return
        self.line = line
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            get_ipython = None
        shell = get_ipython() if get_ipython is not None else None
        if shell is None:  # plain python: the first refusal is said, the rest are not counted anywhere
            print(line, file=sys.stderr)
            return
        self.handle = display({RECORD_MIME: {"refused": 1}, "text/plain": line}, raw=True, display_id=True)
        if not self.watching:
            shell.events.register("post_run_cell", self._cell_ended)
            self.watching = True

    def _cell_ended(self, *_: Any) -> None:
        if self.refused > 1 and self.handle is not None:
            line = f"{self.line} ({self.refused} record calls refused in this cell)"
            self.handle.update({RECORD_MIME: {"refused": self.refused}, "text/plain": line}, raw=True)
        self.refused, self.handle = 0, None


_budget = _Budget()


def attach(path: str | os.PathLike, name: str | None = None) -> str:
    """Mark a file as evidence of this run.

    The executor copies the file into ``runs/RUN_ID/files/NAME`` when the run ends (a file the run
    wrote inside its own folder is moved there) and lists it in the run record (name, size, sha256,
    media type). Only files inside the solution folder are kept. Like ``record`` this needs nothing
    but IPython; outside reef it only shows what would be kept.

    Parameters
    ----------
    path
        The file to keep.
    name
        The name it is kept under; defaults to the file's name and may name a subfolder
        (``accuracy/log.json``): a relative path of plain parts (no ``..``, no hidden or empty parts).

    Returns
    -------
    str
        The name the file is kept under.

    Raises
    ------
    ValueError
        When ``path`` is not a file, lies outside the solution folder (links followed), or ``name`` is
        not a usable name.
    """
    file = Path(os.path.abspath(os.fspath(path)))
    name = check_attachment_name(file.name if name is None else name)
    if not file.is_file():
        raise ValueError(f"attach: {file}: not a file")
    folder = os.environ.get(RUN_FOLDER_VARIABLE)
    if folder and not file.resolve().is_relative_to(Path(folder).resolve().parent.parent):
        raise ValueError(
            f"attach: {file}: outside the solution folder (links followed); write the file in reefnb.run_folder()"
        )
    shown = f"attached {name} ({file.stat().st_size} bytes)"
    try:
        from IPython.display import display
    except ImportError:
        print(f"[reef] {shown}")
        return name
    display({ATTACH_MIME: {"path": str(file), "name": name}, "text/plain": shown}, raw=True)
    return name


def check_attachment_name(name: Any) -> str:
    """An attached file's name: a relative path of plain parts (no ``..``, no hidden or empty parts)."""
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise ValueError(f"attach: the name must be a non-empty string of at most 1024 characters, got {name!r:.80}")
    parts = name.split("/")
    for part in parts:
        if (
            not part
            or part.startswith(".")
            or "\\" in part
            or "\0" in part
            or len(part.encode("utf-8", "replace")) > 255
        ):
            raise ValueError(
                f"attach: {name!r:.80} is not a usable name (relative, '/' between parts, none empty, hidden or '..')"
            )
    return name


_scratch: list[Path] = []


def run_folder() -> Path:
    """The folder of this run, where a notebook writes what it produces.

    Returns
    -------
    Path
        ``runs/RUN_ID/`` of the solution when reef runs the notebook; elsewhere a temporary folder
        removed when the kernel exits.
    """
    folder = os.environ.get(RUN_FOLDER_VARIABLE)
    if folder:
        return Path(folder)
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="reef-run-")))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]


def read_attachments(notebook) -> list[dict]:
    """``{"path", "name", "cell_index"}`` of each file an executed notebook attached, in order; a later
    attachment of the same name replaces an earlier one."""
    found: dict[str, dict] = {}
    for index, cell in enumerate(source_cells(notebook)):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = (
                output.get("data", {}).get(ATTACH_MIME)
                if output.get("output_type") in ("display_data", "execute_result")
                else None
            )
            if (
                isinstance(payload, dict)
                and isinstance(payload.get("path"), str)
                and isinstance(payload.get("name"), str)
            ):
                found.pop(payload["name"], None)
                found[payload["name"]] = {"path": payload["path"], "name": payload["name"], "cell_index": index}
    return list(found.values())


def encode_value(value: Any) -> dict:
    """A JSON-safe form of a metric value (numpy scalars and arrays become plain values)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    elif hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return {"value": None, "special": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    return {"value": _check_json(value)}


_TOO_MANY_DIGITS = 10**MAX_INTEGER_DIGITS


def decode_value(payload: dict) -> Any:
    special = payload.get("special")
    return float(special) if special in ("nan", "inf", "-inf") else payload.get("value")


def _check_json(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _TOO_MANY_DIGITS:
        raise ValueError(
            f"record: an integer of more than {MAX_INTEGER_DIGITS} digits cannot be kept exactly; record str(value)"
        )
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_check_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _check_json(item) for key, item in value.items()}
    raise ValueError(
        f"record: cannot record a value of type {type(value).__name__}; use numbers, strings, lists or dicts"
    )


def read_records(notebook) -> dict[str, dict]:
    """The metrics recorded in an executed notebook: name -> {value, unit, cell_index}; last wins.

    Values stay JSON-safe (a non-finite float is ``value: null`` plus ``special``); ``decode_value``
    turns an entry back into the Python value.
    """
    metrics: dict[str, dict] = {}
    for index, cell in enumerate(source_cells(notebook)):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = (
                output.get("data", {}).get(RECORD_MIME)
                if output.get("output_type") in ("display_data", "execute_result")
                else None
            )
            if isinstance(payload, dict) and isinstance(payload.get("name"), str):
                entry = {"value": payload.get("value"), "unit": payload.get("unit"), "cell_index": index}
                if payload.get("special") in ("nan", "inf", "-inf"):
                    entry["special"] = payload["special"]
                metrics[payload["name"]] = entry
    return metrics


def read_refused(notebook) -> int:
    """How many record calls the kernel refused: what the budget's lines (``{"refused": N}``) add up to."""
    refused = 0
    for cell in source_cells(notebook):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = (
                output.get("data", {}).get(RECORD_MIME)
                if output.get("output_type") in ("display_data", "execute_result")
                else None
            )
            count = payload.get("refused") if isinstance(payload, dict) and "name" not in payload else None
            if type(count) is int and count > 0:
                refused += min(count, 2**53)
    return refused


def within_budget(metrics: dict[str, dict], limits: tuple[int, int] | None = None) -> tuple[dict[str, dict], int]:
    """The metrics a run keeps, the first that fit its budget (``budget_limits()`` unless given), in the order they
    were first recorded; and how many it refused (outputs that did not go through ``record``'s own check)."""
    most, room = limits or budget_limits()
    kept: dict[str, dict] = {}
    total = 0
    for name, entry in metrics.items():
        size = metric_size({"name": name, **entry})
        if len(kept) < most and total + size <= room:
            kept[name], total = entry, total + size
    return kept, len(metrics) - len(kept)


# Cells that papermill adds to an executed notebook: the injected parameters and error banners.
ADDED_CELL_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag"})


def source_cells(notebook) -> list:
    """The cells of an executed notebook that come from the user's notebook, in order."""
    return [
        cell
        for cell in notebook.get("cells", [])
        if not ADDED_CELL_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]
