"""reefnb.frontends.widgets.explorer: explore() over recorded runs, compare() of chosen runs, the chart's patch."""

from __future__ import annotations

import pytest
from helpers.records import sweep_record

from reefnb.common.exceptions import ReefError
from reefnb.frontends.widgets.explorer import FOLLOW_CONTAINER_WIDTH, Comparison, ParetoExplorer, explore
from reefnb.runs.store import default_store


@pytest.fixture
def recorded(reef_home):
    records = [
        sweep_record(index, "random", 1000 * (1 + index), 1.0 + index, 0.2 / (1 + index), "laptop")
        for index in range(4)
    ]
    default_store().add_many(records)
    return records


def test_explore_draws_the_frontier_of_the_ok_runs(recorded):
    explorer = explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    assert isinstance(explorer, ParetoExplorer) and explorer.selected.empty
    assert sorted(explorer.frontier["run_id"]) == sorted(record["run_id"] for record in recorded)
    assert explorer.objectives == {"metric.time_ms": "min", "metric.abs_error": "min"}


def test_compare_named_runs_side_by_side(recorded):
    explorer = explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})
    chosen = [recorded[0]["run_id"], recorded[2]["run_id"]]
    comparison = explorer.compare(chosen)
    assert isinstance(comparison, Comparison) and list(comparison.frame.columns) == chosen
    assert comparison.frame.loc["param.samples"].tolist() == ["1000", "3000"]
    assert "param.samples" in comparison.differences.index and "param.method" not in comparison.differences.index
    with pytest.raises(ReefError, match="no runs selected"):
        explorer.compare(["no-such-run"])


def test_no_ok_run_is_a_reef_error(reef_home):
    default_store().add_many([sweep_record(0, "random", 1000, float("nan"), 0.1, "laptop", status="failed")])
    with pytest.raises(ReefError):
        explore("hello-sweep", objectives={"time_ms": "min", "abs_error": "min"})


def test_the_chart_follows_its_container_width():
    assert [patch["path"] for patch in FOLLOW_CONTAINER_WIDTH] == ["/background", "/signals/0/init", "/signals/0/on"]
    assert "containerSize()[0]" in FOLLOW_CONTAINER_WIDTH[1]["value"]
