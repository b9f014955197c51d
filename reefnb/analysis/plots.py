"""Altair charts of the results frame: the Pareto scatter with its frontier and a linked detail table.

Altair refuses more than 5,000 rows (MaxRowsError) and big specs crash notebooks, so the chart carries
only what it draws: the frontier, the reference rows and, past ``max_points``, a sample of the rest.
Selections keep working because the data stays inline in the spec.

``offline_page`` writes charts into one HTML page that renders offline (the Vega libraries inlined), for
``save_chart`` and the dashboard: the specs as inert JSON, the page's two scripts allowed by their hashes and no
other (``reefnb.common.pages``), Vega's expressions evaluated by its interpreter, so the page needs no ``eval``.
"""

from __future__ import annotations

import html
import logging
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reefnb.analysis.frame import recorded_meaning
from reefnb.analysis.pareto import normalise_objectives, pareto_mask
from reefnb.common.exceptions import ReefError
from reefnb.common.files import write_text_atomically
from reefnb.common.pages import json_script, security_policy
from reefnb.common.paths import reef_home

if TYPE_CHECKING:
    import altair
    import pandas

log = logging.getLogger(__name__)

MAX_POINTS = 4_000  # rows sent to the browser, frontier included (Altair's limit is 5,000)
DETAIL_ROWS = 12
SAVE_FORMATS = (".html", ".png", ".svg", ".json")
REFERENCE_DETAILS = ("dataset", "images", "model", "input_size")  # what a reference row was measured on
REFERENCE_NAME = (
    "round",
    "system",
    "param.scenario",
    "scenario",
)  # what a reference point is labelled with, where the table has them
LABEL_FONT_SIZE = 10
LABEL_CHARACTER_WIDTH = (
    6.2  # pixels, a generous average of a 10 px sans-serif font: a label's box is estimated, not measured
)
MARK_RADIUS = 7  # pixels: a reference diamond of size 140


@dataclass(frozen=True)
class _ChartOptions:
    """How ``pareto_chart`` draws, as its parameters after ``frame``, ``x`` and ``y`` say (in their order)."""

    directions: Mapping[str, str] | None
    color: str | None
    log_x: bool
    log_y: bool
    reference: pandas.DataFrame | None
    tooltip: Sequence[str] | None
    detail_columns: Sequence[str] | None
    title: str | None
    max_points: int
    width: int
    height: int
    detail: bool
    metrics: Mapping[str, Mapping] | None
    zoom: bool
    dataset: str | None


@dataclass(frozen=True)
class _ChartRuns:
    """What the chart draws: the rows (frontier first), the axes as objectives, and how columns are named and shown."""

    data: pandas.DataFrame
    references: pandas.DataFrame | None
    x: str
    y: str
    objectives: dict[str, str]
    assumed: list[str]
    total: int
    metrics: dict[str, Mapping]
    units: dict[str, str]
    color: str | None
    dataset: str | None
    tooltip: list[str]
    columns: list[str]


