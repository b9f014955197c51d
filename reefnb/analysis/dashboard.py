"""The offline dashboard: one HTML file with the Vega libraries inlined, nothing fetched from the network.

It holds a summary per environment, the Pareto charts, the comparison with the manifest's expected
(reference) results, the run details and the files each run attached (``reefnb.attach``): linked when
the page is written where a relative link reaches them, else listed with their size and sha256. The manifest's
``dashboard`` section names the default axes (``x``, ``y``), colour, table columns and title; its ``metrics`` give
units, goals and formats. Without a manifest at hand, the units, goals and formats the runs' records kept are used
(``reefnb.analysis.frame.metric_meaning``).

Every name and value on the page may be someone else's (runs pulled from a registry): the tables hold escaped text,
the charts are drawn by ``reefnb.analysis.plots.offline_page`` (specs as inert JSON, a policy that runs no script
but the page's own).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from reefnb.analysis.frame import metric_meaning, with_parameter_defaults
from reefnb.analysis.pareto import normalise_objectives, ok_runs
from reefnb.analysis.plots import REFERENCE_DETAILS, offline_page, pareto_chart
from reefnb.analysis.series import runs_series
from reefnb.common.exceptions import ReefError
from reefnb.common.scrub import Scrubber, default_scrubber, scrub_frame
from reefnb.common.units import format_metric, format_size
from reefnb.runs import telemetry
from reefnb.runs.attachments import file_links
from reefnb.runs.store import Store, default_store
from reefnb.solution.confinement import PathOutside, resolve_inside

if TYPE_CHECKING:
    import pandas

    from reefnb.solution.manifest import Solution

MAX_DETAIL_ROWS = 500
MAX_CHARTS = 3
MAX_FILE_ROWS = 1000
BASE_DETAIL_COLUMNS = ["run_id", "status", "env.name"]


def default_objectives(solution: Solution | None, frame: pandas.DataFrame | None = None) -> dict[str, str]:
    """Objectives the user did not name: the dashboard's x and y, else every metric with a goal.

    Directions come from the metrics' goals: the manifest's, else those the runs' records kept (``frame``);
    "min" when a metric has none (``declared_objectives`` tells those apart).
    """
    metrics = metric_meaning(solution, frame)
    settings = solution.data.get("dashboard", {}) if solution is not None else {}
    names = [settings[axis] for axis in ("x", "y") if settings.get(axis)]
    if not names:
        names = [name for name, metric in metrics.items() if metric.get("goal")]
    objectives = {}
    for name in names:
        column = name if name.startswith(("metric.", "param.", "sys.")) else f"metric.{name}"
        objectives[column] = (
            metrics.get(column.removeprefix("metric."), {}).get("goal") or telemetry.goal(column) or "min"
        )
    if frame is not None:
        objectives = {column: goal for column, goal in objectives.items() if column in frame.columns}
    return objectives


def choose_objectives(
    frame: pandas.DataFrame, solution: Solution | None = None, named: Mapping[str, str] | None = None, at_least: int = 0
) -> dict[str, str]:
    """The objectives of a Pareto analysis of ``frame``: those ``named`` (column or bare metric name -> min|max;
    checked against the frame), else ``default_objectives``; then, up to ``at_least`` objectives, the first
    numeric metric columns, minimised. Empty when none is named, none has a goal and ``at_least`` is 0."""
    objectives = normalise_objectives(frame, named) if named else default_objectives(solution, frame)
    numeric = [
        c for c in frame.columns if str(c).startswith("metric.") and frame[c].dtype.kind in "if" and c not in objectives
    ]
    for column in numeric[: max(0, at_least - len(objectives))]:
        objectives[column] = "min"
    return objectives


def declared_objectives(
    objectives: dict[str, str], metrics: dict[str, dict], named: Iterable[str] = ()
) -> dict[str, str]:
    """The objectives whose direction someone declared: ``named`` by the user, or with a goal in ``metrics``
    (the manifest's or the records', by name) or in telemetry; a chart says it assumed the others' directions."""
    named = set(named)
    return {
        column: goal
        for column, goal in objectives.items()
        if {column, column.removeprefix("metric.")} & named
        or metrics.get(column.removeprefix("metric."), {}).get("goal")
        or telemetry.goal(column)
    }


