"""How every front end writes a run record, a number, a duration, a size and a results table.

The ``reef`` command prints these as text, the ``%reef`` magic wraps them in HTML, the JupyterLab
sidebar gets them as JSON: each takes its words from here, so a run reads the same everywhere.
Sizes are ``reefnb.common.units.format_size`` (the units ``parse_size`` reads back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reefnb.common.exceptions import ReefError
from reefnb.common.units import format_size
from reefnb.kernel.recording import MAX_METRIC_BYTES_VARIABLE, MAX_METRICS_VARIABLE, decode_value

if TYPE_CHECKING:
    import pandas

__all__ = [
    "MetricShown",
    "RunView",
    "attachment_lines",
    "display_columns",
    "file_details",
    "file_line",
    "format_duration",
    "format_number",
    "format_size",
    "record_text",
    "refused_line",
    "run_view",
    "system_summary",
    "telemetry_change_line",
    "with_units",
]


def format_number(value: Any) -> str:
    """A value as a table cell: floats to six significant digits, anything else as ``str`` gives it."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def format_duration(seconds: float | None) -> str:
    """``4.2 s``, ``12 s``, ``3 min 5 s``, ``2 h 10 min``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


@dataclass(frozen=True)
class MetricShown:
    """One recorded metric: its value (decoded: NaN and infinities as floats), as text, and its unit ("" when none)."""

    name: str
    value: Any
    text: str
    unit: str


@dataclass(frozen=True)
class RunView:
    """A run record as people read it, whatever shows it."""

    record: dict
    run_id: str
    solution: str  # NAME@VERSION
    workflow: str | None
    status: str
    duration_s: float | None
    parameters: dict
    metrics: list[MetricShown]
    system: str  # telemetry's one-line summary, "" without telemetry
    notebook: str | None  # the executed notebook

    @property
    def parameters_text(self) -> str:
        return " ".join(f"{name}={value!r}" for name, value in self.parameters.items())

    @property
    def head(self) -> str:
        """``RUN_ID  NAME@VERSION  WORKFLOW  STATUS  1.23 s``."""
        duration = f"{self.duration_s:.2f} s" if isinstance(self.duration_s, (int, float)) else "? s"
        return f"{self.run_id}  {self.solution}  {self.workflow}  {self.status}  {duration}"

    def problem(self, cell: bool = True) -> str:
        """The error as one line, ``NAME: MESSAGE (cell N)``; "" for a run without one."""
        error = self.record.get("error") or {}
        if not error:
            return ""
        where = f" (cell {error['cell_index']})" if cell and error.get("cell_index") is not None else ""
        return f"{error.get('name')}: {error.get('message')}{where}"

    @property
    def metrics_refused(self) -> str:
        """One line when the run refused record calls over its metric budget (the record's ``metrics_refused``),
        else ""."""
        count = self.record.get("metrics_refused")
        if not isinstance(count, int) or count <= 0:
            return ""
        budget = f"the run's metric budget ({MAX_METRICS_VARIABLE}, {MAX_METRIC_BYTES_VARIABLE})"
        calls = "call" if count == 1 else "calls"
        return f"metrics refused: {count} record {calls} over {budget}; the metrics recorded before them were kept"

    @property
    def has_files(self) -> bool:
        return bool(self.record.get("files") or self.record.get("files_refused"))


def run_view(record: dict) -> RunView:
    """The view of a run record (``reefnb.run``'s result, or one from the store)."""
    named = record.get("solution") or {}
    metrics = []
    for name, metric in (record.get("metrics") or {}).items():
        value = decode_value(metric)
        metrics.append(MetricShown(name, value, format_number(value), metric.get("unit") or ""))
    return RunView(
        record=record,
        run_id=str(record.get("run_id")),
        solution=f"{named.get('name')}@{named.get('version')}",
        workflow=record.get("workflow"),
        status=str(record.get("status", "")),
        duration_s=record.get("duration_s"),
        parameters=dict(record.get("parameters") or {}),
        metrics=metrics,
        system=system_summary(record.get("system")),
        notebook=(record.get("notebook") or {}).get("output_path"),
    )


def record_text(record: dict, short: bool = False) -> str:
    """A run record for people: the status line, then parameters, the error, metrics, notebook, telemetry and
    attached files; ``short``: one line (a sweep's progress), the metrics or the error after the parameters."""
    view = run_view(record)
    problem = view.problem()
    if short:
        shown = " ".join(f"{metric.name}={metric.text}{metric.unit and ' ' + metric.unit}" for metric in view.metrics)
        return f"{view.head}  {view.parameters_text}  {problem or shown}".rstrip()
    lines = [view.head, f"  parameters: {view.parameters_text or '(defaults)'}"]
    if problem:
        lines.append(f"  error: {problem}")
    if view.metrics:
        width = max(len(metric.name) for metric in view.metrics)
        lines.append("  metrics:")
        lines += [f"    {metric.name:<{width}}  {metric.text} {metric.unit}".rstrip() for metric in view.metrics]
    if view.metrics_refused:
        lines.append(f"  {view.metrics_refused}")
    lines.append(f"  notebook: {view.notebook}")
    if view.system:
        lines.append(f"  system: {view.system}")
    if view.has_files:
        lines += attachment_lines(record)
    return "\n".join(lines)


# --- telemetry and attached files ---


def system_summary(system: dict | None) -> str:
    """The summary for people, one line: ``peak RSS 412 MB, CPU 2.1 s (98%), ...``."""
    if not system:
        return ""
    parts = [
        f"peak RSS {_short(system.get('peak_rss_mb'))} MB",
        f"CPU {_short(system.get('cpu_seconds'))} s"
        + (f" ({_short(system.get('cpu_percent_mean'))}%)" if system.get("cpu_percent_mean") is not None else ""),
        f"read {_short(system.get('read_mb'))} MB, write {_short(system.get('write_mb'))} MB",
    ]
    parts.append(
        f"energy {_short(system['energy_joules'])} J" if system.get("energy_joules") is not None else "energy n/a"
    )
    if system.get("gpu_peak_memory_mb") is not None:
        parts.append(
            f"GPU peak {_short(system['gpu_peak_memory_mb'])} MB"
            + (f", {_short(system['gpu_energy_joules'])} J" if system.get("gpu_energy_joules") is not None else "")
        )
    parts.append(f"{system.get('samples', 0)} samples")
    return ", ".join(parts)


def telemetry_change_line(changes: dict[str, dict]) -> str:
    """``cpu_seconds 2.1 -> 4.3 s (x2.05), ...`` for a report."""
    return ", ".join(
        f"{name} {_short(change['original'])} -> {_short(change['here'])}"
        + (f" {change['unit']}" if change["unit"] else "")
        + (f" (x{change['ratio']:.3g})" if change.get("ratio") is not None else "")
        for name, change in changes.items()
    )


def _short(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "?"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def file_details(entry: dict) -> str:
    """What every run summary (``reef run``, ``%reef run``, the JupyterLab sidebar) says of an attached file
    after its name: size, media type and the start of its sha256."""
    from reefnb.runs.attachments import media_type  # detect-secrets: loaded by the verbs that show a run

    media = entry.get("media_type") or media_type(str(entry.get("name")))
    return f"{format_size(int(entry.get('size') or 0))}  {media}  sha256 {str(entry.get('sha256'))[:12]}"


def file_line(entry: dict) -> str:
    """One attached file as a line of text: its name, then ``file_details``."""
    return f"{entry.get('name')}  {file_details(entry)}"


def refused_line(entry: dict) -> str:
    """A file the run attached that was not kept, and why."""
    return f"not kept: {entry.get('name')}: {entry.get('reason')}"


def attachment_lines(record: dict) -> list[str]:
    """The text lines of a run summary about its attached files: where they are, one line each, those refused."""
    from reefnb.runs.attachments import attached_folder

    files, folder = record.get("files") or [], attached_folder(record)
    lines = [f"  files: {folder if folder is not None else '(not on this machine)'}"] if files else []
    lines += [f"    {file_line(entry)}" for entry in files]
    return lines + [f"  {refused_line(entry)}" for entry in record.get("files_refused") or []]


# --- results tables ---

TERMINAL_FIELDS = (
    "run_id",
    "solution",
    "workflow",
    "status",
)  # what ``reef results`` shows first when no columns are chosen
NOTEBOOK_FIELDS = ("run_id", "status")


def display_columns(
    frame: pandas.DataFrame,
    chosen: Sequence[str] | None = None,
    *,
    strict: bool = False,
    fields: Sequence[str] = NOTEBOOK_FIELDS,
    after: Sequence[str] = (),
    errors: bool = False,
) -> list[str]:
    """The columns of a results table a reader needs: run id and status, then the ``chosen`` columns (a metric's
    or parameter's bare name is enough; one the frame lacks is a ReefError naming the columns with ``strict``,
    else left out); without ``chosen``, ``fields`` then every parameter and metric, then ``after``. ``errors``
    adds the ``error`` column when a run has one."""
    columns = [name for name in (NOTEBOOK_FIELDS if chosen else fields) if name in frame.columns]
    if chosen:
        for name in chosen:
            found = next(
                (column for column in (name, f"metric.{name}", f"param.{name}") if column in frame.columns), None
            )
            if found is None and strict:
                known = ", ".join(c for c in frame.columns if str(c).startswith(("param.", "metric."))) or "none"
                raise ReefError(f"--columns: no column '{name}' in the results (columns: {known})")
            if found is not None and found not in columns:
                columns.append(found)
    else:
        columns += [column for column in frame.columns if str(column).startswith("param.")]
        columns += [column for column in frame.columns if str(column).startswith("metric.")]
        columns += [column for column in after if column in frame.columns]
    if errors and "error" in frame.columns and frame["error"].notna().any():
        columns.append("error")
    return columns


def with_units(frame: pandas.DataFrame, columns: Sequence[str]) -> pandas.DataFrame:
    """``frame[columns]``, each header followed by its unit (``metric.time_ms [ms]``) from ``frame.attrs["units"]``."""
    units = frame.attrs.get("units", {})
    table = frame[list(columns)].copy()
    table.columns = [f"{column} [{units[column]}]" if units.get(column) else column for column in columns]
    return table
