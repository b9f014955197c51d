"""`reefnb.explore`: the live Pareto chart (altair.JupyterChart) whose selections come back to Python.

The unit tests set the chart's selection state as the browser sends it (``_vl_selections``: the
selection's signal value and its ``*_store`` rows); tests/frontends/test_explore_lab.py brushes a real chart
in JupyterLab through Chromium.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers.records import sweep_record as record

import reefnb
from reefnb import ReefError
from reefnb.runs.store import default_store


@pytest.fixture
def recorded(reef_home):
    """12 ok runs of hello-sweep in two environments, with their packages, in this test's store."""
    rng = np.random.default_rng(5)
    records = []
    for index in range(12):
        environment = "laptop" if index % 2 else "server"
        entry = record(
            index,
            "random" if index < 6 else "stratified",
            1000 * (1 + index % 3),
            1.0 + index,
            float(rng.uniform(0.01, 0.2)),
            environment,
        )
        entry["environment"]["packages"] = {"numpy": "2.4.6" if index % 2 else "2.3.0", "pandas": "3.1.1"}
        records.append(entry)
    default_store().add_many(records)
    return records


def brush(x_range, y_range, x="metric\\.time_ms", y="metric\\.abs_error") -> dict:
    """An interval selection as Vega-Lite's view sends it: the signal ({field: [low, high]}) and the store."""
    return {
        "value": {x: list(x_range), y: list(y_range)},
        "store": [
            {
                "unit": "layer_1",
                "fields": [{"field": x, "channel": "x", "type": "R"}, {"field": y, "channel": "y", "type": "R"}],
                "values": [list(x_range), list(y_range)],
            }
        ],
    }


def test_explore_returns_a_jupyter_chart_and_selected_starts_empty(recorded):
    import altair as alt

    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    assert isinstance(explorer.chart, alt.JupyterChart)
    assert explorer.chart.spec and set(explorer.chart._vl_selections) >= {"brush", "click"}
    assert explorer.selected.empty and list(explorer.selected.columns) == list(explorer.frame.columns)
    frame = reefnb.results(solution="hello-sweep")
    assert list(explorer.frontier["run_id"]) == list(
        reefnb.pareto_front(frame, {"time_ms": "min", "abs_error": "min"})["run_id"]
    )
    assert (
        "cdn.jsdelivr" not in explorer.chart._esm and "https://" not in explorer.chart._esm[:2000]
    )  # Vega from vl-convert, offline


def test_a_brush_selects_exactly_the_runs_in_its_range_and_a_click_one_run(recorded):
    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    frame = explorer.shown
    explorer.chart._vl_selections = {**explorer.chart._vl_selections, "brush": brush((2.5, 7.5), (0.0, 1.0))}
    expected = frame[(frame["metric.time_ms"] >= 2.5) & (frame["metric.time_ms"] <= 7.5)]["run_id"]
    assert sorted(explorer.selected["run_id"]) == sorted(expected) and len(expected) == 5
    assert "5 selected" in explorer.selection_view.value
    clicked = frame["run_id"].iloc[3]
    explorer.chart._vl_selections = {
        **explorer.chart._vl_selections,
        "click": {
            "value": {"vlPoint": {"or": [{"run_id": clicked}]}, "run_id": [clicked]},
            "store": [{"unit": "layer_1", "fields": [{"field": "run_id", "type": "E"}], "values": [clicked]}],
        },
    }
    assert list(explorer.selected["run_id"]) == [clicked]
    explorer.chart._vl_selections = {"brush": {"value": {}, "store": []}, "click": {"value": {}, "store": []}}
    assert explorer.selected.empty


def test_changing_an_axis_redraws_and_clears_the_selection(recorded):
    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    explorer.chart._vl_selections = {**explorer.chart._vl_selections, "brush": brush((0, 100), (0, 1))}
    assert len(explorer.selected) == 12
    explorer.y.value = "metric.points"
    explorer.y_direction.value = "max"
    assert explorer.selected.empty
    assert "points" in explorer.chart.spec["layer"][1]["encoding"]["y"]["title"]
    explorer.chart._vl_selections = {
        **explorer.chart._vl_selections,
        "brush": brush((0, 100), (1500, 2500), y="metric\\.points"),
    }
    assert set(explorer.selected["metric.points"]) == {2000}


