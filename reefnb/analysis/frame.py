"""The results frame: run records as a pandas DataFrame, one row per run."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reefnb.common.exceptions import ReefError
from reefnb.kernel.recording import decode_value
from reefnb.runs.meaning import solution_named
from reefnb.runs.query import exact_number
from reefnb.runs.store import ResultRows, Store, default_store
from reefnb.runs.telemetry import system_columns, system_units
from reefnb.solution.columns import BASE_COLUMNS, SYSTEM_COLUMNS
from reefnb.solution.manifest import Solution, solution_folder
from reefnb.solution.notebook import notebook_parameters, read_notebook

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas


def results(
    solution: str | None = None,
    status: str | None = None,
    store: Store | None = None,
    *,
    where: str | None = None,
    since: str | None = None,
    columns: list[str] | None = None,
) -> pandas.DataFrame:
    """The recorded runs that match (of one solution, of one status, ``where``, ``since``) as a DataFrame.

    Columns: ``run_id``, ``solution``, ``version``, ``workflow``, ``status``, ``started``,
    ``ended``, ``duration_s``, ``error``, then ``param.*``, ``metric.*``, ``sys.*`` (what the run's processes did:
    ``sys.peak_rss_mb``, ``sys.cpu_seconds``, ``sys.energy_joules``...; see ``reefnb.runs.telemetry``) and ``env.*``
    (``env.contributor``, when runs pulled from a registry are among them: who shared each, None for this machine's
    own). Metric and ``sys.*`` units are in ``frame.attrs["units"]`` (column -> unit), the metrics' goals (min/max) and
    number formats, as the records kept them from the manifest, in ``frame.attrs["goals"]`` and
    ``frame.attrs["formats"]`` (``recorded_meaning`` gives them by metric name). A parameter or metric without a value
    in any of the rows gets no column.

    The filters run in SQL. Rows that cannot be read are skipped with a warning naming the run.

    Parameters
    ----------
    solution
        Only the runs of the solution of this name.
    status
        Only the runs that ended in this status (``ok``, ``failed``, ``timeout``...).
    store
        The ``Store`` to read (default: the default store).
    where
        An expression such as ``'param.backend == "tflite" and metric.time_ms < 5'`` (see ``reefnb.runs.query``).
    since
        An ISO date/time or an age (``7d``, ``12h``): only the runs started since.
    columns
        ``param.NAME``, ``metric.NAME`` or a bare metric name: limits the parameter and metric columns read.

    Returns
    -------
    pandas.DataFrame
        One row per run, oldest first, with the columns and ``attrs`` above.

    Raises
    ------
    QueryError
        When ``where`` or ``since`` cannot be used (a ``ReefError``; the message says which and why).
    StoreError
        When the store cannot be opened.
    """
    store = store or default_store()
    return rows_to_frame(store.result_rows(solution=solution, status=status, where=where, since=since, columns=columns))


def rows_to_frame(found: ResultRows) -> pandas.DataFrame:
    """The results frame from the store's rows (see ``results``): columns as read, documents resolved once each."""
    import pandas

    if not found.rows:
        frame = pandas.DataFrame(columns=BASE_COLUMNS + ["error"])
        frame.attrs.update(units={}, goals={}, formats={})
        return frame
    frame = pandas.DataFrame.from_records(found.rows, columns=found.names, coerce_float=False)
    for column in ("started", "ended"):
        parsed = pandas.to_datetime(frame[column], utc=True, format="ISO8601", errors="coerce")
        bad = parsed.isna() & frame[column].notna() | (parsed.isna() if column == "started" else False)
        if bad.any():
            for run_id in frame.loc[bad, "run_id"]:
                log.warning("run %s: %s is not a time, skipped", run_id, column)
            frame, parsed = frame[~bad], parsed[~bad]
        frame[column] = parsed
    solutions = {
        number: document for number, document in found.documents.items() if number in set(frame["solution"].unique())
    }
    identity = frame["solution"]
    frame["solution"] = identity.map({number: (document or {}).get("name") for number, document in solutions.items()})
    frame["version"] = identity.map({number: (document or {}).get("version") for number, document in solutions.items()})
    environments = {
        number: environment_columns(found.documents.get(number)) for number in frame["environment"].dropna().unique()
    }
    for name in ENVIRONMENT_COLUMNS:
        frame[name] = frame["environment"].map({number: values[name] for number, values in environments.items()})
    if frame["origin"].notna().any():
        frame["env.contributor"] = frame["origin"].map(
            {
                number: (found.documents.get(number) or {}).get("contributor")
                for number in frame["origin"].dropna().unique()
            }
        )
    for column in found.booleans & set(frame.columns):
        frame[column] = frame[column].map({1: True, 0: False})
    cells = [
        column
        for column in frame.columns
        if column.startswith(("param.", "metric.", "sys.")) and frame[column].notna().any()
    ]
    params = sorted(column for column in cells if column.startswith("param."))
    metrics = sorted(column for column in cells if column.startswith("metric."))
    system = [column for column in SYSTEM_COLUMNS if column in cells]
    others = [column for column in frame.columns if column.startswith("env.")]
    frame = frame[BASE_COLUMNS + ["error"] + params + metrics + system + others].reset_index(drop=True)
    frame.attrs["units"] = {
        column: unit for column, unit in found.units.items() if column in metrics or column in system
    }
    frame.attrs["goals"] = {column: goal for column, goal in found.goals.items() if column in metrics}
    frame.attrs["formats"] = {column: format_ for column, format_ in found.formats.items() if column in metrics}
    return frame


