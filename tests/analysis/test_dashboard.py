"""The manifest's dashboard defaults, `reef pareto`, `reef dashboard` (opened in Chromium offline),
the Pareto explorer widget and `%reef pareto`, on runs written to a real store."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import reefnb
from reefnb import ReefError
from reefnb.analysis.dashboard import build_dashboard, default_objectives, reference_frame
from reefnb.frontends.cli import main
from reefnb.runs.store import default_store

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def record(index: int, method: str, samples: int, time_ms: float, abs_error: float, environment: str, status: str = "ok") -> dict:
    run_id = f"20260101T0000{index:02d}Z-{index:08x}"
    return {
        "record_version": 1,
        "run_id": run_id,
        "solution": {"name": "hello-sweep", "version": "0.1.0", "path": "/solutions/hello-sweep"},
        "workflow": "benchmark",
        "notebook": {"path": "main.ipynb", "sha256": "ab" * 32, "output_path": f"/runs/{run_id}.ipynb"},
        "parameters": {"samples": samples, "method": method},
        "metrics": {
            "time_ms": {"value": time_ms, "unit": "ms"},
            "abs_error": {"value": abs_error, "unit": None},
            "points": {"value": samples, "unit": "points"},
        },
        "status": status,
        "error": None if status == "ok" else {"name": "ValueError", "message": "boom", "cell_index": 3, "execution_count": 3},
        "started": f"2026-01-01T00:00:{index:02d}+00:00",
        "ended": f"2026-01-01T00:00:{index:02d}+00:00",
        "duration_s": 1.0,
        "environment": {
            "name": environment,
            "kernel": "python3",
            "hostname": "box",
            "os": {"platform": "Linux"},
            "cpu": {"model": "Test CPU", "count": 8},
            "memory_bytes": 2**34,
            "python": {"version": "3.11.7"},
        },
        "provenance": {"reefnb_version": reefnb.__version__, "git": None, "command": "reef benchmark"},
    }


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
                    records.append(record(index, method, samples, samples / 1000 * speed * rng.uniform(0.9, 1.1), error, environment))
                    index += 1
    records.append(record(index, "random", 1000, float("nan"), 0.1, "laptop", status="failed"))
    default_store().add_many(records)
    return hello


def test_default_objectives_and_reference_come_from_the_manifest(runs):
    solution = reefnb.load_solution(runs)
    assert default_objectives(solution) == {"metric.time_ms": "min", "metric.abs_error": "min"}
    del solution.data["dashboard"]
    assert default_objectives(solution) == {"metric.abs_error": "min", "metric.time_ms": "min"}  # the metrics with a goal
    reference = reference_frame(solution)
    assert reference.loc[0, "label"] == "expected stratified-10k" and reference.loc[0, "metric.abs_error"] == 0.0


def test_dashboard_axes_must_name_metrics_or_parameters(hello):
    manifest = json.loads((hello / "solution.json").read_text())
    manifest["dashboard"] = {"x": "latency", "y": "abs_error", "columns": ["param.batch"]}
    (hello / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(reefnb.ManifestError) as caught:
        reefnb.load_solution(hello)
    assert [p.split(": ")[1] for p in caught.value.problems] == ["/dashboard/x", "/dashboard/columns/0"]
    assert "'latency' is neither a declared metric (declared: abs_error, pi_estimate, points, time_ms)" in caught.value.problems[0]


def reef(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_reef_pareto_table_csv_json_and_plot(runs, tmp_path):
    code, text, _ = reef("pareto", "--solution", str(runs))  # objectives from the manifest
    assert code == 0
    assert re.match(r"\d+ of 24 ok runs on the frontier of min metric.time_ms, min metric.abs_error\n", text)
    assert "metric.time_ms [ms]" in text and "stratified" in text
    code, text, _ = reef("pareto", "-s", "hello-sweep", "--min", "time_ms", "abs_error", "--format", "csv")
    assert code == 0 and text.splitlines()[0] == "run_id,env.name,param.method,param.samples,metric.time_ms,metric.abs_error"
    code, text, _ = reef("pareto", "-s", "hello-sweep", "--min", "time_ms", "--max", "points", "--json", "--plot", str(tmp_path / "front.svg"))
    result = json.loads(text)
    assert code == 0 and result["objectives"] == {"metric.time_ms": "min", "metric.points": "max"} and result["runs"] == 24
    frame = reefnb.results(solution="hello-sweep")
    expected = reefnb.pareto_front(frame[frame["status"] == "ok"], result["objectives"])
    assert [row["run_id"] for row in result["front"]] == list(expected["run_id"])
    assert (tmp_path / "front.svg").read_text().lstrip().startswith("<svg")
    code, _, err = reef("pareto", "-s", "hello-sweep", "--min", "latency")
    assert code == 2 and err.strip().startswith("reef: error: no column 'latency' in the results (metric columns: metric.abs_error")
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


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install -y chromium)")
def test_dashboard_renders_in_chromium_with_the_network_off(runs, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    solution = reefnb.load_solution(runs)
    path = build_dashboard(reefnb.results(solution="hello-sweep"), tmp_path / "dashboard.html", solution=solution)
    errors, requests = [], []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_context(offline=True).new_page()
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.as_uri())
            page.wait_for_selector("#chart0 svg .mark-symbol path", timeout=20_000)
            points = page.locator("#chart0 svg .mark-symbol path").count()
            # The brush on the scatter filters the linked table of runs; a double click clears it.
            cells = page.locator("#chart0 svg .mark-text text")
            everything = cells.count()
            area = page.locator("#chart0 svg g.concat_0_group path.background").first.bounding_box()
            page.mouse.move(area["x"] + 2, area["y"] + 2)
            page.mouse.down()
            page.mouse.move(area["x"] + area["width"] * 0.1, area["y"] + area["height"] * 0.5, steps=8)
            page.mouse.up()
            page.wait_for_timeout(300)
            brushed = cells.count()
            page.mouse.dblclick(area["x"] + area["width"] * 0.7, area["y"] + area["height"] * 0.2)
            page.wait_for_timeout(300)
            cleared = cells.count()
            artifacts = Path(os.environ.get("REEF_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))  # kept after the run
            artifacts.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert points >= 24  # the runs and the reference
    assert 6 < brushed < everything and cleared == everything  # 6: the table's header cells
    assert errors == []
    assert [url for url in requests if not url.startswith("file:")] == []


def test_explorer_widget_follows_its_controls(runs):
    from reefnb.frontends.widgets import ParetoExplorer

    frame = reefnb.results(solution="hello-sweep")
    frame = frame[frame["status"] == "ok"]
    explorer = ParetoExplorer(frame, objectives={"time_ms": "min", "abs_error": "min"})
    first = list(explorer.frontier["run_id"])
    assert first == list(reefnb.pareto_front(frame, {"time_ms": "min", "abs_error": "min"})["run_id"])
    assert explorer.chart.spec["layer"][1]["encoding"]["x"]["title"].startswith("time_ms") and first[0] in explorer.table.value
    explorer.filters["env.name"].value = ("laptop",)
    assert set(explorer.frontier["env.name"]) == {"laptop"}
    laptop = frame[frame["env.name"] == "laptop"]
    assert list(explorer.frontier["run_id"]) == list(reefnb.pareto_front(laptop, {"time_ms": "min", "abs_error": "min"})["run_id"])
    explorer.y.value = "metric.points"
    explorer.y_direction.value = "max"
    assert list(explorer.frontier["run_id"]) == list(reefnb.pareto_front(laptop, {"time_ms": "min", "points": "max"})["run_id"])
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
        from reefnb.frontends.cli import build_parser
        from reefnb.frontends.terminal import cmd_pareto

        cmd_pareto(build_parser().parse_args(["pareto", "--min", "x"]), io.StringIO())


def test_expected_results_are_matched_by_the_parameters_that_define_them():
    """As `reef reproduce` runs an expectation: its workflow's defaults with its own parameters on top; a run
    satisfies it when its value is the expected one or one the entry's satisfied_by accepts (mode=both measured
    accuracy and performance), and a run recorded before a parameter existed counts with its declared default.
    A run on synthetic-500 is not a run of an expectation that leaves the data set at synthetic-50."""
    import pandas

    from reefnb.analysis.dashboard import reference_comparison

    solution = reefnb.load_solution(Path(__file__).resolve().parents[2] / "solutions" / "obj-detection-coco-tf")
    base = {"param.model": "ssd-mobilenet-tiny-w100-128", "param.backend": "tflite", "param.scenario": "SingleStream", "status": "ok"}
    frame = pandas.DataFrame(
        [
            {**base, "run_id": "a", "param.dataset": "synthetic-50", "param.mode": "both", "metric.mAP": 0.56, "param.loadgen_profile": "short"},
            {**base, "run_id": "b", "param.dataset": "synthetic-500", "param.mode": "accuracy", "metric.mAP": 0.10, "param.loadgen_profile": "short"},
            {  # recorded before loadgen_profile existed: it ran with the notebook's default (short)
                **base,
                "run_id": "c",
                "param.dataset": "synthetic-50",
                "param.mode": "performance",
                "param.min_duration_ms": 1000,
                "metric.latency_p90_ms": 9.0,
                "metric.loadgen_result": "VALID",
            },
            {**base, "run_id": "d", "param.dataset": "synthetic-50", "param.mode": "both", "metric.mAP": 0.9, "param.loadgen_profile": "rules"},
            {**base, "run_id": "e", "param.dataset": "synthetic-50", "param.mode": "performance", "metric.mAP": 0.9, "param.loadgen_profile": "short"},
        ]
    )
    table = reference_comparison(frame, solution).set_index(["expected", "metric"])
    assert table.loc[("w100-tflite-accuracy", "mAP"), "runs"] == 1 and table.loc[("w100-tflite-accuracy", "mAP"), "within tolerance"] == "yes"  # a only
    assert table.loc[("w100-tflite-accuracy", "mAP"), "parameters"] == "model=ssd-mobilenet-tiny-w100-128, backend=tflite, mode=accuracy or both"
    assert table.loc[("w100-tflite-500-accuracy", "mAP"), "within tolerance"] == "no"  # only run b: 0.10 against 0.5624
    assert table.loc[("w100-tflite-singlestream", "latency_p90_ms"), "runs"] == 1  # c: 1000 matches 1000.0 of a column with gaps
    assert table.loc[("w100-tflite-singlestream", "loadgen_result"), "observed (median)"] == "VALID"
    assert table.loc[("w100-tflite-singlestream", "loadgen_result"), "within tolerance"] == "yes"
    assert table.loc[("w100-savedmodel-accuracy", "mAP"), "within tolerance"] == "no runs"
    del solution.data["expected"][0]["satisfied_by"]  # without it, a run with mode=both is no accuracy run
    assert reference_comparison(frame, solution).set_index(["expected", "metric"]).loc[("w100-tflite-accuracy", "mAP"), "runs"] == 0


def test_satisfied_by_must_name_notebook_parameters(hello):
    manifest = json.loads((hello / "solution.json").read_text())
    manifest["expected"][0]["satisfied_by"] = {"flavour": ["both"]}
    (hello / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(reefnb.ManifestError) as caught:
        reefnb.load_solution(hello)
    assert [problem.split(": ")[1] for problem in caught.value.problems] == ["/expected/0/satisfied_by/flavour"]