def test_compare_shows_what_differs_side_by_side(recorded):
    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    with pytest.raises(ReefError, match="no runs selected"):
        explorer.compare()
    explorer.chart._vl_selections = {**explorer.chart._vl_selections, "brush": brush((1.5, 3.5), (0, 1))}
    comparison = explorer.compare()
    assert list(comparison.frame.columns) == list(explorer.selected["run_id"]) and comparison.frame.shape[1] == 2
    assert comparison.frame.loc["metric.time_ms"].tolist() == ["2 ms", "3 ms"]
    assert {"env.name", "package numpy", "param.samples"} <= set(comparison.differences.index)
    assert "package pandas" in comparison.frame.index and "package pandas" not in comparison.differences.index
    html = comparison._repr_html_()
    assert "package numpy" in html and "2.3.0" in html and "2.4.6" in html and "more rows are the same" in html


def test_large_frames_draw_a_sample_but_the_selection_maps_to_the_right_runs(reef_home):
    rng = np.random.default_rng(0)
    count = 20_000
    frame = pd.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(count)],
            "status": "ok",
            "metric.time_ms": rng.random(count) * 100,
            "metric.abs_error": rng.random(count),
            "env.name": rng.choice(["cpu", "gpu"], count),
        }
    )
    explorer = reefnb.explore(frame, objectives={"time_ms": "min", "abs_error": "min"})
    drawn = explorer.chart.spec["datasets"]
    assert max(len(rows) for rows in drawn.values()) <= 4_000
    explorer.chart._vl_selections = {**explorer.chart._vl_selections, "brush": brush((10, 20), (0.5, 0.6))}
    expected = frame[frame["metric.time_ms"].between(10, 20) & frame["metric.abs_error"].between(0.5, 0.6)]
    assert sorted(explorer.selected["run_id"]) == sorted(expected["run_id"]) and len(expected) > 100
    explorer.chart._vl_selections = {
        **explorer.chart._vl_selections,
        "click": {
            "value": {},
            "store": [{"unit": "layer_1", "fields": [{"field": "run_id", "type": "E"}], "values": ["r7"]}],
        },
    }
    assert list(explorer.selected["run_id"]) == ["r7"]


def test_no_declared_direction_is_said_on_the_chart(reef_home):
    frame = pd.DataFrame({"run_id": ["a", "b", "c"], "metric.AP50": [0.7, 0.8, 0.75], "metric.AP75": [0.65, 0.85, 0.7]})
    explorer = reefnb.explore(frame)
    subtitle = explorer.chart.spec["title"]["subtitle"]
    assert "no goal declared for AP50 and AP75" in subtitle
    y = explorer.chart.spec["layer"][1]["encoding"]["y"]
    low, high = y["scale"]["domain"]
    assert 0.6 < low < 0.65 and 0.85 < high < 0.9  # ticks over the data's own range


def test_without_widgets_the_explorer_still_has_an_svg(recorded):
    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    bundle = explorer._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<svg") and "on the frontier" in bundle["text/plain"]


def test_selected_runs_link_to_their_executed_notebooks_relative_to_the_kernel(reef_home, tmp_path, monkeypatch):
    records = []
    for index in range(3):
        entry = record(index, "random", 1000, 1.0 + index, 0.1 / (index + 1), "laptop")
        output = tmp_path / "solution" / "runs" / f"{entry['run_id']}.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}")
        entry["notebook"]["output_path"] = str(output)
        records.append(entry)
    default_store().add_many(records)
    monkeypatch.chdir(tmp_path / "solution")  # where JupyterLab started the kernel: beside the notebook
    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    explorer.chart._vl_selections = {**explorer.chart._vl_selections, "brush": brush((0, 10), (0, 1))}
    first = records[0]["run_id"]
    assert (
        f'<a href="runs/{first}.ipynb" target="_blank" style="white-space:nowrap">{first}</a>'
        in explorer.selection_view.value
    )
    assert f'href="runs/{first}.ipynb"' in explorer.compare()._repr_html_()