def pareto_chart(
    frame: pandas.DataFrame,
    x: str,
    y: str,
    directions: Mapping[str, str] | None = None,
    color: str | None = "env.name",
    log_x: bool = False,
    log_y: bool = False,
    reference: pandas.DataFrame | None = None,
    tooltip: Sequence[str] | None = None,
    detail_columns: Sequence[str] | None = None,
    title: str | None = None,
    max_points: int = MAX_POINTS,
    width: int = 480,
    height: int = 320,
    detail: bool = True,
    metrics: Mapping[str, Mapping] | None = None,
    zoom: bool = False,
    dataset: str | None = None,
) -> altair.VConcatChart | altair.LayerChart:
    """The runs as points of ``x`` against ``y``, the frontier as a step line, reference rows as
    black diamonds, and below (unless ``detail`` is False) a table of the runs chosen with a brush
    (drag) or a click.

    ``directions`` maps x and y to "min" or "max"; bare metric names are accepted. An axis with no
    direction takes its metric's goal (``metrics``, else what the runs' records kept), else it is
    minimised and the subtitle says so (no direction is assumed silently).
    ``metrics`` (the manifest's, by bare name) give units, goals and number formats of the axes; what
    they leave out comes from the records (``frame.attrs``, see ``reefnb.analysis.frame.recorded_meaning``).
    ``zoom`` binds the scales to the mouse wheel (zoom) and shift-drag (pan); a drag still brushes.
    ``dataset`` names the column that says which data set a row was measured on (runs and reference
    rows): its values become the points' shapes, so results on different data sets are told apart.
    Tooltips show ``tooltip`` (default: run_id, the axes, colour, every param.* and env.name).
    """
    options = _ChartOptions(
        directions,
        color,
        log_x,
        log_y,
        reference,
        tooltip,
        detail_columns,
        title,
        max_points,
        width,
        height,
        detail,
        metrics,
        zoom,
        dataset,
    )
    return _drawn_chart(_chart_runs(frame, x, y, options), options)


def _chart_runs(frame: pandas.DataFrame, x: str, y: str, options: _ChartOptions) -> _ChartRuns:
    """The rows to draw (frontier, then a sample of the rest), the axes as objectives, the columns shown."""
    recorded = recorded_meaning(frame)
    given = options.metrics or {}
    metrics = {
        **recorded,
        **{name: {**recorded.get(name, {}), **spec} for name, spec in given.items() if isinstance(spec, Mapping)},
    }
    objectives, assumed = _chart_objectives(frame, x, y, options.directions, metrics)
    x, y = list(objectives)
    frame = frame.assign(**{column: _numeric(frame[column]) for column in (x, y)})
    color, dataset = _shown_column(frame, options.color), _shown_column(frame, options.dataset)
    units = {
        **frame.attrs.get("units", {}),
        **{
            f"metric.{name}": spec["unit"]
            for name, spec in metrics.items()
            if isinstance(spec, Mapping) and spec.get("unit")
        },
    }
    drawn, total = drawn_rows(frame, objectives, options.max_points)
    tooltip = list(options.tooltip) if options.tooltip is not None else _default_tooltip(frame, x, y, color)
    wanted = ["run_id", x, y, color, dataset, *tooltip, *(options.detail_columns or [])]
    columns = list(dict.fromkeys([c for c in wanted if c and c in frame.columns]))
    data = drawn[columns + ["on_front"]].copy()
    data = _json_safe(data.sort_values(["on_front", x], ascending=[False, objectives[x] == "min"], kind="stable"))
    reference = options.reference
    references = reference if reference is not None and len(reference) and x in reference and y in reference else None
    return _ChartRuns(
        data, references, x, y, objectives, assumed, total, metrics, units, color, dataset, tooltip, columns
    )


def _shown_column(frame: pandas.DataFrame, column: str | None) -> str | None:
    """``column`` when the frame has it with at least one value, else None (nothing to colour or shape by)."""
    if column is not None and (column not in frame.columns or frame[column].isna().all()):
        return None
    return column


