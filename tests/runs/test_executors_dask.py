"""The ``dask`` executor (reefnb.runs.executors.dask): its settings, checked before anything starts.

Its runs on real LocalClusters (records streamed, workers killed and rescheduled, the solution shipped) are
tested through the sweep in tests/runs/test_sweeps.py."""

from __future__ import annotations

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.runs.executors import RunSink
from reefnb.runs.executors.dask import DaskExecutor
from reefnb.runs.spec import SweepExecution


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
