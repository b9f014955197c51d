"""The ``dask`` executor (reefnb.runs.executors.dask): its settings, checked before anything starts; records streamed
as each run ends, and workers that start without what reef does not use, on real LocalClusters.

Sweeps over a grid on it (workers killed and rescheduled, retries and fail_fast, the solution shipped) are tested
beside the local executor's in tests/runs/test_sweeps.py."""

from __future__ import annotations

import sys
from datetime import datetime

import pytest
from helpers.solutions import write_solution

import reefnb
from reefnb.common.exceptions import ReefError
from reefnb.runs.executors import RunSink
from reefnb.runs.executors.dask import LOCAL_CLUSTER, DaskExecutor
from reefnb.runs.spec import SweepExecution
from reefnb.runs.store import Store


def test_the_dask_executor_needs_a_scheduler():
    with pytest.raises(ReefError, match="the dask executor needs --scheduler"):
        DaskExecutor(SweepExecution(executor="dask"))


def test_the_solution_is_shipped_to_remote_schedulers_unless_told():
    assert DaskExecutor(SweepExecution(scheduler="tcp://10.0.0.1:8786")).ship is True
    assert DaskExecutor(SweepExecution(scheduler="tls://cluster:8786")).ship is True
    assert DaskExecutor(SweepExecution(scheduler="local:2")).ship is False
    assert DaskExecutor(SweepExecution(scheduler="tcp://10.0.0.1:8786", ship=False)).ship is False
    assert DaskExecutor(SweepExecution(scheduler="local:2", ship=True)).ship is True


def test_a_local_cluster_needs_a_number_of_workers():
    """Refused before any cluster starts (the error comes from run, which connects)."""
    pytest.importorskip("distributed")
    execution = SweepExecution(scheduler="local:many")
    sink = RunSink(execution, tracker=None, target=None, on_record=None)  # nothing runs: nothing is told
    with pytest.raises(ReefError, match="--scheduler local:many: expected local:N with N a number of workers"):
        DaskExecutor(execution).run([], sink)


def test_dask_records_reach_the_store_as_each_run_finishes(tmp_path):
    """A quick run's record is in the store (and handed to on_record) while a slow run of the same sweep still runs.

    The slow run waits until on_record has had the quick run's record (at most 120 s): no fixed sleep, and a sweep
    that gathered its records at the end would hand both over after the slow run ended."""
    handed_over = tmp_path / "quick-run-handed-over"
    solution = write_solution(
        tmp_path / "naps",
        {"name": "naps", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "slow = 0",
        f"import pathlib, time, reefnb\nhanded_over, start = pathlib.Path({str(handed_over)!r}), time.monotonic()\n"
        "while slow and not handed_over.exists() and time.monotonic() - start < 120:\n"
        "    time.sleep(0.05)\nreefnb.record('slow', slow)",
    )
    store = Store(tmp_path / "results.sqlite")
    arrivals = []

    def on_record(record):
        arrivals.append(
            (datetime.now().astimezone(), record["parameters"]["slow"], store.get(record["run_id"]) is not None)
        )
        handed_over.touch()

    records = reefnb.sweep(solution, grid={"slow": [0, 1]}, scheduler="local:2", store=store, on_record=on_record)
    assert sorted(record["status"] for record in records) == ["ok", "ok"] and len(arrivals) == 2
    (quick_at, quick, quick_stored), (_, slow, _) = arrivals
    slow_ended = datetime.fromisoformat(
        next(record["ended"] for record in records if record["parameters"]["slow"] == 1)
    )
    assert (quick, slow) == (0, 1) and quick_stored
    assert quick_at < slow_ended  # streamed as it finished, not gathered at the end


def _papermill_imported_with_grammars() -> bool:
    """In a worker: import what a run imports (papermill, nbformat, jsonschema); was rfc3987_syntax loaded?"""
    import reefnb.runs.executors.worker  # noqa: F401

    return sys.modules.get("rfc3987_syntax") is not None


def test_local_cluster_workers_import_papermill_without_the_format_checkers_grammars():
    """A local:N Dask worker (its preload, LOCAL_CLUSTER) goes without rfc3987_syntax, whose lark grammars jsonschema
    compiles at import: 2 s of CPU in every worker, for a format checker reef does not use."""
    import dask.distributed

    with (
        dask.distributed.LocalCluster(n_workers=1, **LOCAL_CLUSTER) as cluster,
        dask.distributed.Client(cluster) as client,
    ):
        assert client.submit(_papermill_imported_with_grammars, pure=False).result() is False