def _drawn_chart(runs: _ChartRuns, options: _ChartOptions) -> altair.VConcatChart | altair.LayerChart:
    """The scatter of the runs with its frontier and reference rows, and below it (``detail``) the linked table."""
    import altair as alt

    data, x, y = runs.data, runs.x, runs.y
    brush = alt.selection_interval(name="brush")
    click = (
        alt.selection_point(name="click", fields=["run_id"], on="click", clear="dblclick") if "run_id" in data else None
    )
    encoding: dict[str, Any] = {
        "x": _chart_axis(runs, x, options.log_x, alt.X),
        "y": _chart_axis(runs, y, options.log_y, alt.Y),
        "tooltip": [alt.Tooltip(f"{_field(c)}:{_type(data[c])}", title=c) for c in runs.tooltip if c in data],
    }
    if runs.color:
        encoding["color"] = alt.Color(f"{_field(runs.color)}:N", title=runs.color)
    if runs.dataset:
        encoding["shape"] = alt.Shape(f"{_field(runs.dataset)}:N", title="data set")
    selections = [brush, *([click] if click else [])]
    layers = [*_run_layers(data, x, y, encoding, selections, options.zoom), *_reference_layers(runs, options)]
    title = options.title or f"{y.removeprefix('metric.')} vs {x.removeprefix('metric.')}"
    scatter = alt.layer(*layers).properties(
        width=options.width,
        height=options.height,
        title=alt.TitleParams(title, subtitle=_subtitle(data, runs.total, runs.assumed)),
    )
    if not options.detail:
        return scatter.configure_view(strokeWidth=0)
    table = detail_table(data, list(options.detail_columns or runs.columns[:6]), brush, click)
    return alt.vconcat(scatter, table).resolve_scale(color="independent").configure_view(strokeWidth=0)


def _chart_axis(runs: _ChartRuns, column: str, log: bool, kind: type) -> Any:
    """An axis (``kind``: alt.X or alt.Y) titled with the metric, its
    unit and its direction; its scale fits runs and references."""
    import altair as alt

    label = column.removeprefix("metric.") + (f" ({runs.units[column]})" if column in runs.units else "")
    arrow = " ↓" if runs.objectives[column] == "min" else " ↑"
    return kind(
        f"{_field(column)}:Q",
        title=label + arrow,
        scale=_scale(_axis_values(runs, column), log),
        axis=alt.Axis(tickCount=6, format=_axis_format(runs.metrics.get(column.removeprefix("metric."), {}))),
    )


def _chart_objectives(
    frame: pandas.DataFrame, x: str, y: str, directions: Mapping[str, str] | None, metrics: Mapping[str, Mapping]
) -> tuple[dict[str, str], list[str]]:
    """The axes as objectives: the direction given, else the metric's goal, else "min"; and the axes whose
    direction was assumed (no direction given, no goal declared)."""
    directions = dict(directions or {})
    named = normalise_objectives(frame, {x: "min", y: "min"})
    for given, column in zip((x, y), named, strict=False):
        goal = metrics.get(column.removeprefix("metric."), {}).get("goal") if column.startswith("metric.") else None
        if goal in ("min", "max") and not {given, column, column.removeprefix("metric.")} & set(directions):
            directions[given] = directions[column] = goal
    assumed = [
        column for column in named if column not in directions and column.removeprefix("metric.") not in directions
    ]
    return normalise_objectives(frame, {x: directions.get(x, "min"), y: directions.get(y, "min")}), assumed


def _run_layers(data: pandas.DataFrame, x: str, y: str, encoding: dict[str, Any], selections: list, zoom: bool) -> list:
    """The frontier as a dashed step line under the runs' points (frontier points larger; outside the brush, faded)."""
    import altair as alt

    brush = selections[0]
    wheel = (
        [
            alt.selection_interval(
                name="zoom",
                bind="scales",
                zoom="wheel!",
                translate="[mousedown[event.shiftKey], window:mouseup] > window:mousemove!",
            )
        ]
        if zoom
        else []
    )
    points = (
        alt.Chart(data)
        .mark_point(size=50, filled=True)
        .encode(
            **encoding,
            opacity=alt.condition(brush, alt.value(0.85), alt.value(0.25)),
            size=alt.condition("datum.on_front", alt.value(90), alt.value(40)),
        )
        .add_params(*selections, *wheel)
    )
    frontier = (
        alt.Chart(data[data["on_front"]].sort_values(x))
        .mark_line(interpolate="step-after", color="#444", strokeDash=[4, 2])
        .encode(x=f"{_field(x)}:Q", y=f"{_field(y)}:Q")
    )
    return [frontier, points]


