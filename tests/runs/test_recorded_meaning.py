"""Run records keep each metric's unit, goal (min/max) and format from the manifest at record time;
the store keeps them (schema 4), and `reef pareto`, the dashboard and the explorer use them when no
manifest is at hand (neither the solution's folder nor one kept with pulled results)."""

from __future__ import annotations

import json
import re
import sqlite3

import jsonschema
import pytest
from helpers.cli import call
from helpers.records import make_record
from helpers.solutions import write_solution

import reefnb
from reefnb.analysis.frame import recorded_meaning, records_to_frame
from reefnb.runs.store import MIGRATIONS, Store
from reefnb.sharing import registry

pytestmark = pytest.mark.usefixtures("git_identity")  # commits name a test identity

# (latency ms, mAP): with mAP maximised the frontier is a, b, c; were mAP minimised it would be a, d
POINTS = {"a": (2.0, 0.40), "b": (5.0, 0.61), "c": (9.0, 0.7234), "d": (7.0, 0.30), "e": (9.5, 0.55)}


def detector_records(goals: bool = True) -> list[dict]:
    records = []
    for index, (name, (latency, mean_ap)) in enumerate(POINTS.items()):
        metrics = {"latency_ms": {"value": latency, "unit": "ms"}, "mAP": {"value": mean_ap, "unit": None}}
        if goals:
            metrics["latency_ms"].update(goal="min", format=".2f")
            metrics["mAP"].update(goal="max", format=".1%")
        record = make_record(
            f"20260101T00000{index}Z-dd{index:06x}", solution="detector", parameters={"point": name}, metrics=metrics
        )
        record["solution"]["path"] = "/nowhere/detector"  # the folder is not at hand
        records.append(record)
    return records


