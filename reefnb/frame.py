"""The results frame: run records as a pandas DataFrame, one row per run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .recording import decode_value

if TYPE_CHECKING:
    import pandas

BASE_COLUMNS = ["run_id", "solution", "version", "workflow", "status", "started", "ended", "duration_s"]


def results(solution: str | None = None, status: str | None = None, store: Any = None) -> pandas.DataFrame:
    """All recorded runs (of one solution, of one status) as a DataFrame.

    Columns: ``run_id``, ``solution``, ``version``, ``workflow``, ``status``, ``started``,
    ``ended``, ``duration_s``, ``error``, then ``param.*``, ``metric.*`` and ``env.*`` (``env.contributor``,
    when runs pulled from a registry are among them: who shared each, None for this machine's own). Metric
    units are in ``frame.attrs["units"]`` (column -> unit).
    """
    from .store import default_store

    store = store or default_store()
    return records_to_frame(store.records(solution=solution, status=status))


def records_to_frame(records: Iterable[dict]) -> pandas.DataFrame:
    """Flatten run records into the results frame (see ``results``)."""
    import pandas

    rows, units = [], {}
    for record in records:
        environment = record.get("environment", {})
        error = record.get("error") or {}
        row = {
            "run_id": record["run_id"],
            "solution": record["solution"]["name"],
            "version": record["solution"]["version"],
            "workflow": record["workflow"],
            "status": record["status"],
            "started": record["started"],
            "ended": record["ended"],
            "duration_s": record["duration_s"],
            "error": ": ".join(part for part in (error.get("name"), error.get("message")) if part) or None,
        }
        row.update({f"param.{name}": _cell(value) for name, value in record.get("parameters", {}).items()})
        for name, metric in record.get("metrics", {}).items():
            row[f"metric.{name}"] = _cell(decode_value(metric))
            if metric.get("unit"):
                units[f"metric.{name}"] = metric["unit"]
        row.update(
            {
                "env.name": environment.get("name"),
                "env.kernel": environment.get("kernel"),
                "env.hostname": environment.get("hostname"),
                "env.os": (environment.get("os") or {}).get("platform"),
                "env.cpu": (environment.get("cpu") or {}).get("model"),
                "env.cpu_count": (environment.get("cpu") or {}).get("count"),
                "env.memory_gb": round(environment["memory_bytes"] / 2**30, 1) if environment.get("memory_bytes") else None,
                "env.python": (environment.get("python") or {}).get("version"),
            }
        )
        if record.get("origin"):  # a run pulled from a registry: who shared it (this machine's own runs have none)
            row["env.contributor"] = record["origin"].get("contributor")
        rows.append(row)
    frame = pandas.DataFrame(rows, columns=None if rows else BASE_COLUMNS + ["error"])
    if rows:
        params = sorted(c for c in frame.columns if c.startswith("param."))
        metrics = sorted(c for c in frame.columns if c.startswith("metric."))
        others = [c for c in frame.columns if c.startswith("env.")]
        frame = frame[BASE_COLUMNS + ["error"] + params + metrics + others]
        for column in ("started", "ended"):
            frame[column] = pandas.to_datetime(frame[column], utc=True, format="ISO8601")
    frame.attrs["units"] = units
    return frame


def _cell(value: Any) -> Any:
    # Lists and dicts do not belong in a cell that pandas compares; keep them as JSON text.
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, sort_keys=True)
    return value