def _title_of(frame: pandas.DataFrame) -> str:
    """A title for runs without a manifest at hand: the solution they name, when they name one."""
    names = frame["solution"].dropna().unique() if "solution" in frame.columns else ()
    if len(names) != 1:
        return "reef results"
    versions = (
        sorted(str(version) for version in frame.loc[frame["solution"] == names[0], "version"].dropna().unique())
        if "version" in frame
        else []
    )
    return " ".join([str(names[0]), *([versions[0]] if len(versions) == 1 else [])])


def reference_frame(solution: Solution | None) -> pandas.DataFrame:
    """The manifest's expected results as rows of the results frame (param.*, metric.*), labelled,
    then the rows of the CSV that ``dashboard.reference`` names (published results, say)."""
    import pandas

    rows = []
    for index, expectation in enumerate(solution.data.get("expected", []) if solution else []):
        parameters = expected_parameters(solution, expectation)
        row: dict[str, Any] = {
            "label": f"expected {expectation.get('id', f'#{index + 1}')}",
            "workflow": expectation.get("workflow", "run"),
        }
        if "dataset" in parameters:
            row["dataset"] = str(parameters["dataset"])
        row.update({f"param.{name}": value for name, value in parameters.items()})
        row.update({f"metric.{name}": spec.get("value") for name, spec in expectation["metrics"].items()})
        rows.append(row)
    frame = pandas.DataFrame(rows)
    published = solution.data.get("dashboard", {}).get("reference") if solution else None
    if published:
        try:
            path = resolve_inside(solution.path, published)
        except PathOutside as error:
            raise ReefError(f"{solution.manifest_path or solution.path}: /dashboard/reference: {error}") from None
        frame = pandas.concat([frame, reference_csv(path, solution.metrics)], ignore_index=True)
    return frame


def expected_parameters(solution: Solution, expectation: dict) -> dict[str, Any]:
    """The parameters that define an expected result: its workflow's defaults with the entry's own on
    top, as ``reef reproduce`` runs it."""
    workflow = solution.data.get("workflows", {}).get(expectation.get("workflow", "run"), {})
    return {**workflow.get("parameters", {}), **expectation.get("parameters", {})}


def reference_csv(path: str | Path, metrics: Iterable[str] = ()) -> pandas.DataFrame:
    """A CSV of reference results as rows of the results frame: a ``label`` column, ``param.*`` columns,
    and metric columns (``metric.NAME``, or a bare NAME that is one of ``metrics``)."""
    import pandas

    metrics = set(metrics)
    try:
        table = pandas.read_csv(path)
    except UnicodeDecodeError:
        raise ReefError(f"{path}: /dashboard/reference: cannot read it as CSV: not UTF-8 text") from None
    except OSError as error:
        raise ReefError(
            f"{path}: /dashboard/reference: cannot read it as CSV: {error.strerror or type(error).__name__}"
        ) from None
    except ValueError as error:  # pandas' parser errors say where (line, field counts), not what
        reason = (
            " ".join(str(error).split())[:160] if isinstance(error, pandas.errors.ParserError) else type(error).__name__
        )
        raise ReefError(f"{path}: /dashboard/reference: cannot read it as CSV: {reason}") from None
    if "label" not in table.columns:  # the header is the file's content: say how many columns, not what they hold
        raise ReefError(
            f"{path}: /dashboard/reference: needs a 'label' column (its first line has {len(table.columns)} "
            "column names, none 'label')"
        )
    return table.rename(columns={column: f"metric.{column}" for column in table.columns if column in metrics})


