"""The Pareto explorer (``reefnb.explore``, ``%reef pareto``): the frontier chart with axis, goal and filter
controls, the table of the selected runs, and ``compare`` of runs side by side.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets as widgets

from reefnb.analysis.frame import metric_meaning, with_parameter_defaults
from reefnb.analysis.pareto import normalise_objectives, pareto_front
from reefnb.analysis.plots import chart_svg, pareto_chart
from reefnb.common.exceptions import ReefError
from reefnb.common.units import format_metric
from reefnb.frontends import commands
from reefnb.frontends.rendering import format_number
from reefnb.frontends.widgets.markup import MUTED, escape, message_html
from reefnb.runs.store import Store, default_store
from reefnb.runs.telemetry import goal as telemetry_goal

log = logging.getLogger(__name__)


MAX_FILTER_VALUES = 12  # a param.* column with more distinct values (or only one) gets no filter
MAX_SELECTED_SHOWN = 50  # rows of the selected-runs table (``.selected`` holds them all)
COMPARED_ENVIRONMENT = ("env.name", "env.python", "env.cpu", "env.cpu_count", "env.memory_gb", "env.os", "env.kernel")
# Tables in notebook outputs: sized by their content (JupyterLab's rendered HTML fixes table layouts, which made long
# headers overlap), scrolling inside their own box when wider than the output, never the whole output.
_TABLE_BOX = "overflow-x:auto;max-width:100%"
_TABLE = "border-collapse:collapse;table-layout:auto;width:auto;margin:0.3em 0"
_CELL = "text-align:left;padding:0.15em 0.9em 0.15em 0;vertical-align:top"
_NOTE = f"font-size:0.85em;color:{MUTED}"
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


# Vega draws with fixed colours (dark text and lines; FOLLOW_CONTAINER_WIDTH drops its white background): in
# JupyterLab's dark theme the chart takes the theme's own (CSS wins over SVG presentation attributes), scoped to the
# explorer, outside
# JupyterLab the fallbacks. A table wider than the output scrolls inside its own box (its HTML widget may shrink).
CHART_THEME = """<style>
.reef-explorer .vega-embed svg text { fill: var(--jp-ui-font-color1, #1f2328); }
.reef-explorer .vega-embed svg .role-axis-grid line { stroke: var(--jp-border-color2, #e0e0e0); }
.reef-explorer .vega-embed svg .role-axis-domain line, .reef-explorer .vega-embed svg .role-axis-tick line {
  stroke: var(--jp-ui-font-color2, #888); }
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
        return (
            f'<a href="#" data-commandlinker-command="reef:open-run" data-commandlinker-args="{arguments}" '
            f'style="white-space:nowrap">{escape(run)}</a>'
        )
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
            f'<div class="reef-compare"><div class="reef-table-box" style="{_TABLE_BOX}">'
            f'<table class="reef-table" style="{_TABLE}">'
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
            command = 'data-commandlinker-command="reef:open-run"'
            return f'<a href="#" {command} data-commandlinker-args="{arguments}">{text}</a>'
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
        store: Store | None = None,
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
        """x and y (the objectives first, then other numeric columns) and their directions (declared goals where
        known)."""
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
        """Rows of HTML cells: the run id first (a link to its notebook where there is one), empty for a missing
        value."""
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
        a link opens it in JupyterLab) where the server serves it; else the runs opened by run id
        (``reef:open-run``)."""
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