def test_a_notebook_the_server_does_not_serve_opens_by_run_id(reef_home, tmp_path, monkeypatch):
    entry = record(0, "random", 1000, 1.0, 0.1, "laptop")
    output = tmp_path / "elsewhere" / "runs" / entry["run_id"] / "main.ipynb"
    output.parent.mkdir(parents=True)
    output.write_text("{}")
    entry["notebook"]["output_path"] = str(output)
    default_store().add_many([entry, record(1, "random", 1000, 2.0, 0.05, "laptop")])
    (tmp_path / "served" / "analysis").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "served" / "analysis")
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis/explore.ipynb")  # the server serves tmp_path/served
    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    comparison = explorer.compare([entry["run_id"]])
    html = comparison._repr_html_()
    assert comparison.by_id == {entry["run_id"]} and comparison.links == {}
    assert (
        'data-commandlinker-command="reef:open-run"' in html and "&quot;run_id&quot;: &quot;" + entry["run_id"] in html
    )
    monkeypatch.setenv("JPY_SESSION_NAME", "explore.ipynb")  # now the notebook's folder is the server's root
    monkeypatch.chdir(tmp_path)
    assert explorer.compare([entry["run_id"]]).links == {
        entry["run_id"]: f"elsewhere/runs/{entry['run_id']}/main.ipynb"
    }


def test_filters_and_tables_show_typed_values_each_column_once(reef_home, hello):
    samples = [1000, 20000, 100000]
    records = [
        record(
            index, "random" if index % 2 else "stratified", samples[index % 3], 1.0 + index, 0.2 / (index + 1), "laptop"
        )
        for index in range(6)
    ]
    records[1]["parameters"]["seed"] = 7
    default_store().add_many(records)
    explorer = reefnb.explore(str(hello), objectives={"time_ms": "min", "abs_error": "min"})
    samples, seed = explorer.filters["param.samples"], explorer.filters["param.seed"]
    assert [label for label, _ in samples.options] == ["1000", "20000", "100000"]  # numeric order, not text order
    assert list(seed.options) == [("0", 0), ("7", 7)]  # the runs given no seed ran with the notebook's default
    assert "env.name" not in explorer.filters  # one environment: nothing to filter
    headers = re.findall(r"<th[^>]*>(.*?)</th>", explorer.table.value)
    assert len(headers) == len(set(headers)) and sum("env.<wbr>name" in header for header in headers) == 1
    assert "nan" not in explorer.table.value and "7.0" not in explorer.table.value
    samples.value = (20000,)
    assert set(explorer.frontier["param.samples"]) == {20000} and len(explorer.filtered()) == 2
    comparison = explorer.compare([records[0]["run_id"], records[1]["run_id"]])
    assert comparison.frame.loc["param.seed"].tolist() == ["0", "7"] and comparison.frame.loc[
        "param.samples"
    ].tolist() == ["1000", "20000"]


def test_the_chart_follows_its_output_width(recorded):
    """The explorer's chart is as wide as its container: the JSON patch vega-embed applies must find the width
    signal where Vega-Lite compiles it (the first signal), else the chart would keep a zero width in JupyterLab."""
    import altair as alt
    import vl_convert

    from reefnb.frontends.widgets import FOLLOW_CONTAINER_WIDTH

    explorer = reefnb.explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    assert (
        explorer.chart.embed_options["patch"] == FOLLOW_CONTAINER_WIDTH and explorer.chart.spec["width"] == "container"
    )
    vega = vl_convert.vegalite_to_vega(
        explorer.chart.spec, vl_version=".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    )
    width = vega["signals"][0]
    assert width["name"] == "width" and "containerSize()" in width["init"] and isinstance(width["on"], list)
    assert explorer._repr_mimebundle_()["image/svg+xml"].count('width="') >= 1  # the static copy has a fixed width