def test_goal_and_format_travel_through_the_store_and_the_record_comes_back_byte_for_byte(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    records = detector_records()
    for record in records:
        jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(record)
    store.add_many(records)
    for record in records:
        assert json.dumps(store.get(record["run_id"])) == json.dumps(record)  # values and key order
    frame = reefnb.results(store=store)
    assert frame.attrs["goals"] == {"metric.latency_ms": "min", "metric.mAP": "max"}
    assert frame.attrs["formats"] == {"metric.latency_ms": ".2f", "metric.mAP": ".1%"}
    assert frame.attrs["units"] == {"metric.latency_ms": "ms"}
    from_records = records_to_frame(store.records())
    assert {key: from_records.attrs[key] for key in ("units", "goals", "formats")} == {
        key: frame.attrs[key] for key in ("units", "goals", "formats")
    }
    assert recorded_meaning(frame) == {
        "latency_ms": {"unit": "ms", "goal": "min", "format": ".2f"},
        "mAP": {"goal": "max", "format": ".1%"},
    }
    # a later record that gives no goal keeps the one kept; one that gives another goal replaces it
    store.add(
        make_record("20260102T000000Z-dd000010", solution="detector", metrics={"mAP": {"value": 0.1, "unit": None}})
    )
    assert reefnb.results(store=store).attrs["goals"]["metric.mAP"] == "max"
    store.add(
        make_record(
            "20260102T000000Z-dd000011",
            solution="detector",
            metrics={"mAP": {"value": 0.1, "unit": None, "goal": "min"}},
        )
    )
    assert reefnb.results(store=store).attrs["goals"]["metric.mAP"] == "min"


def test_a_schema_3_store_is_migrated_and_then_keeps_goals(tmp_path):
    path = tmp_path / "results.sqlite"
    Store(path).add(make_record("20260101T000000Z-00000001", solution="detector"))
    connection = sqlite3.connect(path)  # back to schema 3: its columns table had no goal or format
    connection.execute("ALTER TABLE columns DROP COLUMN goal")
    connection.execute("ALTER TABLE columns DROP COLUMN format")
    connection.execute("PRAGMA user_version = 3")
    connection.commit()
    connection.close()
    store = Store(path)
    old = reefnb.results(store=store)
    assert len(old) == 1 and old.attrs["goals"] == {} and old.attrs["formats"] == {}
    store.add_many(detector_records())
    assert reefnb.results(store=store).attrs["goals"] == {"metric.latency_ms": "min", "metric.mAP": "max"}
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
    assert {row[1] for row in check.execute("PRAGMA table_info(columns)")} >= {"unit", "goal", "format"}
    check.close()
    assert store.integrity_check() == "ok"


def test_pareto_and_dashboard_by_name_take_directions_and_formats_from_the_records(tmp_path, reef_home):
    Store().add_many(detector_records())
    assert (
        not (reef_home / "manifests").exists() and not (reef_home / "solutions.json").exists()
    )  # no manifest anywhere

    code, out, err = call("pareto", "--solution", "detector", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["objectives"] == {"metric.latency_ms": "min", "metric.mAP": "max"}
    assert [row["param.point"] for row in result["front"]] == ["a", "b", "c"]

    code, out, err = call("pareto", "--solution", "detector")
    assert code == 0, err
    assert "3 of 5 ok runs on the frontier of min metric.latency_ms, max metric.mAP\n" in out and "assumed" not in out
    assert re.search(r"c\s+9\.00\s+72\.3%", out), out  # the declared formats; the unit in the header
    assert "metric.latency_ms [ms]" in out

    page = tmp_path / "dashboard.html"
    code, _, err = call("dashboard", "--solution", "detector", "-o", str(page))
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    assert "<h1>detector 0.1.0</h1>" in text
    assert "<th>best latency_ms (min)</th><th>best mAP (max)</th>" in text
    assert "<td>2.00 ms</td><td>72.3%</td>" in text  # the best of each, formatted
    specs = json.loads(
        re.search(r'<script type="application/json" id="reef-chart-specs">(.*?)</script>', text).group(1)
    )
    scatter = specs["chart0"]["vconcat"][0]
    encoding = scatter["layer"][1]["encoding"]
    assert encoding["x"]["title"] == "latency_ms (ms) ↓" and encoding["y"]["title"] == "mAP ↑"
    assert encoding["y"]["axis"]["format"] and "assumed" not in json.dumps(scatter["title"])
    frontier = (
        {row["param.point"] for row in scatter["layer"][0]["data"]["values"]}
        if "values" in scatter["layer"][0].get("data", {})
        else None
    )
    if frontier is None:  # altair puts the data in named datasets
        frontier = {row["param.point"] for row in specs["chart0"]["datasets"][scatter["layer"][0]["data"]["name"]]}
    assert frontier == {"a", "b", "c"}

    explorer = reefnb.explore("detector")
    assert explorer.objectives == {"metric.latency_ms": "min", "metric.mAP": "max"}
    assert set(explorer.frontier["param.point"]) == {"a", "b", "c"}
    assert "assumed" not in json.dumps(explorer.chart.spec["title"])


def test_pushed_and_pulled_records_keep_their_goals_without_any_manifest(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    Store().add_many(detector_records())  # alice's folder is not here: no manifest goes with the results
    assert registry.push_results()["pushed"] == 5
    carol = user("carol")
    registry.add_registry("shared", str(bare))
    assert registry.pull_results()["new"] == 5
    assert not (carol / "manifests" / "detector").exists()
    pulled = Store().records(solution="detector")
    assert [record["metrics"]["mAP"]["goal"] for record in pulled] == ["max"] * 5
    assert {record["metrics"]["latency_ms"]["format"] for record in pulled} == {".2f"}
    code, out, err = call("pareto", "--solution", "detector", "--json")
    assert code == 0, err
    assert json.loads(out)["objectives"] == {"metric.latency_ms": "min", "metric.mAP": "max"}
    assert [row["param.point"] for row in json.loads(out)["front"]] == ["a", "b", "c"]


def test_without_any_goal_the_directions_are_said_to_be_assumed(tmp_path):
    Store().add_many(detector_records(goals=False))
    code, out, err = call("pareto", "--solution", "detector", "--min", "latency_ms", "--max", "mAP")
    assert code == 0 and "assumed" not in out
    code, out, err = call("pareto", "--solution", "detector")
    assert code == 2 and "name the objectives with --min/--max" in err  # no goal anywhere: nothing is guessed
    page = tmp_path / "dashboard.html"
    code, _, err = call("dashboard", "--solution", "detector", "-o", str(page))
    assert code == 0, err
    specs = json.loads(
        re.search(
            r'<script type="application/json" id="reef-chart-specs">(.*?)</script>', page.read_text(encoding="utf-8")
        ).group(1)
    )
    assert "lower is better assumed" in json.dumps(specs["chart0"]["vconcat"][0]["title"])


def test_a_real_run_records_the_manifests_goal_format_and_unit(tmp_path):
    manifest = {
        "name": "probe",
        "version": "0.1.0",
        "workflows": {"run": {"notebook": "main.ipynb"}},
        "metrics": [{"name": "mAP", "goal": "max", "format": ".1%"}, {"name": "latency", "unit": "ms", "goal": "min"}],
    }
    folder = write_solution(
        tmp_path / "probe",
        manifest,
        "x = 1",
        "import reefnb\nreefnb.record('mAP', 0.5)\nreefnb.record('latency', 3.5)\nreefnb.record('other', 1, unit='s')",
    )
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(record)
    metrics = record["metrics"]
    assert {key: metrics["mAP"].get(key) for key in ("goal", "format", "unit")} == {
        "goal": "max",
        "format": ".1%",
        "unit": None,
    }
    assert {key: metrics["latency"].get(key) for key in ("goal", "format", "unit")} == {
        "goal": "min",
        "format": None,
        "unit": "ms",
    }
    assert (
        "goal" not in metrics["other"] and metrics["other"]["unit"] == "s"
    )  # not declared: as the notebook recorded it
    assert Store().get(record["run_id"]) == record
    frame = reefnb.results("probe")
    assert frame.attrs["goals"] == {"metric.latency": "min", "metric.mAP": "max"} and frame.attrs["formats"] == {
        "metric.mAP": ".1%"
    }
