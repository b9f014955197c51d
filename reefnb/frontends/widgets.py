"""What the ``%reef`` magic shows in a notebook: the dependency panel, sweep progress, HTML tables.

HTML is built from escaped text only; every rich output also carries a ``text/plain`` form, so a
notebook read outside a browser (or saved without widget state) still says what happened.
"""

from __future__ import annotations

import html
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets as widgets
from IPython.display import display
from packaging.utils import canonicalize_name

from reefnb.analysis.frame import metric_meaning, with_parameter_defaults
from reefnb.analysis.pareto import normalise_objectives, pareto_front
from reefnb.analysis.plots import chart_svg, pareto_chart
from reefnb.common.exceptions import ReefError
from reefnb.common.units import format_metric
from reefnb.frontends import commands
from reefnb.frontends.provision_text import fingerprint_text
from reefnb.frontends.rendering import (
    file_details,
    format_duration,
    format_number,
    format_size,
    record_text,
    refused_line,
    run_view,
)
from reefnb.runs.attachments import file_links
from reefnb.runs.spec import RunSpec
from reefnb.runs.store import default_store
from reefnb.runs.telemetry import goal as telemetry_goal

log = logging.getLogger(__name__)

# JupyterLab's theme variables (light and dark), with the light colours as fallbacks outside JupyterLab:
# text in the theme's own font colour, a tint of the status colour behind it, the status colour as border.
_TEXT = "var(--jp-content-font-color1,#1f2328)"
_MUTED = "var(--jp-ui-font-color2,#57606a)"


def _tint(variable: str, fallback: str, percent: int = 18) -> str:
    return f"color-mix(in srgb,var({variable},{fallback}) {percent}%,transparent)"


def _status_colour(variable: str, fallback: str) -> tuple[str, str]:
    """(border colour, background colour) of a status, from a JupyterLab colour variable."""
    return f"var({variable},{fallback})", _tint(variable, fallback)


_GREEN, _AMBER, _ORANGE, _RED, _GREY, _BLUE = (
    _status_colour("--jp-success-color1", "#1a7f37"),
    _status_colour("--jp-warn-color2", "#bf8700"),
    _status_colour("--jp-warn-color0", "#bc4c00"),
    _status_colour("--jp-error-color1", "#cf222e"),
    _status_colour("--jp-border-color1", "#8c959f"),
    _status_colour("--jp-brand-color1", "#0969da"),
)
BADGE_COLOURS = {
    "found": _GREEN,
    "installed": _GREEN,
    "fetched": _GREEN,
    "ok": _GREEN,
    "missing": _AMBER,
    "interrupted": _AMBER,
    "conflict": _ORANGE,
    "unmet": _RED,
    "failed": _RED,
    "timeout": _RED,
    "killed": _RED,
    "skipped": _GREY,  # a package another platform's marker leaves out
    "on demand": _BLUE,  # an artifact the first run that needs it fetches
}
_MESSAGE_STYLES = {
    level: f"color:{_TEXT};background:{background};border:1px solid {border};border-left-width:4px"
    for level, (border, background) in {"error": _RED, "warning": _AMBER, "ok": _GREEN, "info": _BLUE}.items()
}
REQUIREMENT_COLUMNS = ("kind", "name", "required", "found", "status", "reason")


# ---------------------------------------------------------------------------------------------
# HTML pieces


def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def badge(status: str) -> str:
    """A small coloured label for a status (found, missing, conflict, unmet, ok, failed...)."""
    border, background = BADGE_COLOURS.get(status, _GREY)
    return (
        f'<span class="reef-badge reef-{escape(status.replace(" ", "-"))}" style="color:{_TEXT};background:{background};border:1px solid {border};'
        f'border-radius:0.6em;padding:0 0.55em;font-size:0.85em;font-weight:600;white-space:nowrap">{escape(status)}</span>'
    )


def message_html(lines: Iterable[str], level: str = "error") -> str:
    """A short coloured box of one or more lines: error (red), warning (yellow), ok (green), info (blue)."""
    body = "<br>".join(escape(line) for line in lines)
    return (
        f'<div class="reef-message reef-{level}" style="{_MESSAGE_STYLES[level]};border-radius:4px;'
        f'padding:0.35em 0.7em;margin:0.2em 0;font-family:var(--jp-code-font-family,monospace);font-size:0.9em">{body}</div>'
    )


def bundle(html_text: str, plain_text: str) -> dict:
    """A display bundle (for ``display(..., raw=True)``) with an HTML and a plain-text form."""
    return {"text/html": html_text, "text/plain": plain_text}


def message(lines: Sequence[str] | str, level: str = "error") -> dict:
    """``message_html`` with its plain-text form (the first line says error or warning)."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    prefix = {"error": "reef: error: ", "warning": "reef: warning: "}.get(level, "")
    plain = [
        prefix + line if index == 0 and not line.startswith(("reef", "%reef")) else line
        for index, line in enumerate(lines)
    ]
    return bundle(message_html(lines, level), "\n".join(plain))


def html_table(columns: Sequence[str], rows: Iterable[Sequence[str]], escaped: bool = False) -> str:
    """A plain HTML table; cells are escaped unless ``escaped`` says they are HTML already."""
    cell = (lambda value: value) if escaped else escape
    style = "text-align:left;padding:0.15em 1em 0.15em 0;vertical-align:top"
    head = "".join(f'<th style="{style}">{escape(column)}</th>' for column in columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{style}">{cell(value)}</td>' for value in row) + "</tr>" for row in rows
    )
    return f'<table class="reef-table" style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def requirement_table(rows: Iterable[dict]) -> str:
    """Requirement rows (kind, name, required, found, status, reason) as a table with status badges."""
    cells = [
        [
            escape(row["kind"]),
            f"<b>{escape(row['name'])}</b>",
            escape(row["required"]),
            escape(row["found"] or "–"),
            badge(row["status"]),
            escape(row["reason"]),
        ]
        for row in rows
    ]
    return html_table(REQUIREMENT_COLUMNS, cells, escaped=True)


def text_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The same table as aligned plain text."""
    rows = [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max([len(column), *(len(row[index]) for row in rows)]) for index, column in enumerate(columns)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(columns), *rows]
    ]
    return "\n".join(lines)


