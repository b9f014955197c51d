"""The results-frame columns no manifest declares (reefnb.solution.columns): they agree with the record schema and
with the frame reef builds from records."""

from __future__ import annotations

import json
from importlib import resources

from reefnb.analysis.frame import records_to_frame
from reefnb.solution.columns import BASE_COLUMNS, SYSTEM_COLUMNS, SYSTEM_METRICS

SCHEMA = json.loads(resources.files("reefnb.schemas").joinpath("run-record.schema.json").read_text("utf-8"))


def test_the_system_metrics_are_the_values_the_record_schema_requires_of_system():
    assert sorted(SYSTEM_METRICS) == sorted(SCHEMA["properties"]["system"]["required"])
    assert SYSTEM_COLUMNS == [f"sys.{name}" for name in SYSTEM_METRICS]


def test_every_system_metric_says_its_unit_and_what_it_is_and_a_goal_is_min_or_max():
    for name, meaning in SYSTEM_METRICS.items():
        assert isinstance(meaning["unit"], str) and meaning["description"], name
        assert meaning.get("goal", "min") in ("min", "max"), name


def test_the_base_columns_are_record_fields_the_schema_requires():
    required = set(SCHEMA["required"])
    fields = {"solution" if column == "version" else column for column in BASE_COLUMNS}  # version: solution.version
    assert fields <= required, fields - required
    assert set(SCHEMA["properties"]["solution"]["required"]) >= {"name", "version"}


def test_a_frame_of_records_starts_with_the_base_columns_and_orders_system_columns_as_listed():
    system = {name: float(index) for index, name in enumerate(reversed(SYSTEM_METRICS))}
    record = {
        "run_id": "r1",
        "solution": {"name": "s", "version": "1.0.0"},
        "workflow": "run",
        "status": "ok",
        "started": "2026-01-01T00:00:00+00:00",
        "ended": "2026-01-01T00:00:01+00:00",
        "duration_s": 1.0,
        "system": system,
    }
    frame = records_to_frame([record])
    assert list(frame.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert [column for column in frame.columns if column.startswith("sys.")] == SYSTEM_COLUMNS
    assert frame.loc[0, "sys.samples"] == system["samples"]
    assert list(records_to_frame([]).columns) == BASE_COLUMNS + ["error"]