def _reference_layers(runs: _ChartRuns, options: _ChartOptions) -> list:
    """Reference rows as black diamonds, each labelled with its round, system and scenario (``reference_names``); the
    labels are laid out so that none overlaps another or a diamond
    (``label_places``), a line joining a moved one to its point."""
    references, x, y = runs.references, runs.x, runs.y
    if references is None:
        return []
    import altair as alt

    columns = [
        c for c in dict.fromkeys(["run_id", "label", x, y, *REFERENCE_DETAILS, *runs.tooltip]) if c in references
    ]
    ref = references[columns].assign(**{x: _numeric(references[x]), y: _numeric(references[y])}).dropna(subset=[x, y])
    if ref.empty:
        return []
    width, height = (options.width if isinstance(options.width, int) else 480), options.height
    scales = (
        _Axis(_domain(_axis_values(runs, x), options.log_x), options.log_x, width, False),
        _Axis(_domain(_axis_values(runs, y), options.log_y), options.log_y, height, True),
    )
    names = reference_names(references.loc[ref.index])
    places = label_places(list(zip(ref[x], ref[y], strict=True)), names, scales)
    ref = _json_safe(
        ref.assign(
            reference_name=names,
            label_x=[p[0] for p in places],
            label_y=[p[1] for p in places],
            end_x=[p[2] for p in places],
        )
    )
    position = {"x": alt.X(f"{_field(x)}:Q"), "y": alt.Y(f"{_field(y)}:Q")}
    at_label = {"x": alt.X("label_x:Q"), "y": alt.Y("label_y:Q")}
    return [
        alt.Chart(ref).mark_rule(color="#777", strokeWidth=0.8).encode(**position, x2="end_x:Q", y2="label_y:Q"),
        alt.Chart(ref)
        .mark_point(shape="diamond", size=140, filled=True, color="black")
        .encode(**position, tooltip=[alt.Tooltip(f"{_field(c)}:{_type(ref[c])}", title=c) for c in columns]),
        alt.Chart(ref)
        .mark_text(align="left", baseline="middle", fontSize=LABEL_FONT_SIZE, color="#222")
        .encode(**at_label, text="reference_name:N"),
    ]


@dataclass(frozen=True)
class _Axis:
    """How an axis maps data to pixels: its domain, log or linear,
    its length in pixels, and whether it grows upwards."""

    domain: tuple[float, float] | None
    log: bool
    length: float
    upwards: bool

    def pixel(self, value: float) -> float:
        low, high = self.domain or (value - 1, value + 1)
        share = (
            (math.log(value / low) / math.log(high / low))
            if self.log and value > 0
            else (value - low) / ((high - low) or 1)
        )
        return self.length * (1 - share if self.upwards else share)

    def value(self, pixel: float) -> float:
        low, high = self.domain or (0.0, 1.0)
        share = 1 - pixel / self.length if self.upwards else pixel / self.length
        return low * (high / low) ** share if self.log else low + share * (high - low)


def reference_names(references: pandas.DataFrame) -> list[str]:
    """A short name for each reference row: its round, system and scenario where the table has them (``v0.7
    AGX_Xavier_TRT SingleStream``), else its label."""
    parts = [column for column in REFERENCE_NAME if column in references]
    names = []
    for _, row in references.iterrows():
        words = [
            str(row[column]).strip()
            for column in parts
            if row[column] is not None and row[column] == row[column] and str(row[column]).strip()
        ]
        names.append(" ".join(words) or str(row.get("label", "")))
    return names