def build_dashboard(
    frame: pandas.DataFrame,
    path: str | Path,
    solution: Solution | None = None,
    objectives: dict[str, str] | None = None,
    title: str | None = None,
) -> Path:
    """Write the dashboard of ``frame`` (the results frame) to ``path`` and return the path."""
    path = Path(path)
    page = dashboard_html(frame, solution=solution, objectives=objectives, title=title, location=path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


@dataclass
class _Page:
    """What the sections of one dashboard page are drawn from."""

    frame: pandas.DataFrame  # every run, scrubbed
    ok: pandas.DataFrame  # the ok runs, with a ``dataset`` column where runs name one
    solution: Solution | None
    settings: dict  # the manifest's dashboard section
    metrics: dict[str, dict]  # unit, goal and format by metric name
    objectives: dict[str, str]
    named: list[str]  # the objectives the caller named (their directions are declared)
    reference: pandas.DataFrame  # expected and published results


def dashboard_html(
    frame: pandas.DataFrame,
    solution: Solution | None = None,
    objectives: dict[str, str] | None = None,
    title: str | None = None,
    location: str | Path | None = None,
) -> str:
    """The dashboard as one self-contained HTML page; ``location``: the folder it will be written in, from
    which the run's attached files are linked (without it they are listed, not linked)."""
    frame = scrub_frame(
        frame, solution.path if solution else None
    )  # a page leaves this machine: no secrets, paths or names
    settings = solution.data.get("dashboard", {}) if solution else {}
    title = title or settings.get("title") or (f"{solution.name} {solution.version}" if solution else _title_of(frame))
    ok = ok_runs(frame)
    if "param.dataset" in ok.columns:  # which data set each run measured: the chart tells them apart
        ok = ok.assign(dataset=ok["param.dataset"])
    page = _Page(
        frame,
        ok,
        solution,
        settings,
        metric_meaning(solution, frame),
        choose_objectives(frame, solution, objectives, at_least=2),
        list(objectives or ()),
        reference_frame(solution),
    )
    charts = _pareto_charts(page)
    series = runs_series(frame["run_id"]) if "run_id" in frame and len(frame) else None
    if series is not None and len(series):  # numbers and run ids only: nothing to scrub
        charts.append(("telemetry", telemetry.series_chart(series).to_dict(validate=False)))
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=meta>{len(frame)} runs ({len(ok)} ok) · generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by reefnb"
        + (f" · {html.escape(solution.data.get('description', ''))}" if solution else "")
        + "</p>",
        "<h2>Summary per environment</h2>",
        _table_html(environment_summary(frame, page.objectives, page.metrics)),
        *_chart_sections(charts),
        *_reference_sections(page),
        *_run_sections(page, location),
    ]
    specs = {f"chart{index}": spec for index, (_, spec) in enumerate(charts)}
    return offline_page(title, "\n".join(sections), specs, style=_STYLE)


def _pareto_charts(page: _Page) -> list[tuple[str, dict]]:
    """(name, Vega-Lite spec) of each pair of the first objectives the ok runs have values for."""
    charts: list[tuple[str, dict]] = []
    if len(page.objectives) < 2 or not len(page.ok):
        return charts
    directions = declared_objectives(page.objectives, page.metrics, page.named)
    for x, y in list(combinations(page.objectives, 2))[:MAX_CHARTS]:
        if not page.ok[[x, y]].notna().all(axis=1).any():
            continue
        chart = pareto_chart(
            page.ok,
            x,
            y,
            directions=directions,
            color=page.settings.get("color", "env.name"),
            reference=page.reference if len(page.reference) else None,
            detail_columns=_detail_columns(page.ok, page.settings, [x, y]),
            width=520,
            height=320,
            metrics=page.metrics,
            dataset="dataset",
        )
        charts.append((f"{y.removeprefix('metric.')} vs {x.removeprefix('metric.')}", chart.to_dict(validate=False)))
    return charts


def _chart_sections(charts: list[tuple[str, dict]]) -> list[str]:
    """The Pareto charts' places (``chartN``), then the telemetry chart's when there is one (it comes last)."""
    sections = ["<h2>Pareto frontier</h2>"]
    pareto = [(index, name) for index, (name, _) in enumerate(charts) if name != "telemetry"]
    if pareto:
        sections += [
            f'<h3>{html.escape(name)}</h3><div class="chart" id="chart{index}"></div>' for index, name in pareto
        ]
    else:
        sections.append("<p>No chart: the results need two numeric metrics with values.</p>")
    if len(pareto) < len(charts):
        sections += [
            "<h2>What the machine did (telemetry)</h2><p>Choose a run: its processes' memory and CPU over "
            "time, and energy "
            f'and GPU where measured.</p><div class="chart" id="chart{len(charts) - 1}"></div>'
        ]
    return sections


def _reference_sections(page: _Page) -> list[str]:
    """The expected results next to the runs' medians, and the published reference results."""
    comparison = reference_comparison(page.frame, page.solution)
    sections = [
        "<h2>Comparison with reference results</h2>",
        _table_html(comparison) if len(comparison) else "<p>The manifest declares no expected results.</p>",
    ]
    reference = page.reference
    published = reference[~reference["label"].astype(str).str.startswith("expected ")] if len(reference) else reference
    if len(published):
        first = [column for column in ("label", *REFERENCE_DETAILS) if column in published]
        published = published[first + [column for column in published.columns if column not in first]].dropna(
            axis=1, how="all"
        )
        sections += [
            "<h2>Published reference results</h2>",
            "<p>Measured elsewhere, on the data set each row names: a metric measured on another data set is "
            "not comparable.</p>",
            _table_html(_formatted(published, page.metrics)),
        ]
    return sections