ENVIRONMENT_COLUMNS = (
    "env.name",
    "env.kernel",
    "env.hostname",
    "env.os",
    "env.cpu",
    "env.cpu_count",
    "env.memory_gb",
    "env.python",
)


def environment_columns(environment: Any) -> dict[str, Any]:
    """The ``env.*`` columns of the results frame from a record's environment fingerprint."""
    environment = environment if isinstance(environment, dict) else {}

    def part(name: str, key: str) -> Any:
        value = environment.get(name)
        return value.get(key) if isinstance(value, dict) else None

    memory = environment.get("memory_bytes")
    return {
        "env.name": environment.get("name"),
        "env.kernel": environment.get("kernel"),
        "env.hostname": environment.get("hostname"),
        "env.os": part("os", "platform"),
        "env.cpu": part("cpu", "model"),
        "env.cpu_count": part("cpu", "count"),
        "env.memory_gb": round(memory / 2**30, 1) if isinstance(memory, (int, float)) and memory else None,
        "env.python": part("python", "version"),
    }


def records_to_frame(records: Iterable[dict]) -> pandas.DataFrame:
    """Flatten run records into the results frame (see ``results``).

    Parameters
    ----------
    records
        Run records, as ``reefnb.run`` returns them or ``Store.records`` reads them.

    Returns
    -------
    pandas.DataFrame
        One row per record, in the order given, with the columns and ``attrs`` of ``results``.
    """
    import pandas

    rows, units, goals, formats = [], {}, {}, {}
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
            for kept, key in ((units, "unit"), (goals, "goal"), (formats, "format")):
                if metric.get(key):
                    kept[f"metric.{name}"] = metric[key]
        row.update(system_columns(record.get("system")))
        row.update(environment_columns(environment))
        if record.get("origin"):  # a run pulled from a registry: who shared it (this machine's own runs have none)
            row["env.contributor"] = record["origin"].get("contributor")
        rows.append(row)
    frame = pandas.DataFrame(rows, columns=None if rows else BASE_COLUMNS + ["error"])
    if rows:
        params = sorted(c for c in frame.columns if c.startswith("param."))
        metrics = sorted(c for c in frame.columns if c.startswith("metric."))
        system = [c for c in SYSTEM_COLUMNS if c in frame.columns]
        others = [c for c in frame.columns if c.startswith("env.")]
        frame = frame[BASE_COLUMNS + ["error"] + params + metrics + system + others]
        units.update({column: unit for column, unit in system_units().items() if column in system})
        for column in ("started", "ended"):
            frame[column] = pandas.to_datetime(frame[column], utc=True, format="ISO8601")
    frame.attrs.update(units=units, goals=goals, formats=formats)
    return frame


def recorded_meaning(frame: pandas.DataFrame) -> dict[str, dict[str, str]]:
    """What the runs' records say each metric means, by metric name: its unit, goal (min/max) and format
    (those the records kept; see ``results``). A frame built some other way has none."""
    meaning: dict[str, dict[str, str]] = {}
    for key, kept in (("unit", "units"), ("goal", "goals"), ("format", "formats")):
        for column, value in (frame.attrs.get(kept) or {}).items():
            if str(column).startswith("metric.") and value:
                meaning.setdefault(str(column).removeprefix("metric."), {})[key] = value
    return meaning