def label_places(
    points: list[tuple[float, float]], names: list[str], scales: tuple[_Axis, _Axis]
) -> list[tuple[float, float, float]]:
    """Where each point's label goes (data units: its left end's x, its middle's y, and the x where the line from the
    point ends): beside the point, right of it when it fits, else left; moved up or down by a line at a time until it
    overlaps no label placed before and no other point. Sizes are estimated from the font (no browser here)."""
    x_axis, y_axis = scales
    pixels = [(x_axis.pixel(x), y_axis.pixel(y)) for x, y in points]
    marks = [(px - MARK_RADIUS, py - MARK_RADIUS, px + MARK_RADIUS, py + MARK_RADIUS) for px, py in pixels]
    placed: list[tuple[float, float, float, float]] = []
    places: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(points)
    line = LABEL_FONT_SIZE + 3
    for index in sorted(range(len(points)), key=lambda i: (pixels[i][1], pixels[i][0])):
        px, py = pixels[index]
        width = LABEL_CHARACTER_WIDTH * len(names[index])
        right = px + MARK_RADIUS + 3 + width <= x_axis.length
        left = px + MARK_RADIUS + 3 if right else px - MARK_RADIUS - 3 - width
        others = placed + [mark for position, mark in enumerate(marks) if position != index]
        for step in range(0, 4 * len(points) + 2):  # in place, then a line up, a line down, two lines up...
            shift = line * ((step + 1) // 2) * (-1 if step % 2 else 1)
            box = (left, py + shift - line / 2, left + width, py + shift + line / 2)
            inside = 0 <= box[1] and box[3] <= y_axis.length
            if inside and not any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others):
                break
        placed.append(box)
        end = left if right else left + width
        places[index] = (x_axis.value(left), y_axis.value(py + shift), x_axis.value(end))
    return places


def _subtitle(data: pandas.DataFrame, total: int, assumed: list[str]) -> str:
    on_front = int(data["on_front"].sum())
    subtitle = f"{on_front} on the frontier of {total} runs"
    if len(data) < total:
        subtitle += f"; showing the frontier and a sample of {len(data) - on_front} others"
    if assumed:
        subtitle += (
            "; no goal declared for "
            + " and ".join(c.removeprefix("metric.") for c in assumed)
            + ": lower is better assumed"
        )
    return subtitle


def detail_table(
    data: pandas.DataFrame, columns: list[str], brush: Any, click: Any = None, rows: int = DETAIL_ROWS
) -> altair.VConcatChart:
    """A text table of the runs inside the brush and the clicked run, first ``rows`` of them: empty, with a hint in
    its place, while nothing is selected. Numbers in decimal notation (10,000, not 1e+4)."""
    import altair as alt

    selected = [
        {"param": brush.name, "empty": False},
        *([{"param": click.name, "empty": False}] if click is not None else []),
    ]
    base = (
        alt.Chart(data)
        .transform_filter({"or": selected})
        .transform_window(row="row_number()")
        .transform_filter(f"datum.row <= {rows}")
    )
    stores = " && ".join(f"!length(data('{selection['param']}_store'))" for selection in selected)
    hint = (
        alt.Chart(
            alt.Data(values=[{"hint": "Nothing selected: drag across the chart or click a point to list runs here."}])
        )
        .mark_text(align="left", baseline="middle", fontSize=11, fontStyle="italic", color="#666")
        .encode(text="hint:N", y=alt.value(7), x=alt.value(0))
        .transform_filter(stores)
        .properties(height=14, width=110)
    )
    cells = []
    for column in columns:
        if column not in data:
            continue
        kind = data[column].dtype.kind
        text = alt.Text(f"{_field(column)}:Q", format=",.4~r") if kind in "iuf" else alt.Text(f"{_field(column)}:N")
        cells.append(
            base.mark_text(align="left", baseline="middle", fontSize=11)
            .encode(y=alt.Y("row:O", axis=None), text=text)
            .properties(title=column.removeprefix("metric.").removeprefix("param."), width=110)
        )
    return alt.vconcat(alt.hconcat(*cells), hint, spacing=2).properties(
        title="selected runs (drag to brush, click a point; double-click clears)"
    )


