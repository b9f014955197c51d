"""The results a package expects (reefnb.sharing.expectations): the last run's metrics with a tolerance each."""

from __future__ import annotations

import pytest

from reefnb.sharing.expectations import default_tolerance, expectations_from_records, tolerance_text


def run(workflow: str = "run", parameters: dict | None = None, **metrics) -> dict:
    return {"workflow": workflow, "parameters": parameters or {}, "metrics": metrics}


@pytest.mark.parametrize(
    ("name", "value", "unit", "tolerance"),
    [
        ("inference_time", 3.2, None, {"informational": True}),
        ("latency_ms", 3, None, {"informational": True}),
        ("latency", 3.2, "us", {"informational": True}),
        ("accuracy", 0.91, None, {"rel": 1e-6}),
        ("images", 500, None, {"abs": 0}),
        ("label", "cat", None, {"abs": 0}),
        ("items", 3.0, "count", {"rel": 1e-6}),
    ],
)
def test_timings_are_informational_integers_exact_and_floats_relative(name, value, unit, tolerance):
    assert default_tolerance(name, value, unit) == tolerance


def test_the_default_tolerance_is_a_copy_a_caller_may_change():
    default_tolerance("accuracy", 0.5)["rel"] = 1.0
    assert default_tolerance("accuracy", 0.5) == {"rel": 1e-6}


def test_the_last_run_s_metrics_become_the_expectation_with_the_manifest_s_tolerance():
    data = {"metrics": [{"name": "accuracy", "tolerance": {"abs": 0.01}}]}
    first = run(parameters={"n": 1}, accuracy={"value": 0.5})
    last = run(
        parameters={"n": 2},
        accuracy={"value": 0.9},
        time_ms={"value": 12.5, "unit": "ms"},
        skipped={"value": None},
    )
    assert expectations_from_records(data, [first, last]) == [
        {
            "workflow": "run",
            "parameters": {"n": 2},
            "metrics": {
                "accuracy": {"value": 0.9, "tolerance": {"abs": 0.01}},
                "time_ms": {"value": 12.5, "unit": "ms", "tolerance": {"informational": True}},
            },
        }
    ]


def test_an_expectation_of_the_same_experiment_is_replaced_and_others_stay():
    other = {"workflow": "run", "parameters": {"n": 5}, "metrics": {"accuracy": {"value": 0.1}}}
    stale = {"workflow": "run", "parameters": {"n": 2}, "metrics": {"accuracy": {"value": 0.2}}}
    expected = expectations_from_records(
        {"expected": [other, stale]}, [run(parameters={"n": 2}, accuracy={"value": 1})]
    )
    assert expected == [
        other,
        {"workflow": "run", "parameters": {"n": 2}, "metrics": {"accuracy": {"value": 1, "tolerance": {"abs": 0}}}},
    ]


def test_the_author_s_named_expectation_stands_and_no_runs_or_no_values_change_nothing():
    named = {"id": "headline", "parameters": {"n": 2}, "metrics": {"accuracy": {"value": 0.2}}}
    data = {"expected": [named]}
    assert expectations_from_records(data, [run(parameters={"n": 2}, accuracy={"value": 0.9})]) == [named]
    assert expectations_from_records(data, []) == [named]
    assert expectations_from_records(data, [run(accuracy={"value": None})]) == [named]
    assert expectations_from_records({}, []) == []


@pytest.mark.parametrize(
    ("tolerance", "text"),
    [
        ({"informational": True}, " (informational)"),
        ({"abs": 0.5}, " ± 0.5"),
        ({"rel": 1e-6}, " ± 1e-06 relative"),
        ({"abs": 0, "rel": 0.01}, " ± 0 or ± 0.01 relative"),
        ({}, " exactly"),
    ],
)
def test_a_tolerance_reads_as_words_after_a_value(tolerance, text):
    assert tolerance_text(tolerance) == text