def _run_sections(page: _Page, location: str | Path | None) -> list[str]:
    """The runs' details (the first MAX_DETAIL_ROWS) and the files they attached."""
    frame = page.frame
    columns = _detail_columns(
        frame, page.settings, list(page.objectives), base=["run_id", "status", "started", "env.name"]
    )
    details = frame[columns].head(MAX_DETAIL_ROWS)
    sections = [
        f"<h2>Runs ({len(frame)}{', first ' + str(MAX_DETAIL_ROWS) if len(frame) > MAX_DETAIL_ROWS else ''})</h2>",
        _table_html(_formatted(details, page.metrics)),
    ]
    files = attached_files(details["run_id"] if "run_id" in details else [], location)
    if len(files):
        files = _scrubbed_files(files, default_scrubber(str(page.solution.path) if page.solution else None))
        sections += ["<h2>Attached files (the runs' evidence)</h2>", _files_html(files)]
    return sections


def attached_files(
    run_ids: Iterable[str], location: str | Path | None = None, store: Store | None = None
) -> pandas.DataFrame:
    """The files the runs attached: run_id, file, size, media type, sha256 and ``link``, a relative link from the
    folder ``location`` when the file is here and the link stays below ``location`` or inside the run's solution
    folder (so that it never spells out the folders above), else None."""
    import pandas

    store = store or default_store()
    rows: list[dict] = []
    for run_id in dict.fromkeys(map(str, run_ids)):
        record = store.get(run_id) or {}
        files = record.get("files") or []
        solution_folder = (record.get("solution") or {}).get("path")
        links = (
            file_links(record, location, within=solution_folder)
            if files and location is not None and solution_folder
            else {}
        )
        rows += [
            {
                "run_id": run_id,
                "file": str(entry.get("name")),
                "size": format_size(int(entry.get("size") or 0)),
                "media type": str(entry.get("media_type")),
                "sha256": str(entry.get("sha256")),
                "link": links.get(str(entry.get("name"))),
            }
            for entry in files
        ]
        if len(rows) >= MAX_FILE_ROWS:
            break
    return pandas.DataFrame(rows[:MAX_FILE_ROWS], columns=["run_id", "file", "size", "media type", "sha256", "link"])


def environment_summary(
    frame: pandas.DataFrame, objectives: dict[str, str], metrics: dict[str, dict]
) -> pandas.DataFrame:
    """One row per environment: runs, ok, failed, and the best value of each objective among ok runs.

    With runs pulled from a registry, one row per contributor and environment, with its OS.
    """
    import pandas

    if frame.empty:
        return pandas.DataFrame({"environment": [], "runs": []})
    groups = frame.assign(
        environment=frame.get("env.name", pandas.Series(index=frame.index, dtype=object)).fillna("(unknown)")
    )
    shared = "env.contributor" in frame and frame["env.contributor"].notna().any()
    if shared:  # runs pulled from a registry: every contributor's platforms side by side
        groups["contributor"] = frame["env.contributor"].fillna("this machine")
    rows = []
    for key, runs in groups.groupby(["contributor", "environment"] if shared else "environment", sort=True):
        ok = ok_runs(runs)
        row: dict[str, Any] = {"contributor": key[0], "environment": key[1]} if shared else {"environment": key}
        row.update({"runs": len(runs), "ok": len(ok), "not ok": len(runs) - len(ok)})
        for column, goal in objectives.items():
            values = (
                pandas.to_numeric(ok[column], errors="coerce").dropna() if column in ok else pandas.Series(dtype=float)
            )
            best = (values.min() if goal == "min" else values.max()) if len(values) else None
            row[f"best {column.removeprefix('metric.')} ({goal})"] = format_metric(
                best, metrics.get(column.removeprefix("metric."), {})
            )
        for column in (
            "sys.peak_rss_mb",
            "sys.cpu_seconds",
            "sys.energy_joules",
            "sys.gpu_energy_joules",
        ):  # what the runs cost
            values = (
                pandas.to_numeric(ok[column], errors="coerce").dropna()
                if column in ok and column not in objectives
                else ()
            )
            if len(values):
                spec = telemetry.SYSTEM_METRICS[column.removeprefix("sys.")]
                row[f"median {column.removeprefix('sys.')}"] = format_metric(float(values.median()), spec)
        for column in (
            ("env.os", "env.cpu", "env.python", "env.kernel") if shared else ("env.cpu", "env.python", "env.kernel")
        ):
            if column in runs and runs[column].notna().any():
                row[column.removeprefix("env.")] = str(runs[column].dropna().iloc[0])
        rows.append(row)
    return pandas.DataFrame(rows)


