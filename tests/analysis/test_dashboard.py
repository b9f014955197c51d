"""The manifest's dashboard defaults, `reef pareto`, `reef dashboard` (opened in Chromium offline),
the Pareto explorer widget and `%reef pareto`, on runs written to a real store."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.browser import ARTIFACTS
from helpers.cli import call as reef
from helpers.records import sweep_record
from helpers.solutions import FLAGSHIP

import reefnb
from reefnb import ReefError
from reefnb.analysis.dashboard import build_dashboard, default_objectives, reference_frame
from reefnb.runs.store import default_store


@pytest.fixture
def runs(hello):
    """hello-sweep with a dashboard section, and 24 recorded runs in two environments (one failed)."""
    manifest = json.loads((hello / "solution.json").read_text())
    manifest["dashboard"] = {
        "x": "time_ms",
        "y": "abs_error",
        "columns": ["param.method", "param.samples", "time_ms", "abs_error", "env.name"],
        "title": "Pi: speed against accuracy",
    }
    (hello / "solution.json").write_text(json.dumps(manifest))
    rng = np.random.default_rng(3)
    records, index = [], 0
    for environment in ("laptop", "server"):
        for method in ("random", "stratified"):
            for samples in (1000, 10000, 100000):
                for _ in range(2):
                    error = (0.5 if method == "random" else 0.05) / np.sqrt(samples) * rng.uniform(0.5, 1.5)
                    speed = 1.0 if environment == "laptop" else 0.6
                    records.append(
                        sweep_record(
                            index, method, samples, samples / 1000 * speed * rng.uniform(0.9, 1.1), error, environment
                        )
                    )
                    index += 1
    records.append(sweep_record(index, "random", 1000, float("nan"), 0.1, "laptop", status="failed"))
    default_store().add_many(records)
    return hello


def test_default_objectives_and_reference_come_from_the_manifest(runs):
    solution = reefnb.load_solution(runs)
    assert default_objectives(solution) == {"metric.time_ms": "min", "metric.abs_error": "min"}
    del solution.data["dashboard"]
    assert default_objectives(solution) == {
        "metric.abs_error": "min",
        "metric.time_ms": "min",
    }  # the metrics with a goal
    reference = reference_frame(solution)
    assert reference.loc[0, "label"] == "expected stratified-10k" and reference.loc[0, "metric.abs_error"] == 0.0


def test_dashboard_axes_must_name_metrics_or_parameters(hello):
    manifest = json.loads((hello / "solution.json").read_text())
    manifest["dashboard"] = {"x": "latency", "y": "abs_error", "columns": ["param.batch"]}
    (hello / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(reefnb.ManifestError) as caught:
        reefnb.load_solution(hello)
    assert [p.split(": ")[1] for p in caught.value.problems] == ["/dashboard/x", "/dashboard/columns/0"]
    assert (
        "'latency' is neither a declared metric (declared: abs_error, pi_estimate, points, time_ms)"
        in caught.value.problems[0]
    )


def test_reef_pareto_table_csv_json_and_plot(runs, tmp_path):
    code, text, _ = reef("pareto", "--solution", str(runs))  # objectives from the manifest
    assert code == 0
    assert re.match(r"\d+ of 24 ok runs on the frontier of min metric.time_ms, min metric.abs_error\n", text)
    assert "metric.time_ms [ms]" in text and "stratified" in text
    code, text, _ = reef("pareto", "-s", "hello-sweep", "--min", "time_ms", "abs_error", "--format", "csv")
    assert (
        code == 0
        and text.splitlines()[0] == "run_id,env.name,param.method,param.samples,metric.time_ms,metric.abs_error"
    )
    code, text, _ = reef(
        "pareto",
        "-s",
        "hello-sweep",
        "--min",
        "time_ms",
        "--max",
        "points",
        "--json",
        "--plot",
        str(tmp_path / "front.svg"),
    )
    result = json.loads(text)
    assert (
        code == 0 and result["objectives"] == {"metric.time_ms": "min", "metric.points": "max"} and result["runs"] == 24
    )
    frame = reefnb.results(solution="hello-sweep")
    expected = reefnb.pareto_front(frame[frame["status"] == "ok"], result["objectives"])
    assert [row["run_id"] for row in result["front"]] == list(expected["run_id"])
    assert (tmp_path / "front.svg").read_text().lstrip().startswith("<svg")
    code, _, err = reef("pareto", "-s", "hello-sweep", "--min", "latency")
    assert code == 2 and err.strip().startswith(
        "reef: error: no column 'latency' in the results (metric columns: metric.abs_error"
    )
    code, _, err = reef("pareto", "-s", "hello-sweep")
    assert code == 2 and "name the objectives with --min/--max" in err


def test_reef_dashboard_writes_one_offline_file(runs, tmp_path):
    output = tmp_path / "out" / "dashboard.html"
    code, text, _ = reef("dashboard", "--solution", str(runs), "-o", str(output))
    assert code == 0 and text.strip() == f"dashboard: {output} (25 runs)"
    page = output.read_text(encoding="utf-8")
    assert "<title>Pi: speed against accuracy</title>" in page
    assert not re.search(r"<(script|link|img)[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", page)
    for heading in ("Summary per environment", "Pareto frontier", "Comparison with reference results", "Runs (25)"):
        assert heading in page
    assert "<td>laptop</td>" in page and "<td>server</td>" in page
    code, _, err = reef("dashboard", "--solution", "nothing-here", "-o", str(output))
    assert code == 2 and "no runs recorded for nothing-here" in err


def opened(browser, path: Path, scheme: str = "light", width: int = 1100):
    """A page of ``path`` in a context with the network off and the colour scheme asked; its errors and requests."""
    context = browser.new_context(offline=True, color_scheme=scheme, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.errors, page.requests = [], []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_selector("#chart0 svg .mark-symbol path", timeout=30_000)
    return page


def brush(page, right: float = 0.1) -> None:
    """Drag across the chart's plot area from its top left corner to ``right`` of its width, half its height."""
    area = page.locator("#chart0 svg g.concat_0_group path.background").first.bounding_box()
    page.mouse.move(area["x"] + 2, area["y"] + 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * right, area["y"] + area["height"] * 0.5, steps=8)
    page.mouse.up()