def table_bundle(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict:
    return bundle(html_table(columns, rows), text_table(columns, rows))


# ---------------------------------------------------------------------------------------------
# Runs and fingerprints


def run_summary(record: dict) -> dict:
    """A run record as a small HTML summary (status, parameters, the error, metrics with units, telemetry, the
    executed notebook, attached files); its plain form is what ``reef run`` prints."""
    view = run_view(record)
    head = f"<b>{escape(view.run_id)}</b> {badge(view.status)} {escape(view.solution)} · {escape(view.workflow)} · {escape(format_duration(view.duration_s))}"
    parts = [
        f"<div>{head}</div>",
        f"<div>parameters: <code>{escape(view.parameters_text or '(defaults)')}</code></div>",
    ]
    if view.problem():
        parts.append(message_html([view.problem()], "error"))
    if view.metrics:
        parts.append(
            html_table(
                ("metric", "value", "unit"), [(metric.name, metric.text, metric.unit) for metric in view.metrics]
            )
        )
    if view.metrics_refused:
        parts.append(message_html([view.metrics_refused], "warning"))
    if view.system:  # what the run's processes did (reefnb.runs.telemetry)
        parts.append(f'<div class="reef-system">system: {escape(view.system)}</div>')
    if view.notebook:
        parts.append(
            f'<div style="font-size:0.85em;color:{_MUTED}">notebook: <code>{escape(view.notebook)}</code></div>'
        )
    if view.has_files:  # the run's evidence (reefnb.attach), linked from the kernel's folder
        parts.append(_attached_files_html(record, file_links(record, Path.cwd())))
    return bundle(f'<div class="reef-run">{"".join(parts)}</div>', record_text(record))


def _attached_files_html(record: dict, links: dict[str, str]) -> str:
    lines = []
    for entry in record.get("files") or []:
        name = str(entry["name"])
        shown = (
            f'<a href="{escape(quote(links[name]))}" target="_blank">{escape(name)}</a>'
            if name in links
            else escape(name)
        )
        lines.append(f'<div>{shown} <span style="color:{_MUTED}">{escape(file_details(entry))}</span></div>')
    lines += [
        f'<div style="color:{_MUTED}">{escape(refused_line(entry))}</div>'
        for entry in record.get("files_refused") or []
    ]
    return f'<div class="reef-files" style="font-size:0.85em">files:{"".join(lines)}</div>'


def fingerprint_bundle(fingerprint: dict) -> dict:
    """``reef detect``'s fingerprint as a two-column table (topic, what was found)."""
    text = fingerprint_text(fingerprint)
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(" ") and rows:  # a continuation: another GPU, another python
            rows[-1][1] += ("<br>" if rows[-1][1] else "") + escape(line.strip())
            continue
        label, _, value = line.partition(":")
        rows.append([escape(label.strip()), escape(value.strip())])
    packages = fingerprint.get("packages")
    if isinstance(packages, dict) and packages:
        listed = ", ".join(
            f"{escape(name)} {escape(version)}"
            for name, version in sorted(packages.items(), key=lambda item: item[0].lower())
        )
        for row in rows:
            if row[0] == "Packages":
                row[1] = f"<details><summary>{row[1]}</summary>{listed}</details>"
    return bundle(html_table(("", "found"), rows, escaped=True), text)


# ---------------------------------------------------------------------------------------------
# Sweep progress


class SweepProgressWidget(widgets.VBox):
    """A live progress bar for a sweep, fed ``reefnb.runs.sweeps.SweepProgress`` through ``update``."""

    def __init__(self, title: str = ""):
        self.title_text = title
        self.title = widgets.HTML(f"<b>{escape(title)}</b>" if title else "")
        self.bar = widgets.IntProgress(value=0, min=0, max=1, bar_style="info", layout=widgets.Layout(width="320px"))
        self.label = widgets.HTML("starting…")
        self.last = widgets.HTML("")
        self.progress = None
        super().__init__([self.title, widgets.HBox([self.bar, self.label]), self.last])

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data:
            data["text/plain"] = self.title_text or "sweep progress"
        return data

    def update(self, progress) -> None:
        """Show where the sweep stands (called after every start and finish of a run)."""
        self.progress = progress
        self.bar.max = max(progress.total, 1)
        self.bar.value = min(progress.done + progress.skipped, self.bar.max)
        finished = progress.done + progress.skipped >= progress.total and not progress.running
        self.bar.bar_style = "danger" if progress.failed else ("success" if finished else "info")
        self.label.value = escape(self.text(progress))
        if progress.last is not None:
            self.last.value = self.record_line(progress.last)

    @staticmethod
    def text(progress) -> str:
        """``3/6 done · 1 failed · 2 running · ETA 12 s`` (skipped points count as done)."""
        parts = [
            f"{progress.done + progress.skipped}/{progress.total} done",
            f"{progress.failed} failed",
            f"{progress.running} running",
        ]
        if progress.skipped:
            parts.append(f"{progress.skipped} skipped (recorded before)")
        if progress.done + progress.skipped >= progress.total and not progress.running:
            parts.append(f"took {format_duration(progress.elapsed_s)}")
        elif progress.eta_s is not None:
            parts.append(f"ETA {format_duration(progress.eta_s)}")
        return " · ".join(parts)

    @staticmethod
    def record_line(record: dict) -> str:
        view = run_view(record)
        detail = view.problem() or " ".join(f"{metric.name}={metric.text}" for metric in view.metrics)
        return (
            f'<span style="font-size:0.85em">last: {escape(view.run_id)} {badge(view.status)} '
            f"<code>{escape(view.parameters_text)}</code> {escape(detail)}</span>"
        )


# ---------------------------------------------------------------------------------------------
# The dependency panel of `%reef init`


class DependencyPanel(widgets.VBox):
    """``%reef init``'s panel: each requirement with what was found where the solution runs, what "Install missing"
    would change, and the button.

    ``preview`` (``commands.preview_init``) holds the plan, its rows and why ``reef init`` would refuse it (the
    core's rules, trust included): then the button stays disabled. ``here`` (``commands.init_requirements_here``):
    the requirements checked against where the solution runs now (``commands.run_place``), shown instead of the
    plan's rows; ``recheck()`` gives them again after the install (the place has moved). ``install(progress)`` is
    what the button runs (``commands.init`` with the magic's options); it returns the lock. The button runs it in a
    thread, so the kernel stays free; ``install()`` runs it here and returns the Solution; ``wait()`` waits for a
    click's install.
    """

    def __init__(
        self,
        preview: commands.InitPreview,
        install: Callable[[Callable], dict] | None,
        dry_run: bool = False,
        here: commands.RequirementsHere | None = None,
        recheck: Callable[[], commands.RequirementsHere | None] | None = None,
    ):
        self.plan = preview.plan
        self.here = here
        self.rows = [dict(row) for row in (here.rows if here is not None else preview.rows)]
        missing = any(row["status"] in ("missing", "conflict") for row in self.rows)
        self.effect = (
            here.install
            if here is not None and here.install is not None
            else commands.install_effect(preview, None, missing)
        )
        self.solution = None
        self.lock: dict | None = None
        self.error: BaseException | None = None
        self.progress_bars: dict[str, widgets.IntProgress] = {}
        self.progress_labels: dict[str, widgets.HTML] = {}
        self._install = install
        self._recheck = recheck
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self.blocked = preview.refusal or self._blocked_reason(dry_run)

        self.header = widgets.HTML(self._header_html())
        self.table = widgets.HTML(requirement_table(self.rows))
        self.changes = widgets.HTML(self._changes_html())
        self.button = widgets.Button(
            description=self.effect.label,
            icon="download",
            button_style="primary",
            disabled=self.blocked is not None,
            tooltip="reef init: " + "; ".join(self.effect.changes),
        )
        self.button.on_click(self._clicked)
        self.progress_box = widgets.VBox([])
        self.status = widgets.HTML(
            message_html([self.blocked], "warning" if dry_run else "error") if self.blocked else ""
        )
        super().__init__(
            [self.header, self.table, self.changes, widgets.HBox([self.button]), self.progress_box, self.status]
        )

    # -- what people see --

    def _where(self) -> str:
        """Where the rows were checked: the place the solution runs, else the plan's target."""
        plan = self.plan
        if self.here is not None:
            return str(self.here.place)
        if plan.target == "env":
            return f"environment {plan.environment}" + ("" if plan.exists else " (to be created)")
        return f"this python ({plan.python})"

    def _header_html(self) -> str:
        plan = self.plan
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        badges = " ".join(f"{badge(status)}&nbsp;{count}" for status, count in counts.items())
        if self.here is not None:
            runs = f"runs in <b>{escape(self.here.place)}</b> <span style='color:{_MUTED}'>({escape(self.here.place.why)})</span>"
            checked = escape(self.here.summary)
        else:
            runs = f"→ {escape(self._where())}"
            checked = escape(f"checked against {self._where()}: {commands.checked_summary(self.rows)}")
        return (
            f'<div class="reef-place"><b>{escape(plan.solution.name)}@{escape(plan.solution.version)}</b> {runs}</div>'
            f'<div class="reef-checked">{checked} {badges}</div>'
        )

    def _changes_html(self) -> str:
        """What the button would change, in its own words, before it does (a list under "LABEL would:")."""
        items = "".join(f"<li>{escape(change)}</li>" for change in self.effect.changes)
        return f'<div class="reef-changes" style="font-size:0.9em">{escape(self.effect.label)} would:<ul style="margin:0.2em 0">{items}</ul></div>'

    def _blocked_reason(self, dry_run: bool) -> str | None:
        if dry_run:
            return "dry run: nothing changes (run %reef init without --dry-run to install)"
        if self._install is None:
            return "nothing to run"
        return None

    def __repr__(self) -> str:
        state = "installed" if self.lock is not None else ("blocked" if self.blocked else "ready to install")
        return f"<DependencyPanel {self.plan.solution.name}: {len(self.rows)} requirement(s), {state}>"

    def text(self) -> str:
        """The panel as plain text: what a notebook shows where widgets do not render."""
        plan = self.plan
        summary = (
            self.here.summary
            if self.here is not None
            else f"checked against {self._where()}: {commands.checked_summary(self.rows)}"
        )
        table = text_table(
            REQUIREMENT_COLUMNS, [[row[column] or "-" for column in REQUIREMENT_COLUMNS] for row in self.rows]
        )
        lines = [f"{plan.solution.name}@{plan.solution.version}: {summary}", table, f"{self.effect.label} would:"]
        lines += [f"  - {change}" for change in self.effect.changes]
        if self.blocked:
            lines.append(self.blocked)
        elif self.lock is not None:
            lines.append("installed")
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data:
            data["text/plain"] = self.text()
        return data

    # -- installing --

    def install(self):
        """Run the install (what the button does) here; return the Solution. ReefError when it cannot."""
        with self._mutex:
            if self.lock is not None:
                return self.solution
            if self.blocked:
                raise ReefError(self.blocked)
            self.error = None
            self.button.disabled = True
            self.button.description = "Installing…"
            self.button.icon = "spinner"
            self.status.value = message_html([self._what_happens()], "info")
            try:
                lock = self._install(self.report_progress)
            except BaseException as error:
                self.error = error
                self.button.disabled = False
                self.button.description = "Retry"
                self.button.icon = "refresh"
                text = str(error) if isinstance(error, ReefError) else f"{type(error).__name__}: {error}"
                self.status.value = message_html(text.splitlines() or [type(error).__name__], "error")
                raise
            self._installed(lock)
            return self.solution

    def wait(self, timeout: float | None = None):
        """Wait for the install a click started; the Solution, or None when it failed or still runs."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.solution

    def _clicked(self, _button=None) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._install_in_background, name="reef-init", daemon=True)
        self._thread.start()

    def _install_in_background(self) -> None:
        try:
            self.install()
        except ReefError:
            pass  # shown in the panel
        except Exception:  # a bug: shown in the panel, and its traceback logged
            log.exception("reef init failed")

    def _what_happens(self) -> str:
        return f"{self.effect.label}: " + "; ".join(self.effect.changes) + "…"

    def report_progress(self, name: str, done: int, total: int | None) -> None:
        """The ``progress(name, done, total)`` callback of ``reefnb.init``: one bar per artifact."""
        bar = self.progress_bars.get(name)
        if bar is None:
            bar = self.progress_bars[name] = widgets.IntProgress(
                min=0,
                max=max(total or 0, 1),
                description=name,
                bar_style="info",
                style={"description_width": "initial"},
                layout=widgets.Layout(width="420px"),
            )
            self.progress_labels[name] = widgets.HTML("")
            self.progress_box.children = [*self.progress_box.children, widgets.HBox([bar, self.progress_labels[name]])]
        if total:
            bar.max = max(total, 1)
        else:
            bar.max = max(bar.max, done, 1)
        bar.value = min(done, bar.max)
        self.progress_labels[name].value = escape(
            f"{format_size(done)} / {format_size(total)}" if total else format_size(done)
        )
        if total is not None and done >= total:
            bar.bar_style = "success"

    def _installed(self, lock: dict) -> None:
        self.lock = lock
        self.solution = self.plan.solution
        here = self._recheck() if self._recheck is not None else None
        if here is not None:  # where the solution runs now (its own environment), checked again
            self.here, self.rows = here, [dict(row) for row in here.rows]
        packages = {canonicalize_name(name): version for name, version in lock.get("packages", {}).items()}
        for row in self.rows if here is None else ():
            if row["kind"] == "package" and row["status"] in ("missing", "conflict"):
                row["found"] = packages.get(canonicalize_name(row["name"]))
                row["status"], row["reason"] = "installed", ""
            elif row["kind"] == "artifact":
                entry = lock.get("artifacts", {}).get(row["name"], {})
                if entry:
                    row["found"] = entry.get("source")
                    row["status"] = "found" if entry.get("source") == "cache" else "fetched"
                    row["reason"] = entry.get("path", "")
        for bar in self.progress_bars.values():
            bar.value, bar.bar_style = bar.max, "success"
        self.table.value = requirement_table(self.rows)
        self.header.value = self._header_html()
        self.changes.value = ""
        self.button.description, self.button.icon, self.button.button_style = "Installed", "check", "success"
        self.button.disabled = True
        environment = lock.get("environment", {})
        kernel = environment.get("kernel")
        workflows = ", ".join(self.solution.workflows) or "none"
        lines = [
            f"ready: {self.solution.name}@{self.solution.version} in {environment.get('path')}"
            + (f" (kernel {kernel})" if kernel else ""),
            f"workflows: {workflows} — run one with %reef run {self.solution.path}",
        ]
        self.status.value = message_html(lines, "ok")


class ParametersForm(widgets.VBox):
    """A form built from a notebook's parameter schema (``reef params``), with a Run button.

    One input per parameter: a dropdown for an enum, bounded number boxes for ranges, a checkbox
    for a boolean, a text box otherwise (lists and dicts as JSON). Values go through the same
    casting and checks as ``reef run -p``.
    """

    def __init__(self, solution, schema: dict, workflow: str = "run", run: Callable[..., dict] | None = None):
        self.solution, self.schema, self.workflow = solution, schema, workflow
        self._run = run
        self.inputs: dict[str, widgets.Widget] = {
            name: _input_for(name, prop) for name, prop in schema.get("properties", {}).items()
        }
        self.button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.button.on_click(lambda _: self.submit())
        self.output = widgets.Output()
        self.record: dict | None = None
        rows = [
            widgets.HBox(
                [widget, widgets.HTML(f"<span style='color:{_MUTED}'>{escape(prop.get('description', ''))}</span>")]
            )
            for widget, prop in zip(self.inputs.values(), schema.get("properties", {}).values(), strict=True)
        ]
        super().__init__(
            [widgets.HTML(f"<b>{escape(schema.get('title', 'parameters'))}</b>"), *rows, self.button, self.output]
        )

    def values(self) -> dict[str, Any]:
        """The form's values, as the command line would give them (strings for JSON fields)."""
        return {name: widget.value for name, widget in self.inputs.items()}

    def submit(self) -> dict | None:
        """Run the workflow with the form's values; the summary (or the error) shows below."""
        self.button.disabled = True
        self.output.clear_output()
        try:
            if self._run is not None:
                self.record = self._run(self.solution, workflow=self.workflow, parameters=self.values())
            else:
                self.record = commands.run(
                    RunSpec(solution=self.solution, workflow=self.workflow, parameters=self.values())
                )
            with self.output:
                display(run_summary(self.record), raw=True)
        except ReefError as error:
            with self.output:
                display(message(str(error)), raw=True)
        finally:
            self.button.disabled = False
        return self.record


def _input_for(name: str, prop: dict) -> widgets.Widget:
    kind, default = prop.get("type"), prop.get("default")
    style = {"description_width": "initial"}
    if "enum" in prop:
        return widgets.Dropdown(
            options=prop["enum"],
            value=default if default in prop["enum"] else prop["enum"][0],
            description=name,
            style=style,
        )
    if kind == "boolean":
        return widgets.Checkbox(value=bool(default), description=name, style=style)
    if kind in ("integer", "number"):
        low = prop.get("minimum", prop.get("exclusiveMinimum"))
        high = prop.get("maximum", prop.get("exclusiveMaximum"))
        integer = kind == "integer"
        value = default if isinstance(default, (int, float)) else (low or 0)
        if low is not None or high is not None:
            bounded = widgets.BoundedIntText if integer else widgets.BoundedFloatText
            return bounded(
                value=value,
                min=low if low is not None else -(2**53),
                max=high if high is not None else 2**53,
                description=name,
                style=style,
            )
        return (widgets.IntText if integer else widgets.FloatText)(value=value, description=name, style=style)
    if kind in ("array", "object"):
        return widgets.Text(value=json.dumps(default) if default is not None else "", description=name, style=style)
    return widgets.Text(value="" if default is None else str(default), description=name, style=style)


# ---------------------------------------------------------------------------------------------
# The Pareto explorer (``reefnb.explore``, ``%reef pareto``)

MAX_FILTER_VALUES = 12  # a param.* column with more distinct values (or only one) gets no filter
MAX_SELECTED_SHOWN = 50  # rows of the selected-runs table (``.selected`` holds them all)
COMPARED_ENVIRONMENT = ("env.name", "env.python", "env.cpu", "env.cpu_count", "env.memory_gb", "env.os", "env.kernel")
# Tables in notebook outputs: sized by their content (JupyterLab's rendered HTML fixes table layouts, which made long
# headers overlap), scrolling inside their own box when wider than the output, never the whole output.
_TABLE_BOX = "overflow-x:auto;max-width:100%"
_TABLE = "border-collapse:collapse;table-layout:auto;width:auto;margin:0.3em 0"
_CELL = "text-align:left;padding:0.15em 0.9em 0.15em 0;vertical-align:top"
_NOTE = f"font-size:0.85em;color:{_MUTED}"
# The chart takes its output's width ("container"). Vega measures the container once when drawn, and JupyterChart draws
# before JupyterLab attaches the output (0 px wide then), and again only on a window resize: this JSON patch of the
# compiled Vega spec (vega-embed's ``patch``; Vega-Lite puts the width signal first) keeps the last width measured
# while the container has none and measures again every 250 ms (nothing is redrawn while the width stays the same),
# so the chart follows a sidebar opened or closed too.
_CONTAINER_WIDTH = "containerSize()[0] > 0 ? containerSize()[0] : width"
FOLLOW_CONTAINER_WIDTH = [
    {
        "op": "add",
        "path": "/background",
        "value": "transparent",
    },  # the notebook's background, light or dark (CHART_THEME)
    {"op": "replace", "path": "/signals/0/init", "value": "containerSize()[0] > 0 ? containerSize()[0] : 480"},
    {
        "op": "replace",
        "path": "/signals/0/on",
        "value": [
            {"events": "window:resize", "update": _CONTAINER_WIDTH},
            {"events": {"type": "timer", "throttle": 250}, "update": _CONTAINER_WIDTH},
        ],
    },
]


# Vega draws with fixed colours (dark text and lines; FOLLOW_CONTAINER_WIDTH drops its white background): in JupyterLab's
# dark theme the chart takes the theme's own (CSS wins over SVG presentation attributes), scoped to the explorer, outside
# JupyterLab the fallbacks. A table wider than the output scrolls inside its own box (its HTML widget may shrink).
CHART_THEME = """<style>
.reef-explorer .vega-embed svg text { fill: var(--jp-ui-font-color1, #1f2328); }
.reef-explorer .vega-embed svg .role-axis-grid line { stroke: var(--jp-border-color2, #e0e0e0); }
.reef-explorer .vega-embed svg .role-axis-domain line, .reef-explorer .vega-embed svg .role-axis-tick line { stroke: var(--jp-ui-font-color2, #888); }
.reef-explorer .vega-embed svg .mark-line path[stroke="#444"] { stroke: var(--jp-ui-font-color1, #444); }
.reef-explorer .vega-embed svg .mark-symbol path[fill="black"] { fill: var(--jp-ui-font-color1, black); }
.reef-explorer .reef-table th { border-bottom: 1px solid var(--jp-border-color2, #d0d7de); }
.reef-explorer .widget-html, .reef-explorer .widget-html-content { min-width: 0; max-width: 100%; }
</style>"""


def explore(
    runs: Any = None, objectives: dict[str, str] | None = None, color: str | None = None, solution: Any = None
) -> ParetoExplorer:
    """The interactive Pareto explorer of ``runs``, a widget for a notebook.

    Only ok runs are drawn. Objectives and colour default to the manifest's dashboard section and its
    metrics' goals; without a manifest at hand, to the goals the runs' records kept. Parameters a run
    was not given show the default it ran with (see ``reefnb.analysis.frame.with_parameter_defaults``).

    Parameters
    ----------
    runs
        A results frame, a solution's name or its folder (None: every run recorded here).
    objectives
        ``{column or metric name: "min" | "max"}`` (default: as above).
    color
        The column the points are coloured by (default: the manifest's ``dashboard.color``, else ``env.name``).
    solution
        The ``Solution`` whose manifest gives a frame its meaning (units, goals, formats, parameter defaults).

    Returns
    -------
    ParetoExplorer
        The widget: ``.chart`` is the live ``altair.JupyterChart`` (drag to brush, click a point, wheel
        to zoom, shift-drag to pan, double-click to clear); ``.selected`` the runs selected on it;
        ``.frontier`` the frontier rows; ``.compare()`` what differs between the selected runs.

    Raises
    ------
    ReefError
        When no run is ok, or an objective is not usable (see ``reefnb.pareto_front``).
    """
    found = commands.frontier_runs(runs, objectives, solution=solution)
    return ParetoExplorer(
        found.frame,
        objectives=found.objectives or None,
        color=commands.chart_color(found.solution, color),
        solution=found.solution,
    )


def _breakable(text: Any, run_id: bool = False) -> str:
    """``text`` escaped, with places to break a long name: after ``.``, ``_``, ``-``, ``/`` (and a run id's ``T``)."""
    shown = "".join(escape(char) + ("<wbr>" if char in "._-/" else "") for char in str(text))
    return shown.replace("T", "T<wbr>", 1) if run_id else shown


def _table_html(columns: Sequence[str], rows: Iterable[Sequence[str]], classes: str = "") -> str:
    """A table of HTML cells under breakable headers, in a box that scrolls it when it is wider than the output."""
    head = "".join(f'<th style="{_CELL}">{_breakable(column)}</th>' for column in columns)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{value}</td>' for value in row) + "</tr>" for row in rows)
    return (
        f'<div class="reef-table-box" style="{_TABLE_BOX}"><table class="reef-table {classes}" style="{_TABLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _run_link(run: str, links: dict[str, str], by_id: Iterable[str] = ()) -> str:
    """A run id that opens the run's executed notebook: a relative link JupyterLab opens in the app (as a run
    view where the Reef extension is installed), else JupyterLab's ``reef:open-run`` command by run id."""
    if run in links:
        return f'<a href="{escape(quote(links[run]))}" target="_blank" style="white-space:nowrap">{escape(run)}</a>'
    if run in by_id:
        arguments = escape(json.dumps({"run_id": run}))
        return f'<a href="#" data-commandlinker-command="reef:open-run" data-commandlinker-args="{arguments}" style="white-space:nowrap">{escape(run)}</a>'
    return f'<span style="white-space:nowrap">{escape(run)}</span>'


def _filter_values(column) -> list[tuple[str, Any]]:
    """A filter's (label, value) options: numbers in numeric order (1000, 20000, 100000), then text in its own."""
    values = [value.item() if hasattr(value, "item") else value for value in column.dropna().unique()]
    numbers = sorted(value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool))
    others = sorted(
        (value for value in values if not isinstance(value, (int, float)) or isinstance(value, bool)), key=str
    )
    return [(format_number(value), value) for value in [*numbers, *others]]


class Comparison:
    """Selected runs side by side (a column each): parameters, metrics with units, environment and
    packages; ``differences`` keeps the rows whose values are not all the same. Each run id (a column's
    header) opens the run's executed notebook: ``links`` maps run ids to a relative link, ``by_id`` names
    the runs opened through JupyterLab's ``reef:open-run`` command instead."""

    def __init__(self, table, links: dict[str, str], by_id: Iterable[str] = ()):
        self.frame = table
        self.links = links
        self.by_id = set(by_id) - set(links)
        same = (
            table.apply(lambda row: row.astype(str).nunique() <= 1, axis=1)
            if table.shape[1] > 1
            else table.index.map(lambda _: False)
        )
        self.differences = table[~same.to_numpy(dtype=bool)] if len(table) else table

    def __repr__(self) -> str:
        shown = self.differences if self.frame.shape[1] > 1 else self.frame
        return f"{self.frame.shape[1]} runs, {len(self.differences)} rows differ\n" + shown.to_string()

    def _repr_html_(self) -> str:
        shown = self.differences if self.frame.shape[1] > 1 else self.frame
        runs = [str(run) for run in shown.columns]
        head = "".join(f'<th style="{_CELL};min-width:6em">{self._header(run)}</th>' for run in runs)
        body = "".join(
            f'<tr><th style="{_CELL};white-space:nowrap">{escape(label)}</th>'
            + "".join(f'<td style="{_CELL}">{escape(value)}</td>' for value in values)
            + "</tr>"
            for label, values in zip(shown.index, shown.to_numpy(), strict=True)
        )
        note = (
            f"{len(self.frame) - len(self.differences)} more rows are the same in every run"
            if self.frame.shape[1] > 1
            else "one run"
        )
        opens = "; a run id opens its executed notebook" if self.links or self.by_id else ""
        return (
            f'<div class="reef-compare"><div class="reef-table-box" style="{_TABLE_BOX}"><table class="reef-table" style="{_TABLE}">'
            f'<thead><tr><th style="{_CELL}"></th>{head}</tr></thead><tbody>{body}</tbody></table></div>'
            f'<div style="{_NOTE}">{escape(note)}{escape(opens)}</div></div>'
        )

    def _header(self, run: str) -> str:
        """The run id, breakable after its date and time (20260101T / 000000Z- / hex), as its notebook's link."""
        text = _breakable(run, run_id=True)
        if run in self.links:
            return f'<a href="{escape(quote(self.links[run]))}" target="_blank">{text}</a>'
        if run in self.by_id:
            arguments = escape(json.dumps({"run_id": run}))
            return f'<a href="#" data-commandlinker-command="reef:open-run" data-commandlinker-args="{arguments}">{text}</a>'
        return text


def _layout(**properties) -> widgets.Layout:
    return widgets.Layout(**properties)


def _wrapping(children: Sequence[widgets.Widget], gap: str = "0.3em 1.4em") -> widgets.Box:
    """A row that wraps its children onto the next line when the output is narrow (and never scrolls)."""
    return widgets.Box(
        list(children),
        layout=_layout(
            display="flex",
            flex_flow="row wrap",
            align_items="center",
            grid_gap=gap,
            overflow="visible",
            width="100%",
            margin="0",
        ),
    )


def _group(children: Sequence[widgets.Widget]) -> widgets.HBox:
    """Controls that stay together on one line (an axis and its direction)."""
    return widgets.HBox(
        list(children), layout=_layout(flex_flow="row nowrap", align_items="center", overflow="visible", width="auto")
    )


class ParetoExplorer(widgets.VBox):
    """Pick x, y, colour, objective directions and filters; the frontier and the live chart follow.

    The chart is an ``altair.JupyterChart`` (anywidget; Vega comes from vl-convert, nothing from the
    network): in JupyterLab, Notebook 7 and VS Code it brushes, clicks, zooms and shows tooltips,
    and what is selected comes back to ``.selected``. Front ends without widgets get the SVG. The controls
    wrap and the chart takes the output's width, so it fits from about 600 px up (a notebook beside a sidebar).
    """

    def __init__(
        self,
        frame,
        objectives: dict[str, str] | None = None,
        color: str = "env.name",
        solution: Any = None,
        store: Any = None,
    ):
        import altair as alt

        alt.JupyterChart.enable_offline()  # the Vega libraries from vl-convert, not from a CDN
        frame = with_parameter_defaults(frame, solution)  # a run not given a parameter shows the default it ran with
        self.frame, self.solution, self.store = frame, solution, store
        self.metrics = metric_meaning(solution, frame)  # units, goals and formats: the manifest's, else as recorded
        self.frontier = frame.iloc[0:0]
        self.selected = frame.iloc[0:0]
        self.shown = frame.iloc[0:0]
        self._axis_controls(frame, normalise_objectives(frame, objectives) if objectives else {})
        categorical = [
            c
            for c in frame.columns
            if str(c).startswith(("param.", "env.")) and 0 < frame[c].nunique() <= MAX_FILTER_VALUES
        ]
        self.color = widgets.Dropdown(
            options=["(none)", *categorical],
            value=color if color in categorical else "(none)",
            description="colour",
            style=self.STYLE,
            layout=_layout(width="auto", min_width="10em", max_width="22em"),
        )
        self.log_x = widgets.Checkbox(description="log x", indent=False, layout=_layout(width="auto", flex="0 0 auto"))
        self.log_y = widgets.Checkbox(description="log y", indent=False, layout=_layout(width="auto", flex="0 0 auto"))
        self.filters = {
            column: widgets.SelectMultiple(
                options=options,
                value=tuple(value for _, value in options),
                description=column.removeprefix("param."),
                rows=min(len(options), 4),
                style=self.STYLE,
                layout=_layout(width="auto", min_width="9em", max_width="18em", flex="0 1 auto"),
            )
            for column in categorical
            if (column.startswith("param.") or column == "env.name")
            and frame[column].nunique() > 1  # one value: nothing to filter
            for options in [_filter_values(frame[column])]
        }
        self.status = widgets.HTML()
        self.table = widgets.HTML(layout=_layout(width="100%", margin="0"))
        self.selection_view = widgets.HTML(layout=_layout(width="100%", margin="0"))
        self.chart = alt.JupyterChart(
            self._chart(frame),
            embed_options={"actions": False, "renderer": "svg", "patch": FOLLOW_CONTAINER_WIDTH},
            layout=_layout(width="100%", margin="0"),
        )
        self.chart.observe(self._selection_changed, names="_vl_selections")
        self._follow_controls()
        theme = widgets.HTML(
            CHART_THEME, layout=_layout(margin="0", height="0")
        )  # a <style>: the chart in the notebook's theme
        controls = _wrapping(
            [
                _group([self.x, self.x_direction]),
                _group([self.y, self.y_direction]),
                self.color,
                _group([self.log_x, self.log_y]),
            ]
        )
        children = [
            controls,
            *([_wrapping(list(self.filters.values()), gap="0.3em 1em")] if self.filters else []),
            self.status,
            self.chart,
        ]
        super().__init__(
            [theme, *children, self.selection_view, self.table], layout=_layout(width="100%", overflow="visible")
        )
        self.add_class("reef-explorer")
        self.update()

    STYLE = {"description_width": "initial"}

    def _axis_controls(self, frame, objectives: dict[str, str]) -> None:
        """x and y (the objectives first, then other numeric columns) and their directions (declared goals where known)."""
        numeric = [
            c for c in frame.columns if str(c).startswith(("metric.", "param.")) and frame[c].dtype.kind in "iuf"
        ]
        if len(numeric) < 2:
            raise ReefError(
                "the Pareto explorer needs two numeric metric or parameter columns; these runs have "
                + (", ".join(numeric) or "none")
            )
        axes = [*objectives, *(c for c in numeric if c not in objectives)][:2]
        axis_layout = {"width": "auto", "min_width": "10em", "max_width": "22em", "flex": "1 1 auto"}
        self.x = widgets.Dropdown(
            options=numeric, value=axes[0], description="x", style=self.STYLE, layout=_layout(**axis_layout)
        )
        self.y = widgets.Dropdown(
            options=numeric, value=axes[1], description="y", style=self.STYLE, layout=_layout(**axis_layout)
        )
        toggle = {"style": {"button_width": "4.2em"}, "tooltips": ["lower is better", "higher is better"]}
        self.x_direction = widgets.ToggleButtons(
            options=["min", "max"],
            value=objectives.get(axes[0], "min"),
            layout=_layout(width="auto", flex="0 0 auto"),
            **toggle,
        )
        self.y_direction = widgets.ToggleButtons(
            options=["min", "max"],
            value=objectives.get(axes[1], "min"),
            layout=_layout(width="auto", flex="0 0 auto"),
            **toggle,
        )
        self.declared = {column for column in objectives} | {column for column in axes if self._goal(column)}
        for axis, direction in ((axes[0], self.x_direction), (axes[1], self.y_direction)):
            if axis not in objectives and self._goal(axis):
                direction.value = self._goal(axis)

    def _follow_controls(self) -> None:
        """Every control redraws; a direction chosen counts as declared; a new axis takes its declared goal."""
        for axis, direction in ((self.x, self.x_direction), (self.y, self.y_direction)):  # before the redraw below
            direction.observe(lambda change, axis=axis: self.declared.add(axis.value), names="value")
            axis.observe(
                lambda change, direction=direction: self._axis_changed(change["new"], direction), names="value"
            )
        controls = [
            self.x,
            self.x_direction,
            self.y,
            self.y_direction,
            self.color,
            self.log_x,
            self.log_y,
            *self.filters.values(),
        ]
        for control in controls:
            control.observe(lambda change: self.update(), names="value")

    def _goal(self, column: str) -> str | None:
        """The declared goal of a column: its metric's (manifest, else records), else telemetry's."""
        return (
            self.metrics.get(column.removeprefix("metric."), {}).get("goal")
            if column.startswith("metric.")
            else telemetry_goal(column)
        )

    def _axis_changed(self, column: str, direction) -> None:
        # A newly chosen axis takes its declared goal (and counts as declared: the chart assumes nothing).
        if self._goal(column) and column not in self.declared:
            self.declared.add(column)
            direction.value = self._goal(column)

    @property
    def objectives(self) -> dict[str, str]:
        return {self.x.value: self.x_direction.value, self.y.value: self.y_direction.value}

    def filtered(self):
        """The runs the filters let through."""
        frame = self.frame
        for column, control in self.filters.items():
            if len(control.value) < len(control.options):
                frame = frame[frame[column].isin(list(control.value))]
        return frame

    def _chart(self, frame):
        directions = {column: goal for column, goal in self.objectives.items() if column in self.declared}
        return pareto_chart(
            frame,
            self.x.value,
            self.y.value,
            directions=directions,
            color=None if self.color.value == "(none)" else self.color.value,
            log_x=self.log_x.value,
            log_y=self.log_y.value,
            detail=False,
            metrics=self.metrics,
            zoom=True,
            dataset="param.dataset",
            title=self._title(),
            width="container",  # the output's width (the legend inside it), not a fixed 480 px
        )

    def _title(self) -> str | None:
        if self.solution is None:
            return None
        return f"{self.solution.name}: {self.y.value.removeprefix('metric.')} vs {self.x.value.removeprefix('metric.')}"

    def _columns(self, frame, x: str, y: str) -> list[str]:
        """The table's columns: the run, its environment, the filtered parameters, the axes; each once."""
        return [c for c in dict.fromkeys(["run_id", "env.name", *self.filters, x, y]) if c in frame]

    def update(self) -> None:
        """Recompute the frontier and redraw the table and chart (the selection starts empty again)."""
        if self.x.value == self.y.value:
            self.status.value = message_html(["choose two different columns for x and y"], "warning")
            return
        frame = self.filtered()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.frontier = pareto_front(frame, self.objectives)
        notes = [f"{len(self.frontier)} of {len(frame)} runs on the frontier"] + [str(w.message) for w in caught]
        self.status.value = message_html(notes, "info")
        columns = self._columns(self.frontier, self.x.value, self.y.value)
        self.table.value = _table_html(
            self._headers(columns), self._cells(self.frontier[columns]), classes="reef-frontier"
        )
        self.shown = frame[frame[[self.x.value, self.y.value]].notna().all(axis=1)]
        self._axes = (self.x.value, self.y.value)
        if len(self.shown):
            self.chart.chart = self._chart(frame)  # new selections, empty: _selection_changed follows
        self._selection_changed()

    def _headers(self, columns: Sequence[str]) -> list[str]:
        """Column names as the table heads them, a unit after its column (``metric.time_ms [ms]``)."""
        units = {
            **self.frame.attrs.get("units", {}),
            **{f"metric.{name}": spec["unit"] for name, spec in self.metrics.items() if spec.get("unit")},
        }
        return [f"{column} [{units[column]}]" if units.get(column) else column for column in columns]

    def _cell(self, column: str, value: Any) -> str:
        """A value as its table shows it: a metric in its declared format (the unit is in the header)."""
        if column.startswith("metric."):
            return format_metric(value, {"format": self.metrics.get(column.removeprefix("metric."), {}).get("format")})
        return format_number(value)

    def _cell_html(self, column: str, value: Any) -> str:
        """A cell: empty for a missing value; a number kept on one line (``2.00e-01`` is not broken at its ``-``)."""
        import pandas

        if pandas.isna(value):
            return ""
        text = escape(self._cell(column, value))
        return (
            f'<span style="white-space:nowrap">{text}</span>'
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else text
        )

    def _cells(self, frame, links: dict[str, str] | None = None, by_id: Iterable[str] = ()) -> list[list[str]]:
        """Rows of HTML cells: the run id first (a link to its notebook where there is one), empty for a missing value."""
        rows = []
        for row in frame.itertuples(index=False):
            cells = [self._cell_html(column, value) for column, value in zip(frame.columns, row, strict=True)]
            if frame.columns[0] == "run_id":
                cells[0] = _run_link(str(row[0]), links or {}, by_id)
            rows.append(cells)
        return rows

    # -- what is selected on the chart --

    def _selection_changed(self, change: Any = None) -> None:
        self.selected = self.selected_rows(self.chart._vl_selections or {})
        self.selection_view.value = self._selected_html()

    def selected_rows(self, state: dict):
        """The runs a JupyterChart selection state names: a clicked point's run, else the runs
        (among those the filters let through, drawn or not) inside the brushed x/y range."""
        shown = self.shown
        click = self._clicked_ids(state.get("click") or {})
        if click:
            return shown[shown["run_id"].astype(str).isin(click)]
        ranges = self._brushed_ranges(state.get("brush") or {})
        if not ranges:
            return shown.iloc[0:0]
        inside = shown.index == shown.index
        for column, (low, high) in ranges.items():
            values = shown[column].astype(float)
            inside &= ((values >= min(low, high)) & (values <= max(low, high))).to_numpy()
        return shown[inside]

    @staticmethod
    def _clicked_ids(selection: dict) -> set[str]:
        ids = set()
        for entry in selection.get("store") or []:
            fields = [field.get("field") for field in entry.get("fields", [])]
            for field, value in zip(fields, entry.get("values", []), strict=False):
                if field == "run_id":
                    ids.add(str(value))
        value = selection.get("value") or {}
        if not ids and isinstance(value, dict):
            ids = {
                str(point.get("run_id")) for point in value.get("vlPoint", {}).get("or", []) if isinstance(point, dict)
            }
        return ids

    def _brushed_ranges(self, selection: dict) -> dict[str, tuple[float, float]]:
        x, y = self._axes
        ranges: dict[str, tuple[float, float]] = {}
        for entry in selection.get("store") or []:
            for field, values in zip(entry.get("fields", []), entry.get("values", []), strict=False):
                column = {"x": x, "y": y}.get(field.get("channel")) or str(field.get("field", "")).replace("\\", "")
                if column in (x, y) and isinstance(values, list) and len(values) == 2:
                    ranges[column] = (float(values[0]), float(values[1]))
        value = selection.get("value") or {}
        if not ranges and isinstance(value, dict):
            for key, values in value.items():
                column = str(key).replace("\\", "")
                if column in (x, y) and isinstance(values, list) and len(values) == 2:
                    ranges[column] = (float(values[0]), float(values[1]))
        return ranges

    def _selected_html(self) -> str:
        selected = self.selected
        if selected.empty:
            return f'<div style="{_NOTE}">drag a box or click a point to select runs; .selected holds them</div>'
        columns = self._columns(selected, *self._axes)
        links, by_id = self._notebook_links(selected["run_id"].astype(str).head(MAX_SELECTED_SHOWN))
        more = f" (first {MAX_SELECTED_SHOWN})" if len(selected) > MAX_SELECTED_SHOWN else ""
        rows = self._cells(selected[columns].head(MAX_SELECTED_SHOWN), links, by_id)
        return f"<b>{len(selected)} selected{more}</b>" + _table_html(
            self._headers(columns), rows, classes="reef-selected"
        )

    def _records(self, run_ids) -> dict[str, dict]:
        try:
            store = self.store or default_store()
            return {run: record for run in run_ids if (record := store.get(run)) is not None}
        except ReefError as error:
            log.warning("%s", error)
            return {}

    def _notebook_links(self, run_ids, records: dict[str, dict] | None = None) -> tuple[dict[str, str], set[str]]:
        """Each run's executed notebook: relative to the kernel's folder (where JupyterLab opened the notebook, so
        a link opens it in JupyterLab) where the server serves it; else the runs opened by run id (``reef:open-run``)."""
        links, by_id = {}, set()
        root = _server_root()
        records = self._records(run_ids) if records is None else records
        for run, record in records.items():
            output = (record.get("notebook") or {}).get("output_path")
            if not output or not Path(output).is_file():
                continue
            if root is None or Path(output).resolve().is_relative_to(root):
                links[run] = Path(os.path.relpath(output)).as_posix()
            else:
                by_id.add(run)
        return links, by_id

    def compare(self, runs: Any = None) -> Comparison:
        """The selected runs (or ``runs``: a frame or run ids) side by side: parameters (defaults included),
        metrics with units, environment (python, CPU, memory, OS, kernel) and package versions."""
        import pandas

        if runs is None:
            chosen = self.selected
        elif isinstance(runs, pandas.DataFrame):
            chosen = self.frame[self.frame["run_id"].isin(list(runs["run_id"]))] if "run_id" in runs else runs
        else:
            chosen = self.frame[self.frame["run_id"].isin(list(runs))]
        if chosen.empty:
            raise ReefError("no runs selected: drag a box or click a point on the chart first (or pass run ids)")
        run_ids = [str(run) for run in chosen["run_id"]]
        units = self.frame.attrs.get("units", {})
        table: dict[str, dict[str, str]] = {run: {} for run in run_ids}
        params = [c for c in chosen.columns if str(c).startswith("param.")]
        metrics = [c for c in chosen.columns if str(c).startswith("metric.")]
        environment = [c for c in COMPARED_ENVIRONMENT if c in chosen.columns]
        for run, (_, row) in zip(run_ids, chosen.iterrows(), strict=True):
            for column in params + environment:
                table[run][column] = "" if pandas.isna(row[column]) else format_number(row[column])
            for column in metrics:
                spec = dict(self.metrics.get(column.removeprefix("metric."), {}))
                spec.setdefault("unit", units.get(column))
                table[run][column] = format_metric(None if pandas.isna(row[column]) else row[column], spec)
        records = self._records(run_ids)
        for run, record in records.items():
            for name, version in sorted(((record.get("environment") or {}).get("packages") or {}).items()):
                table[run][f"package {name}"] = str(version)
        frame = pandas.DataFrame(table).fillna("")
        return Comparison(frame, *self._notebook_links(run_ids, records))

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data:
            data["text/plain"] = f"Pareto explorer: {len(self.frontier)} of {len(self.filtered())} runs on the frontier"
            try:  # front ends without widgets (nbviewer, a notebook saved without widget state) show the chart as SVG
                data["image/svg+xml"] = chart_svg(self._static_chart())
            except Exception as error:  # the widget still works; only the static copy is missing
                log.warning("no static copy of the Pareto chart: %s", error)
        return data

    def _static_chart(self):
        """The chart at a fixed width (an SVG has no container to take its width from)."""
        return self.chart.chart.properties(width=480)


def _server_root() -> Path | None:
    """The folder the Jupyter server serves, as the kernel can tell (its folder less the notebook's folder
    in ``JPY_SESSION_NAME``, the notebook's path the server gave the kernel); None when it cannot tell."""
    session = os.environ.get("JPY_SESSION_NAME")
    if not session or Path(session).is_absolute():
        return None
    here, folders = Path.cwd().resolve(), Path(session).parent.parts
    if folders and here.parts[-len(folders) :] != folders:
        return None
    return Path(*here.parts[: len(here.parts) - len(folders)]) if folders else here