def reference_comparison(frame: pandas.DataFrame, solution: Solution | None) -> pandas.DataFrame:
    """Each expected metric next to the median of the ok runs that satisfy the expectation (``satisfying_runs``)."""
    import pandas

    rows = []
    expectations = solution.data.get("expected", []) if solution else []
    pinned = {f"param.{name}" for expectation in expectations for name in expected_parameters(solution, expectation)}
    frame = with_parameter_defaults(frame.assign(**{column: None for column in pinned - set(frame.columns)}), solution)
    for index, expectation in enumerate(expectations):
        matching = satisfying_runs(frame, solution, expectation)
        parameters = _parameters_text(expectation)
        for metric, spec in expectation["metrics"].items():
            column = f"metric.{metric}"
            values = (
                pandas.to_numeric(matching[column], errors="coerce").dropna()
                if column in matching
                else pandas.Series(dtype=float)
            )
            observed = float(values.median()) if len(values) else None
            tolerance = (
                spec.get("tolerance") or (solution.metrics.get(metric, {}).get("tolerance") if solution else None) or {}
            )
            expected = spec.get("value")
            within = None
            if observed is not None and isinstance(expected, (int, float)):
                allowed = max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(expected))
                within = (
                    "informational"
                    if tolerance.get("informational")
                    else ("yes" if abs(observed - expected) <= allowed else "no")
                )
            elif (
                expected is not None and not isinstance(expected, (int, float)) and column in matching
            ):  # a verdict such as VALID
                values = matching[column].dropna().astype(str)
                observed = values.mode().iloc[0] if len(values) else None
                within = None if observed is None else ("yes" if (values == str(expected)).all() else "no")
            spec_format = solution.metrics.get(metric, {}) if solution else {}
            rows.append(
                {
                    "expected": expectation.get("id", f"#{index + 1}"),
                    "parameters": parameters,
                    "metric": metric,
                    "expected value": format_metric(expected, spec_format),
                    "tolerance": _tolerance_words(tolerance),
                    "observed (median)": format_metric(observed, spec_format),
                    "runs": len(values),
                    "within tolerance": within or "no runs",
                }
            )
    return pandas.DataFrame(rows)


def _tolerance_words(tolerance: dict) -> str:
    """``abs 0.02``, ``rel 1e-06``, ``informational`` (not ``informational True``), ``exact`` when none is given."""
    if tolerance.get("informational"):
        return "informational"
    return (
        ", ".join(
            f"{key} {value:g}" if isinstance(value, (int, float)) else f"{key} {value}"
            for key, value in tolerance.items()
        )
        or "exact"
    )


def satisfying_runs(frame: pandas.DataFrame, solution: Solution, expectation: dict) -> pandas.DataFrame:
    """The ok runs of ``frame`` whose parameters satisfy ``expectation``: each parameter that defines it (its workflow's
    defaults with its own on top, as ``reef reproduce`` runs it) has the expected value or one its ``satisfied_by``
    accepts (a run with mode=both measured accuracy too). ``frame`` holds the defaults a run was not given
    (``with_parameter_defaults``: a run recorded before a parameter existed counts with its declared default)."""
    matching = ok_runs(frame)
    accepted = expectation.get("satisfied_by", {})
    for name, value in expected_parameters(solution, expectation).items():
        column = f"param.{name}"
        if column not in matching:
            return matching.iloc[0:0]
        mask = _equal(matching[column], value)
        for other in accepted.get(name, []):
            mask |= _equal(matching[column], other)
        matching = matching[mask.fillna(False).astype(bool)]
    return matching


def _parameters_text(expectation: dict) -> str:
    """An expectation's own parameters as the comparison lists them:
    ``mode=accuracy or both`` where other values satisfy it."""
    accepted = expectation.get("satisfied_by", {})
    return (
        ", ".join(
            f"{name}={' or '.join(map(str, [value, *accepted.get(name, [])]))}"
            for name, value in expectation.get("parameters", {}).items()
        )
        or "(defaults)"
    )