def drawn_rows(
    frame: pandas.DataFrame, objectives: Mapping[str, str], max_points: int = MAX_POINTS
) -> tuple[pandas.DataFrame, int]:
    """The rows a chart sends: all of them with an ``on_front`` column, or past ``max_points`` the
    frontier plus an evenly drawn sample of the rest; and how many rows have values for the axes."""
    import pandas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = pareto_mask(frame, objectives, warn=False)
    usable = frame[list(objectives)].notna().all(axis=1).to_numpy()
    drawn = frame.assign(on_front=mask)[usable]
    total = len(drawn)
    if total > max_points:
        front = drawn[drawn["on_front"]]
        rest = drawn[~drawn["on_front"]]
        room = max(0, max_points - len(front))
        drawn = pandas.concat([front, rest.sample(n=min(room, len(rest)), random_state=0)]) if room else front
    return drawn, total


def save_chart(chart: Any, path: str | Path) -> Path:
    """Write a chart: offline HTML with the Vega libraries inlined
    (``chart_html``), PNG or SVG (vl-convert), or the spec."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ReefError(f"{path}: cannot save a chart as '{suffix or 'no suffix'}' (use {', '.join(SAVE_FORMATS)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        path.write_text(chart_html(chart), encoding="utf-8")
    elif suffix == ".png":
        chart.save(str(path), scale_factor=2)
    else:
        chart.save(str(path))
    return path


def chart_html(chart: Any, title: str = "reef chart") -> str:
    """A standalone HTML page of the chart with the Vega libraries inlined (renders offline)."""
    return offline_page(title, '<div class="chart" id="chart0"></div>', {"chart0": chart.to_dict()})


def _drawable(spec: Any) -> Any:
    """A spec Vega can parse whatever its names and values hold: U+2028 and U+2029 (line and paragraph separators)
    as spaces. Vega-Lite writes titles and field names into Vega expressions as string literals, in which Vega's
    parser takes these two for line ends: one in a metric's name or unit, a parameter's or a tooltip's title would
    stop the chart ("Expression parse error"). Field names and the data's keys change alike, so they still match."""
    if isinstance(spec, str):
        return spec.replace("\u2028", " ").replace("\u2029", " ")
    if isinstance(spec, dict):
        return {_drawable(key): _drawable(value) for key, value in spec.items()}
    if isinstance(spec, list):
        return [_drawable(item) for item in spec]
    return spec


# Draws each spec of the page's JSON in the element of its name. The interpreter evaluates Vega's expressions
# (selections, filters) without generating code, so the policy needs no 'unsafe-eval'.
_DRAW_CHARTS = """(function () {
  var specs = JSON.parse(document.getElementById("reef-chart-specs").textContent);
  var options = {renderer: "svg", actions: false, ast: true};
  Object.keys(specs).forEach(function (name) {
    vegaEmbed(document.getElementById(name), specs[name], options).catch(function (error) { console.error(error); });
  });
})();"""


def offline_page(title: str, body: str, specs: Mapping[str, dict], style: str = "") -> str:
    """One self-contained HTML page: ``body`` (markup, its values escaped by the caller), then the Vega-Lite
    ``specs`` drawn in the elements whose ids are their keys, with the Vega libraries (from vl-convert) inlined.

    The specs are data (a ``<script type="application/json">``, which no value in them can end), the two scripts
    are allowed by their hashes and nothing else runs (``reefnb.common.pages.security_policy``).
    """
    scripts = []
    if specs:
        scripts = [_inline_code(vega_bundle()), _DRAW_CHARTS]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        security_policy(scripts),
        '<meta name="generator" content="reefnb">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{style}</style>" if style else "",
        "</head>",
        "<body>",
        body,
        *(
            [json_script("reef-chart-specs", _drawable(dict(specs)))] + [f"<script>{code}</script>" for code in scripts]
            if specs
            else []
        ),
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert's bundle for Altair's Vega-Lite version), kept in
    ``$REEF_HOME/cache/vega/`` under both versions: vl-convert builds it in 3-10 s on every first call of a process."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    version = vl_version_for_vl_convert()
    path = reef_home() / "cache" / "vega" / f"bundle-{vl_convert.__version__}-{version}.js"
    try:
        with path.open(encoding="utf-8", newline="") as kept:  # as written: no line end translated
            return kept.read()
    except (OSError, UnicodeDecodeError):
        bundle = vl_convert.javascript_bundle(vl_version=version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, bundle)
    except OSError as error:  # a read-only home: the page is written all the same
        log.info("the Vega bundle is not kept in %s: %s", path.parent, error.strerror or error)
    return bundle


