"""Altair Pareto charts: what the spec holds, big frames, offline HTML, PNG and SVG through vl-convert."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from reefnb import ReefError
from reefnb.analysis.plots import MAX_POINTS, chart_svg, drawn_rows, pareto_chart, save_chart


def runs(count: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(count)],
            "status": "ok",
            "param.method": rng.choice(["random", "stratified"], count),
            "param.samples": rng.choice([1000, 10000], count),
            "metric.time_ms": rng.random(count) * 100 + 1,
            "metric.abs_error": rng.random(count),
            "env.name": rng.choice(["cpu", "gpu"], count),
        }
    )
    frame.attrs["units"] = {"metric.time_ms": "ms"}
    return frame


def layers_of(spec: dict) -> list[dict]:
    return spec["vconcat"][0]["layer"]


def test_chart_spec_has_frontier_step_line_tooltips_colour_reference_and_linked_table():
    frame = runs(200)
    reference = pd.DataFrame({"label": ["official"], "metric.time_ms": [20.0], "metric.abs_error": [0.1]})
    spec = pareto_chart(frame, "time_ms", "abs_error", reference=reference, log_x=True).to_dict()
    frontier, points, leader, official, name = layers_of(spec)
    assert frontier["mark"]["type"] == "line" and frontier["mark"]["interpolate"] == "step-after"
    assert points["encoding"]["x"]["scale"]["type"] == "log"
    assert points["encoding"]["x"]["title"] == "time_ms (ms) ↓"
    assert points["encoding"]["color"]["field"] == "env\\.name"
    assert {t["title"] for t in points["encoding"]["tooltip"]} >= {
        "run_id",
        "param.method",
        "param.samples",
        "env.name",
    }
    assert official["mark"]["shape"] == "diamond" and leader["mark"]["type"] == "rule"
    assert (
        name["mark"]["type"] == "text" and spec["datasets"][name["data"]["name"]][0]["reference_name"] == "official"
    )  # its label: no round
    params = spec["params"] if "params" in spec else points["params"]
    assert {p["name"] for p in params} == {"brush", "click"}
    assert {p["select"]["type"] for p in params} == {"interval", "point"}
    table = json.dumps(spec["vconcat"][1])
    # the runs inside the brush or clicked; none while nothing is selected (an empty selection selects nothing here)
    assert '"filter": {"or": [{"param": "brush", "empty": false}, {"param": "click", "empty": false}]}' in table
    assert (
        "!length(data('brush_store')) && !length(data('click_store'))" in table
    )  # the hint, while nothing is selected
    front_rows = [row for row in spec["datasets"][points["data"]["name"]] if row["on_front"]]
    assert front_rows and len(spec["datasets"][frontier["data"]["name"]]) == len(front_rows)


def test_max_directions_and_bad_axes():
    frame = runs(50)
    spec = pareto_chart(frame, "time_ms", "abs_error", directions={"abs_error": "max"}, color=None).to_dict()
    assert layers_of(spec)[1]["encoding"]["y"]["title"] == "abs_error ↑"
    assert "color" not in layers_of(spec)[1]["encoding"]
    with pytest.raises(ReefError, match="no column 'latency'"):
        pareto_chart(frame, "latency", "abs_error")


def test_100k_rows_send_the_frontier_and_a_sample_without_max_rows_error():
    frame = runs(100_000)
    drawn, total = drawn_rows(frame, {"metric.time_ms": "min", "metric.abs_error": "min"})
    assert total == 100_000 and len(drawn) == MAX_POINTS
    assert drawn["on_front"].sum() >= 1
    chart = pareto_chart(frame, "time_ms", "abs_error")
    spec = chart.to_dict()  # would raise MaxRowsError with more than 5,000 rows
    assert "sample of" in spec["vconcat"][0]["title"]["subtitle"]


def test_offline_html_inlines_vega_and_fetches_nothing(tmp_path):
    path = save_chart(pareto_chart(runs(100), "time_ms", "abs_error"), tmp_path / "chart.html")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?https?:", text)
    assert "vegaEmbed" in text and len(text) > 200_000  # the libraries themselves, not a link to them


def test_png_and_svg_through_vl_convert(tmp_path):
    chart = pareto_chart(runs(100), "time_ms", "abs_error")
    assert save_chart(chart, tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_chart(chart, tmp_path / "chart.svg").read_text(encoding="utf-8").lstrip().startswith("<svg")
    assert chart_svg(chart).lstrip().startswith("<svg")
    with pytest.raises(ReefError, match="cannot save a chart as '.gif'"):
        save_chart(chart, tmp_path / "chart.gif")


def test_reference_labels_are_laid_out_without_overlap():
    """Issue 31: reference points on top of each other get labels that overlap neither each other nor a point, inside
    the plot; a label that would pass the right edge goes left of its point."""
    from itertools import combinations

    from reefnb.analysis.plots import LABEL_CHARACTER_WIDTH, LABEL_FONT_SIZE, MARK_RADIUS, _Axis, label_places

    axes = (_Axis((0.0, 10.0), False, 500, False), _Axis((0.0, 1.0), False, 300, True))
    points = [(1.0, 0.5), (1.1, 0.5), (1.2, 0.505), (9.9, 0.5), (5.0, 0.99), (1.05, 0.49)]
    names = [
        "v0.5 Xavier SingleStream",
        "v0.7 AGX_Xavier_TRT SingleStream",
        "third",
        "at the right edge",
        "at the top",
        "sixth",
    ]
    places = label_places(points, names, axes)
    half = (LABEL_FONT_SIZE + 3) / 2
    boxes = []
    for (left, middle, _), name in zip(places, names, strict=True):
        x, y = axes[0].pixel(left), axes[1].pixel(middle)
        boxes.append((x, y - half, x + LABEL_CHARACTER_WIDTH * len(name), y + half))
    centres = [(axes[0].pixel(x), axes[1].pixel(y)) for x, y in points]
    marks = [(x - MARK_RADIUS, y - MARK_RADIUS, x + MARK_RADIUS, y + MARK_RADIUS) for x, y in centres]

    def overlap(a, b):
        return a[0] < b[2] - 1e-6 and b[0] < a[2] - 1e-6 and a[1] < b[3] - 1e-6 and b[1] < a[3] - 1e-6

    assert not any(overlap(a, b) for a, b in combinations(boxes, 2))
    assert not any(overlap(box, mark) for box in boxes for mark in marks)
    assert all(0 <= box[1] and box[3] <= 300 for box in boxes)
    assert places[3][2] < 9.9 and boxes[3][2] <= axes[0].pixel(
        9.9
    )  # left of its point, the line ending at its right end