def _equal(values: pandas.Series, value: Any) -> pandas.Series:
    """Which of a parameter column's values are ``value``: numbers as numbers (a column with gaps holds
    1000 as 1000.0), anything else as text."""
    import pandas

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pandas.to_numeric(values, errors="coerce") == value
    return values.astype(str) == str(value)


def _detail_columns(
    frame: pandas.DataFrame, settings: dict, axes: list[str], base: list[str] | None = None
) -> list[str]:
    wanted = settings.get("columns")
    if wanted:
        columns = [
            c if c in frame.columns else f"metric.{c}" if f"metric.{c}" in frame.columns else f"param.{c}"
            for c in wanted
        ]
    else:
        columns = [*(base or BASE_DETAIL_COLUMNS), *axes, *(c for c in frame.columns if str(c).startswith("param."))]
    return [c for c in dict.fromkeys([*(base or BASE_DETAIL_COLUMNS)[:1], *columns]) if c in frame.columns]


def _formatted(frame: pandas.DataFrame, metrics: dict[str, dict]) -> pandas.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        spec = metrics.get(str(column).removeprefix("metric."), {}) if str(column).startswith("metric.") else {}
        frame[column] = [format_metric(value, spec) for value in frame[column]]
    return frame


def _table_html(frame: pandas.DataFrame) -> str:
    if frame.empty:
        return "<p>No runs.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell_html(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False)
    )
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _cell_html(value: Any) -> str:
    """A table cell's content, escaped; a web address (a reference row's source) as a link named by its host and last
    part, so that it does not make its column as wide as the address."""
    text = "" if value is None else str(value)
    parts = urlsplit(text) if text.startswith(("https://", "http://")) and " " not in text else None
    if parts is None or not parts.netloc:
        return html.escape(text)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    shown = parts.netloc + ("/…/" + last if last else "")
    return f'<a href="{html.escape(text)}" title="{html.escape(text)}">{html.escape(shown)}</a>'


def _scrubbed_files(files: pandas.DataFrame, scrubber: Scrubber) -> pandas.DataFrame:
    """Names and links leave this machine too: scrubbed part by part (a whole path would look like a random token),
    a link that the scrubber changes is dropped."""

    def scrubbed(path: Any) -> Any:
        return "/".join(scrubber.text(part) for part in path.split("/")) if isinstance(path, str) else path

    files = files.copy()
    files["file"] = files["file"].map(scrubbed)
    files["media type"] = files["media type"].map(scrubber.text)
    files["link"] = [link if scrubbed(link) == link else None for link in files["link"]]
    return files


def _files_html(files: pandas.DataFrame) -> str:
    columns = [column for column in files.columns if column != "link"]
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    rows = []
    for row in files.to_dict("records"):
        cells = [html.escape(str(row[column])) for column in columns]
        if isinstance(row["link"], str) and row["link"]:
            cells[columns.index("file")] = (
                f'<a href="{html.escape(quote(row["link"]))}">{cells[columns.index("file")]}</a>'
            )
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (
        '<div class="table"><table '
        f'class="files"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def require_runs(frame: pandas.DataFrame, solution: str | None) -> None:
    if frame.empty:
        raise ReefError("no runs recorded" + (f" for {solution}" if solution else "") + ": nothing to show")


_STYLE = """
:root { color-scheme: light dark; --text: #222; --muted: #666; --line: #ddd; --head: #f3f3f3; --link: #0b5cad; }
@media (prefers-color-scheme: dark) {
  :root { --text: #e4e4e4; --muted: #aaa; --line: #444; --head: #2a2a2a; --link: #8cc4ff; }
  body { background: #181818; }
  /* Vega draws for a white page: the same chart, its colours turned */
  .chart svg { filter: invert(0.92) hue-rotate(180deg); }
}
body { font-family: system-ui, sans-serif; margin: 2em; color: var(--text); max-width: 100%; }
a { color: var(--link); }
.table { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid var(--line); padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td { max-width: 32em; overflow-wrap: break-word; }
th { background: var(--head); }
.meta, .hint { color: var(--muted); }
.chart { margin-bottom: 1.5em; max-width: 100%; overflow-x: auto; }
"""