def _inline_code(code: str) -> str:
    """Library code that stays one script element: a ``</script`` (any case) or ``<!--`` in its strings or
    regular expressions written ``<\\/script``, ``<\\!--``, which JavaScript reads as the same text."""
    return re.sub(r"<(/script|!--)", r"<\\\1", code, flags=re.IGNORECASE)


def chart_svg(chart: Any) -> str:
    """The chart drawn as SVG text by vl-convert (for front ends that cannot run Vega-Lite v6)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(_drawable(chart.to_dict()))


def _default_tooltip(frame: pandas.DataFrame, x: str, y: str, color: str | None) -> list[str]:
    params = [c for c in frame.columns if str(c).startswith("param.")]
    return list(
        dict.fromkeys(c for c in ["run_id", x, y, color, *params, "env.name", "env.cpu"] if c and c in frame.columns)
    )


def _field(column: str) -> str:
    # Vega-Lite reads "." in a field name as nested access: escape it.
    return str(column).replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def _type(values: pandas.Series) -> str:
    return "Q" if values.dtype.kind in "biuf" and values.dtype.kind != "b" else "N"


def _numeric(values: pandas.Series) -> pandas.Series:
    import pandas

    return values if values.dtype.kind in "iuf" else pandas.to_numeric(values, errors="coerce")


def _axis_values(runs: _ChartRuns, column: str) -> list[pandas.Series]:
    """The values an axis covers: the runs' and the reference rows'."""
    return [runs.data[column]] + ([_numeric(runs.references[column])] if runs.references is not None else [])


def _domain(columns: list[pandas.Series], log: bool) -> tuple[float, float] | None:
    """The data's own range with a little padding (None: no values), so the ticks say where the values are."""
    import pandas

    values = pandas.concat(columns).dropna()
    if log:
        values = values[values > 0]
    if values.empty:
        return None
    low, high = float(values.min()), float(values.max())
    if log:
        return (low / 1.1, high * 1.1)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    return (low - pad, high + pad)


def _scale(columns: list[pandas.Series], log: bool) -> Any:
    """A scale over ``_domain``, not rounded to nice values."""
    import altair as alt

    domain = _domain(columns, log)
    if domain is None:
        return alt.Scale(type="log") if log else alt.Scale(zero=False)
    return (
        alt.Scale(type="log", domain=list(domain), nice=False)
        if log
        else alt.Scale(zero=False, nice=False, domain=list(domain))
    )


def _axis_format(spec: Mapping) -> Any:
    """The manifest's number format for ticks, when it is one d3 understands (fixed, general)."""
    import altair as alt

    text = spec.get("format") if isinstance(spec, Mapping) else None
    if isinstance(text, str) and text[-1:] in ("f", "g", "e", "%") and "," not in text:
        return text[:-1] + "~f" if text.endswith("f") and "~" not in text else text
    return alt.Undefined


def _json_safe(data: pandas.DataFrame) -> pandas.DataFrame:
    """Timestamps and other objects as text, so the spec is plain JSON."""
    data = data.copy()
    for column in data.columns:
        kind = data[column].dtype.kind
        if kind == "M" or (kind == "O" and column != "on_front"):
            data[column] = data[column].map(lambda value: None if value is None or value != value else str(value))
    return data
