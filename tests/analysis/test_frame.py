"""The results frame (reefnb.analysis.frame): run records as a DataFrame, one row per run, from a real store or
from records; what the parameters and metrics mean; defaults a run was not given."""

from __future__ import annotations

import json
import logging
import math
import sqlite3

import pandas
from helpers.records import make_record, sweep_record

import reefnb
from reefnb.analysis.frame import (
    environment_columns,
    metric_meaning,
    parameter_defaults,
    records_to_frame,
    results,
    results_and_solution,
    with_parameter_defaults,
)
from reefnb.runs.store import Store, default_store
from reefnb.solution.columns import BASE_COLUMNS
from reefnb.solution.manifest import load_solution


def test_records_to_frame_columns_units_and_nan(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.add(
        make_record(
            "20260101T000000Z-00000001",
            parameters={"samples": 1000, "method": "random", "sizes": [1, 2]},
            metrics={
                "loss": {"value": None, "special": "nan", "unit": None},
                "time_ms": {"value": 12.5, "unit": "ms"},
                "peak": {"value": None, "special": "inf", "unit": "MB"},
            },
        )
    )
    store.add(
        make_record(
            "20260101T000000Z-00000002",
            status="failed",
            started="2026-01-01T00:01:00+00:00",
            parameters={"samples": 10, "method": "stratified"},
            metrics={"time_ms": {"value": 3, "unit": "ms"}},
        )
    )
    frame = records_to_frame(store.records())
    assert list(frame.columns) == BASE_COLUMNS + [
        "error",
        "param.method",
        "param.samples",
        "param.sizes",
        "metric.loss",
        "metric.peak",
        "metric.time_ms",
        "env.name",
        "env.kernel",
        "env.hostname",
        "env.os",
        "env.cpu",
        "env.cpu_count",
        "env.memory_gb",
        "env.python",
    ]
    assert frame.attrs["units"] == {"metric.time_ms": "ms", "metric.peak": "MB"}
    assert list(frame["run_id"]) == ["20260101T000000Z-00000001", "20260101T000000Z-00000002"]
    first, second = frame.iloc[0], frame.iloc[1]
    assert math.isnan(first["metric.loss"])
    assert first["metric.peak"] == math.inf
    assert list(frame["metric.time_ms"]) == [12.5, 3]
    assert first["param.sizes"] == "[1, 2]"  # lists are kept as JSON text
    assert pandas.isna(second["param.sizes"]) and pandas.isna(second["metric.loss"])
    assert list(frame["param.samples"]) == [1000, 10]
    assert (first["solution"], first["version"], first["workflow"], first["status"]) == ("demo", "0.1.0", "run", "ok")
    assert pandas.isna(first["error"]) and second["error"] == "ValueError: boom"
    assert first["started"] == pandas.Timestamp("2026-01-01T00:00:00Z")
    assert str(frame["started"].dtype).startswith("datetime64") and str(frame["started"].dt.tz) == "UTC"
    assert first["duration_s"] == 2.0
    assert (first["env.kernel"], first["env.os"], first["env.cpu"], first["env.cpu_count"]) == (
        "python3",
        "Linux-6.1-x86_64",
        "Test CPU",
        8,
    )
    assert (first["env.memory_gb"], first["env.python"], first["env.hostname"]) == (16.0, "3.11.7", "box")


def test_records_to_frame_of_nothing_has_the_base_columns():
    frame = records_to_frame([])
    assert frame.empty
    assert list(frame.columns) == BASE_COLUMNS + ["error"]
    assert frame.attrs["units"] == {}


def test_results_reads_the_default_store_with_filters():
    assert reefnb.results().empty
    store = reefnb.default_store()
    store.add(make_record("20260101T000000Z-00000001", solution="alpha"))
    store.add(make_record("20260101T000000Z-00000002", solution="beta", status="failed"))
    frame = reefnb.results()
    assert list(frame["solution"]) == ["alpha", "beta"]
    assert list(reefnb.results(solution="beta")["run_id"]) == ["20260101T000000Z-00000002"]
    assert list(reefnb.results(status="ok")["solution"]) == ["alpha"]
    assert reefnb.results(solution="gamma").empty
    assert frame.attrs["units"] == {"metric.time_ms": "ms"}


def test_a_run_whose_start_is_not_a_time_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    store = Store(tmp_path / "results.sqlite")
    store.add(make_record("20260101T000000Z-00000001"))
    store.add(make_record("20260101T000000Z-00000002", started="2026-01-01T00:05:00+00:00"))
    with sqlite3.connect(tmp_path / "results.sqlite") as connection:
        connection.execute("UPDATE runs SET started = 'yesterday' WHERE run_id = '20260101T000000Z-00000002'")
    with caplog.at_level(logging.WARNING):
        frame = results(store=store)
    assert list(frame["run_id"]) == ["20260101T000000Z-00000001"]
    assert "run 20260101T000000Z-00000002: started is not a time, skipped" in caplog.text


def test_the_frame_from_the_store_and_from_the_records_agree(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    for index, method in enumerate(["random", "stratified", "random"]):
        parameters = {"samples": 10**index, "method": method}
        store.add(make_record(f"20260101T000000Z-0000000{index}", parameters=parameters))
    from_store = results(store=store)
    from_records = records_to_frame(store.records())
    pandas.testing.assert_frame_equal(from_store, from_records, check_dtype=False)
    assert from_store.attrs == from_records.attrs
    assert list(results(store=store, where='param.method == "random"')["param.samples"]) == [1, 100]


def test_environment_columns_of_a_fingerprint_and_of_nothing():
    fingerprint = {
        "name": "py311",
        "kernel": "reef-py311",
        "hostname": "box",
        "os": {"platform": "Linux-6.1"},
        "cpu": {"model": "Test CPU", "count": 4},
        "memory_bytes": 3 * 2**30,
        "python": {"version": "3.11.7"},
    }
    columns = environment_columns(fingerprint)
    assert columns["env.cpu_count"] == 4 and columns["env.memory_gb"] == 3.0 and columns["env.os"] == "Linux-6.1"
    assert set(environment_columns("not a fingerprint").values()) == {None}
    assert environment_columns({"cpu": "one", "memory_bytes": 0})["env.cpu"] is None


def test_the_manifest_s_meaning_comes_first_and_the_records_fill_in_what_it_does_not_declare(hello):
    solution = load_solution(hello)
    frame = records_to_frame(
        [
            make_record(
                "20260101T000000Z-00000001",
                metrics={
                    "points": {"value": 3, "unit": "n", "goal": "max"},
                    "extra": {"value": 1.5, "unit": "s", "goal": "min", "format": ".2f"},
                },
            )
        ]
    )
    meaning = metric_meaning(solution, frame)
    assert list(meaning)[: len(solution.metrics)] == list(solution.metrics)
    assert meaning["extra"] == {"unit": "s", "goal": "min", "format": ".2f"}
    assert metric_meaning(None, frame) == {
        "points": {"unit": "n", "goal": "max"},
        "extra": {"unit": "s", "goal": "min", "format": ".2f"},
    }
    assert metric_meaning(None) == {}


def test_metric_columns_are_never_retyped_and_the_frame_given_is_left_alone(hello):
    frame = pandas.DataFrame({"workflow": ["run", "run"], "param.samples": [5.0, None], "metric.n": [1.0, 2.0]})
    solution = load_solution(hello)
    filled = with_parameter_defaults(frame, solution)
    samples = parameter_defaults(solution)["samples"]
    assert filled["param.samples"].tolist() == [5, samples] and filled["param.samples"].dtype == "int64"
    assert filled["metric.n"].dtype == "float64"
    assert frame["param.samples"].dtype == "float64" and frame["param.samples"].isna().sum() == 1


def test_results_and_solution_by_folder_by_name_or_for_all_runs(hello):
    store = reefnb.default_store()
    name = json.loads((hello / "solution.json").read_text())["name"]
    store.add(make_record("20260101T000000Z-00000001", solution=name))
    store.add(make_record("20260101T000000Z-00000002", solution="other"))
    frame, solution = results_and_solution(str(hello))
    assert solution.name == name and list(frame["solution"]) == [name]
    frame, solution = results_and_solution(None)
    assert solution is None and len(frame) == 2


def test_parameter_defaults_fill_the_runs_not_given_them_and_whole_numbers_stay_ints(reef_home, hello):
    solution = reefnb.open_solution(hello)
    assert parameter_defaults(solution, "run") == {"samples": 10000, "method": "random", "seed": 0}
    assert parameter_defaults(solution, "no-such-workflow") == {}
    records = [
        sweep_record(index, "random", [1000, 20000, 100000][index % 3], 1.0 + index, 0.1, "laptop")
        for index in range(4)
    ]
    records[1]["parameters"]["seed"] = 7
    del records[2]["parameters"]["method"]  # recorded before the parameter existed
    default_store().add_many(records)
    frame = reefnb.results(solution="hello-sweep")
    assert frame["param.seed"].dtype.kind == "f"  # what the store gives: 7.0 beside NaN
    filled = with_parameter_defaults(frame, solution)
    assert filled["param.seed"].tolist() == [0, 7, 0, 0] and filled["param.seed"].dtype == "int64"
    assert filled["param.method"].tolist() == ["random", "random", "random", "random"]
    assert filled["param.samples"].tolist() == [1000, 20000, 100000, 1000]
    assert frame["param.seed"].isna().sum() == 3  # the caller's frame is left alone
    typed = with_parameter_defaults(frame)  # no manifest: no defaults, but whole numbers as ints
    assert typed["param.seed"].dtype == "Int64" and typed["param.seed"].dropna().tolist() == [7]
    fractions = pandas.DataFrame({"param.rate": [0.5, 1.0, None]})
    assert with_parameter_defaults(fractions)["param.rate"].dtype.kind == "f"