def _cell(value: Any) -> Any:
    # Lists and dicts do not belong in a cell that pandas compares; keep them as JSON text.
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, sort_keys=True)
    if isinstance(value, int) and not isinstance(value, bool):
        return exact_number(value)  # as results() has it: 10**400 as its digits, never a rounded float
    return value


def results_and_solution(argument: str | None) -> tuple[pandas.DataFrame, Solution | None]:
    """The results frame for ``argument`` (a solution's folder or name, None for all runs) and the
    Solution that gives them their meaning, when one is at hand."""
    solution = solution_folder(argument)
    if solution is not None:
        return results(solution=solution.name), solution
    frame = results(solution=argument)
    solution = solution_named(argument, frame["version"].unique() if "version" in frame else ()) if argument else None
    return frame, solution


def metric_meaning(solution: Solution | None, frame: pandas.DataFrame | None = None) -> dict[str, dict]:
    """Each metric's unit, goal and format by name: the manifest's declaration (its order first) where
    there is a manifest, and for what it does not declare, what the runs' records kept (``frame.attrs``)."""
    recorded = recorded_meaning(frame) if frame is not None else {}
    declared = solution.metrics if solution is not None else {}
    meaning = {
        name: {**recorded.get(name, {}), **{key: value for key, value in spec.items() if value is not None}}
        for name, spec in declared.items()
    }
    meaning.update({name: spec for name, spec in recorded.items() if name not in meaning})
    return meaning


def parameter_defaults(solution: Solution, workflow: str = "run") -> dict[str, Any]:
    """What a run of ``workflow`` gets for each parameter it is not given: the manifest's value for the
    workflow, else the literal default of the notebook's parameters cell (a default that is not a literal
    has none). Empty when the workflow or its notebook cannot be read (said in the log)."""
    try:
        chosen = solution.workflow(workflow)
        declared = notebook_parameters(read_notebook(chosen.notebook))
    except (ReefError, OSError, ValueError) as error:
        log.info("no parameter defaults for workflow %s: %s", workflow, error)
        return {}
    defaults = {
        name: schema["default"] for name, parameter in declared.items() if "default" in (schema := parameter.schema())
    }
    return {**defaults, **{name: value for name, value in chosen.parameters.items() if name in declared}}


def with_parameter_defaults(frame: pandas.DataFrame, solution: Solution | None = None) -> pandas.DataFrame:
    """A copy of ``frame`` whose ``param.*`` cells a run was not given hold the default it ran with (see
    ``parameter_defaults``: by each row's workflow, ``run`` where the frame has no ``workflow`` column; a run
    recorded before a parameter existed counts with that parameter's default), and whose parameter columns of
    whole numbers are integers (``seed`` 7, not 7.0; ``Int64`` where a cell stays empty).

    Without ``solution`` only the columns are typed. Metric columns are left as they are.
    """
    import pandas

    frame = frame.copy()
    params = [column for column in frame.columns if str(column).startswith("param.")]
    if solution is not None and params and len(frame):
        workflows = frame["workflow"] if "workflow" in frame else pandas.Series("run", index=frame.index)
        for workflow in workflows.dropna().unique():
            defaults = parameter_defaults(solution, str(workflow))
            rows = (workflows == workflow).to_numpy()
            for column in params:
                default = defaults.get(column.removeprefix("param."))
                missing = rows & frame[column].isna().to_numpy()
                if default is not None and not isinstance(default, (list, dict)) and missing.any():
                    try:
                        frame.loc[missing, column] = default
                    except (TypeError, ValueError):  # a default of another type than the values recorded
                        frame[column] = frame[column].astype(object)
                        frame.loc[missing, column] = default
    for column in params:
        frame[column] = _whole_numbers(frame[column])
    return frame


def _whole_numbers(column: pandas.Series) -> pandas.Series:
    """``column`` as integers when every value it has is a whole number (booleans apart), else unchanged."""
    values = column.dropna()
    if values.empty or column.dtype.kind in "iub" or column.dtype == "Int64":
        return column
    if column.dtype.kind == "f":
        numbers = values
    elif all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        numbers = values.astype(float)
    else:
        return column
    if not (numbers == numbers.round()).all() or not numbers.abs().lt(2**53).all():
        return column
    return column.astype("int64") if len(values) == len(column) else column.astype("Int64")