def table_texts(page) -> list[str]:
    """The texts of the chart's linked table (the run cells and the hint), once it has redrawn."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return page.locator("#chart0 svg g.concat_1_group g.mark-text.role-mark text").all_text_contents()  # not the titles


def test_dashboard_renders_in_chromium_with_the_network_off(runs, tmp_path, browser):
    solution = reefnb.load_solution(runs)
    path = build_dashboard(reefnb.results(solution="hello-sweep"), tmp_path / "dashboard.html", solution=solution)
    page = opened(browser, path)
    try:
        points = page.locator("#chart0 svg .mark-symbol path").count()
        nothing = table_texts(page)  # nothing selected: no run listed, a hint in their place
        brush(page)  # the brush on the scatter lists the runs inside it
        page.wait_for_function("() => !document.querySelector('#chart0').textContent.includes('Nothing selected')")
        brushed = table_texts(page)
        area = page.locator("#chart0 svg g.concat_0_group path.background").first.bounding_box()
        page.mouse.dblclick(area["x"] + area["width"] * 0.7, area["y"] + area["height"] * 0.2)  # clears
        page.wait_for_function("() => document.querySelector('#chart0').textContent.includes('Nothing selected')")
        cleared = table_texts(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    finally:
        page.context.close()
    assert points >= 24  # the runs and the reference
    assert [text for text in nothing if not text.startswith("Nothing selected")] == [] and len(nothing) == 1
    assert len(brushed) > 5 and not any(text.startswith("Nothing selected") for text in brushed)
    assert cleared == nothing
    assert page.errors == []
    assert [url for url in page.requests if not url.startswith("file:")] == []


@pytest.fixture
def flagship_runs(tmp_path) -> Path:
    """A copy of the flagship and the six runs a real `reef benchmark` recorded
    (tests/data/flagship-benchmark-runs.json, mode=both, min_duration_ms=1000), that of w100 on tflite as if recorded
    before loadgen_profile existed."""
    folder = tmp_path / "obj-detection-coco-tf"
    shutil.copytree(
        FLAGSHIP, folder, ignore=shutil.ignore_patterns("runs", "__pycache__", "reproduce-report.*", "reef.lock.json")
    )
    records = json.loads((Path(__file__).resolve().parents[1] / "data" / "flagship-benchmark-runs.json").read_text())
    for record in records:
        record["solution"]["path"] = str(folder)
        record["notebook"]["output_path"] = str(folder / "runs" / record["run_id"] / "benchmark.ipynb")
    [default] = [
        record
        for record in records
        if record["parameters"]["model"].endswith("w100-128") and record["parameters"]["backend"] == "tflite"
    ]
    del default["parameters"]["loadgen_profile"]  # w100 on tflite: the runs of w100-tflite-accuracy and -singlestream
    default_store().add_many(records)
    return folder


def test_flagship_dashboard_compares_every_entry_its_benchmark_satisfies(flagship_runs):
    """Issue 31: after `reef benchmark` (mode=both) every expected entry but the 500-image one is compared."""
    from reefnb.analysis.dashboard import reference_comparison

    solution = reefnb.load_solution(flagship_runs)
    table = reference_comparison(reefnb.results(solution=solution.name), solution)
    compared = table[~table["expected"].str.contains("500")]
    assert (
        len(compared) == 8
        and (compared["runs"] >= 1).all()
        and set(compared["within tolerance"]) <= {"yes", "informational"}
    ), compared
    assert set(table[table["expected"].str.contains("500")]["within tolerance"]) == {"no runs"}
    assert set(compared["runs"]) == {1}  # one run of each: the benchmark runs each model on each backend once
    tolerances = dict(zip(table["metric"], table["tolerance"], strict=True))
    assert (
        tolerances["latency_p90_ms"] == "informational"
        and tolerances["mAP"] == "abs 0.02"
        and tolerances["loadgen_result"] == "exact"
    )


def test_flagship_dashboard_in_chromium_light_and_dark(flagship_runs, tmp_path, browser):
    """The flagship's dashboard after a benchmark, as a researcher opens it (light and dark): the comparison has
    runs, the two MLPerf reference points carry their round, system and scenario without overlapping, no table
    or chart makes the page scroll sideways, and the selected-runs table is empty until something is selected."""
    solution = reefnb.load_solution(flagship_runs)
    path = build_dashboard(reefnb.results(solution=solution.name), tmp_path / "dashboard.html", solution=solution)
    names = [
        "v0.5 Xavier SingleStream",
        "v0.7 AGX_Xavier_TRT SingleStream",
    ]  # the SingleStream rows: the only ones with a p90 latency
    seen = {}
    for scheme in ("light", "dark"):
        page = opened(browser, path, scheme, width=1000)
        try:
            labels = [page.locator("#chart0 svg text", has_text=name).first.bounding_box() for name in names]
            diamonds = page.locator("#chart0 svg .mark-symbol path").count()
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            nothing = table_texts(page)
            runs_heading = page.locator("h2", has_text="Runs (").bounding_box()  # the page down to the runs' table
            clip = {"x": 0, "y": 0, "width": 1000, "height": runs_heading["y"] + 240}
            page.screenshot(path=str(ARTIFACTS / f"dashboard-flagship-{scheme}.png"), full_page=True, clip=clip)
            seen[scheme] = (labels, overflow, background, nothing, page.errors, diamonds)
        finally:
            page.context.close()
    page_text = path.read_text(encoding="utf-8")
    assert (
        "no runs</td>" in page_text and page_text.count("no runs</td>") == 2
    )  # the 500-image entry's two metrics only
    for scheme, (labels, overflow, _, nothing, errors, diamonds) in seen.items():
        first, second = labels
        assert first and second, scheme
        apart = first["x"] + first["width"] <= second["x"] or second["x"] + second["width"] <= first["x"]
        assert apart or first["y"] + first["height"] <= second["y"] or second["y"] + second["height"] <= first["y"], (
            scheme,
            labels,
        )
        assert overflow <= 0, f"{scheme}: the page scrolls {overflow} px sideways"
        assert len(nothing) == 1 and nothing[0].startswith("Nothing selected"), (scheme, nothing)
        assert errors == [] and diamonds >= 6 + 2, scheme
    assert seen["light"][2] != seen["dark"][2]  # the dark page has its own background


def test_explorer_widget_follows_its_controls(runs):
    from reefnb.frontends.widgets import ParetoExplorer

    frame = reefnb.results(solution="hello-sweep")
    frame = frame[frame["status"] == "ok"]
    explorer = ParetoExplorer(frame, objectives={"time_ms": "min", "abs_error": "min"})
    first = list(explorer.frontier["run_id"])
    assert first == list(reefnb.pareto_front(frame, {"time_ms": "min", "abs_error": "min"})["run_id"])
    assert (
        explorer.chart.spec["layer"][1]["encoding"]["x"]["title"].startswith("time_ms")
        and first[0] in explorer.table.value
    )
    explorer.filters["env.name"].value = ("laptop",)
    assert set(explorer.frontier["env.name"]) == {"laptop"}
    laptop = frame[frame["env.name"] == "laptop"]
    assert list(explorer.frontier["run_id"]) == list(
        reefnb.pareto_front(laptop, {"time_ms": "min", "abs_error": "min"})["run_id"]
    )
    explorer.y.value = "metric.points"
    explorer.y_direction.value = "max"
    assert list(explorer.frontier["run_id"]) == list(
        reefnb.pareto_front(laptop, {"time_ms": "min", "points": "max"})["run_id"]
    )
    explorer.filters["param.method"].value = ()
    assert explorer.frontier.empty and "0 of 0 runs" in explorer.status.value


def test_reef_pareto_magic_returns_the_explorer(runs):
    from reefnb.frontends.magics import run_magic
    from reefnb.frontends.widgets import ParetoExplorer

    explorer = run_magic(f"pareto --solution {runs}")
    assert isinstance(explorer, ParetoExplorer)
    assert explorer.objectives == {"metric.time_ms": "min", "metric.abs_error": "min"}
    assert run_magic("pareto -s hello-sweep --min time_ms abs_error --json")["runs"] == 24


def test_pareto_errors_name_the_columns():
    with pytest.raises(ReefError, match="no ok runs recorded"):
        from reefnb.frontends.terminal import run_verb
        from reefnb.frontends.verbs import build_parser

        run_verb(build_parser().parse_args(["pareto", "--min", "x"]), io.StringIO())


def test_expected_results_are_matched_by_the_parameters_that_define_them():
    """As `reef reproduce` runs an expectation: its workflow's defaults with its own parameters on top; a run
    satisfies it when its value is the expected one or one the entry's satisfied_by accepts (mode=both measured
    accuracy and performance), and a run recorded before a parameter existed counts with its declared default.
    A run on synthetic-500 is not a run of an expectation that leaves the data set at synthetic-50."""
    import pandas

    from reefnb.analysis.dashboard import reference_comparison

    solution = reefnb.load_solution(Path(__file__).resolve().parents[2] / "solutions" / "obj-detection-coco-tf")
    base = {
        "param.model": "ssd-mobilenet-tiny-w100-128",
        "param.backend": "tflite",
        "param.scenario": "SingleStream",
        "status": "ok",
    }
    frame = pandas.DataFrame(
        [
            {
                **base,
                "run_id": "a",
                "param.dataset": "synthetic-50",
                "param.mode": "both",
                "metric.mAP": 0.56,
                "param.loadgen_profile": "short",
            },
            {
                **base,
                "run_id": "b",
                "param.dataset": "synthetic-500",
                "param.mode": "accuracy",
                "metric.mAP": 0.10,
                "param.loadgen_profile": "short",
            },
            {  # recorded before loadgen_profile existed: it ran with the notebook's default (short)
                **base,
                "run_id": "c",
                "param.dataset": "synthetic-50",
                "param.mode": "performance",
                "param.min_duration_ms": 1000,
                "metric.latency_p90_ms": 9.0,
                "metric.loadgen_result": "VALID",
            },
            {
                **base,
                "run_id": "d",
                "param.dataset": "synthetic-50",
                "param.mode": "both",
                "metric.mAP": 0.9,
                "param.loadgen_profile": "rules",
            },
            {
                **base,
                "run_id": "e",
                "param.dataset": "synthetic-50",
                "param.mode": "performance",
                "metric.mAP": 0.9,
                "param.loadgen_profile": "short",
            },
        ]
    )
    table = reference_comparison(frame, solution).set_index(["expected", "metric"])
    assert (
        table.loc[("w100-tflite-accuracy", "mAP"), "runs"] == 1
        and table.loc[("w100-tflite-accuracy", "mAP"), "within tolerance"] == "yes"
    )  # a only
    assert (
        table.loc[("w100-tflite-accuracy", "mAP"), "parameters"]
        == "model=ssd-mobilenet-tiny-w100-128, backend=tflite, mode=accuracy or both"
    )
    assert table.loc[("w100-tflite-500-accuracy", "mAP"), "within tolerance"] == "no"  # only run b: 0.10 against 0.5624
    assert (
        table.loc[("w100-tflite-singlestream", "latency_p90_ms"), "runs"] == 1
    )  # c: 1000 matches 1000.0 of a column with gaps
    assert table.loc[("w100-tflite-singlestream", "loadgen_result"), "observed (median)"] == "VALID"
    assert table.loc[("w100-tflite-singlestream", "loadgen_result"), "within tolerance"] == "yes"
    assert table.loc[("w100-savedmodel-accuracy", "mAP"), "within tolerance"] == "no runs"
    del solution.data["expected"][0]["satisfied_by"]  # without it, a run with mode=both is no accuracy run
    assert (
        reference_comparison(frame, solution)
        .set_index(["expected", "metric"])
        .loc[("w100-tflite-accuracy", "mAP"), "runs"]
        == 0
    )


def test_satisfied_by_must_name_notebook_parameters(hello):
    manifest = json.loads((hello / "solution.json").read_text())
    manifest["expected"][0]["satisfied_by"] = {"flavour": ["both"]}
    (hello / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(reefnb.ManifestError) as caught:
        reefnb.load_solution(hello)
    assert [problem.split(": ")[1] for problem in caught.value.problems] == ["/expected/0/satisfied_by/flavour"]
