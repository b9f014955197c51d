"""Sweeps over parameters x environments: local pool and a real Dask LocalCluster; resumable."""

from __future__ import annotations

import pytest
from helpers.solutions import write_solution

import reefnb
from reefnb.frontends.cli import main
from reefnb.runs.store import Store
from reefnb.runs.sweeps import SweepProgress

MANIFEST = {"name": "grid", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
CELL = (
    "import sys, reefnb\nif a == 3:\n    raise ValueError('a must not be 3')\n"
    "reefnb.record('product', a * len(b))\nreefnb.record('prefix', sys.prefix)"
)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One environment made by `reef env create`, shared by this module's tests (about 7 s)."""
    home = tmp_path_factory.mktemp("sweep-home")
    jupyter = tmp_path_factory.mktemp("sweep-jupyter")
    patch = pytest.MonkeyPatch()
    patch.setenv("REEF_HOME", str(home))
    patch.setenv("JUPYTER_DATA_DIR", str(jupyter))
    patch.setenv("JUPYTER_PATH", str(jupyter))
    assert main(["env", "create", "sweep-env"]) == 0
    patch.undo()
    return home, jupyter


@pytest.fixture
def grid_solution(tmp_path, shared, monkeypatch):
    home, jupyter = shared
    monkeypatch.setenv("REEF_HOME", str(home))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(jupyter))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    return write_solution(tmp_path / "grid", MANIFEST, "a = 1\nb = 'x'", CELL)


def check_grid(records, env_prefix: str) -> None:
    assert len(records) == 8
    seen = {(r["parameters"]["a"], r["parameters"]["b"], r["environment"]["name"]) for r in records}
    assert seen == {(a, b, env) for a in (1, 3) for b in ("x", "yy") for env in ("python3", "sweep-env")}
    for record in records:
        if record["parameters"]["a"] == 3:
            assert record["status"] == "failed" and record["error"]["name"] == "ValueError"
        else:
            assert record["status"] == "ok", record["error"]
            assert record["metrics"]["product"]["value"] == len(record["parameters"]["b"])
            in_env = record["metrics"]["prefix"]["value"].startswith(env_prefix)
            assert in_env == (record["environment"]["name"] == "sweep-env")


@pytest.mark.parametrize(
    "executor",
    [{"jobs": 2}, {"scheduler": "local:2"}, {"scheduler": "local:2", "ship": True}],
    ids=["local-pool", "dask-local-cluster", "dask-shipped"],
)
def test_grid_over_two_environments(grid_solution, tmp_path, executor):
    store = Store(tmp_path / "results.sqlite")
    env_prefix = str(reefnb.reef_home() / "envs" / "sweep-env")
    states: list[SweepProgress] = []
    records = reefnb.sweep(
        grid_solution,
        grid={"a": [1, 3], "b": ["x", "yy"]},
        kernels=["python3", "reef-sweep-env"],
        store=store,
        progress=states.append,
        **executor,
    )
    check_grid(records, env_prefix)
    assert records.executed == 8 and records.skipped == 0
    assert len(store.records()) == 8
    assert states[-1].done == 8 and states[-1].ok == 4 and states[-1].failed == 4 and states[-1].running == 0
    assert max(state.running for state in states) == 2
    for record in records:
        assert (grid_solution / "runs" / record["run_id"] / "main.ipynb").is_file()
        # telemetry sampled beside the kernel on the worker, its series back beside the notebook
        assert record["system"]["samples"] >= 1 and record["system"]["peak_rss_mb"] > 0
        assert (grid_solution / "runs" / record["run_id"] / "telemetry.csv").is_file()
    again = reefnb.sweep(
        grid_solution,
        grid={"a": [1, 3], "b": ["x", "yy"]},
        kernels=["python3", "reef-sweep-env"],
        store=store,
        **executor,
    )
    assert again.executed == 4 and again.skipped == 4  # the ok runs are not repeated; failed ones are retried
    assert len(store.records()) == 12


def test_second_identical_sweep_runs_nothing(grid_solution, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    first = reefnb.sweep(grid_solution, grid={"a": [1, 2], "b": ["x"]}, environments=["sweep-env"], store=store, jobs=1)
    assert [r["status"] for r in first] == ["ok", "ok"] and first.executed == 2
    second = reefnb.sweep(
        grid_solution, grid={"a": [1, 2], "b": ["x"]}, environments=["sweep-env"], store=store, jobs=2
    )
    assert second.executed == 0 and second.skipped == 2
    assert [r["run_id"] for r in second] == [r["run_id"] for r in first]
    assert len(store.records()) == 2
    third = reefnb.sweep(
        grid_solution, grid={"a": [1, 2], "b": ["x"]}, environments=["sweep-env"], store=store, rerun=True
    )
    assert third.executed == 2 and len(store.records()) == 4


def test_a_lost_worker_is_retried(grid_solution, tmp_path):
    """A notebook that kills its own kernel the first time: with --retries the run succeeds."""
    marker = tmp_path / "died-once"
    cell = (
        f"import os, pathlib\nmarker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n    marker.touch()\n    os._exit(9)\nimport reefnb\nreefnb.record('a', a)"
    )
    folder = write_solution(tmp_path / "flaky", {**MANIFEST, "name": "flaky"}, "a = 1\nb = 'x'", cell)
    store = Store(tmp_path / "results.sqlite")
    records = reefnb.sweep(folder, grid={"a": [1]}, retries=1, store=store, jobs=1)
    assert [r["status"] for r in records] == ["ok"]
    assert sorted(r["status"] for r in store.records()) == ["killed", "ok"]


def test_user_errors_before_anything_runs(grid_solution, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    with pytest.raises(reefnb.ParameterError, match="unknown parameter 'c'"):
        reefnb.sweep(grid_solution, grid={"c": [1]}, store=store)
    with pytest.raises(reefnb.ReefError, match="no environment 'nope'"):
        reefnb.sweep(grid_solution, grid={"a": [1]}, environments=["nope"], store=store)
    with pytest.raises(reefnb.ReefError, match="no sweep grid"):
        reefnb.sweep(grid_solution, store=store)
    assert store.records() == [] and not (grid_solution / "runs").exists()


@pytest.mark.parametrize("executor", [{"jobs": 2}, {"scheduler": "local:2"}], ids=["local-pool", "dask-local-cluster"])
def test_a_run_whose_worker_dies_is_rescheduled(grid_solution, tmp_path, executor):
    """The notebook kills the worker process that runs it, once: the run is rescheduled and succeeds."""
    marker = tmp_path / "worker-killed"
    cell = (
        f"import os, pathlib, signal\nmarker = pathlib.Path({str(marker)!r})\n"
        "if a == 2 and not marker.exists():\n    marker.touch()\n    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    import time; time.sleep(30)\nimport reefnb\nreefnb.record('a', a)"
    )
    folder = write_solution(tmp_path / "fragile", {**MANIFEST, "name": "fragile"}, "a = 1\nb = 'x'", cell)
    store = Store(tmp_path / "results.sqlite")
    records = reefnb.sweep(folder, grid={"a": [1, 2, 3]}, store=store, **executor)
    assert marker.exists()
    assert {r["parameters"]["a"]: r["status"] for r in records} == {1: "ok", 2: "ok", 3: "ok"}
    assert [r["metrics"]["a"]["value"] for r in records] == [1, 2, 3]


@pytest.mark.parametrize("executor", [{"jobs": 2}, {"scheduler": "local:2"}], ids=["local-pool", "dask-local-cluster"])
def test_retries_and_fail_fast_reach_the_parallel_executors(tmp_path, executor):
    """A run whose kernel died is tried again (``retries``), and the sweep stops at its first failure
    (``fail_fast``), on a pool and on Dask."""
    marker = tmp_path / "died-once"
    cell = (
        f"import os, pathlib, time\nif a == 1 and not pathlib.Path({str(marker)!r}).exists():\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n    os._exit(9)\n"
        "if a == 3:\n    raise ValueError('a must not be 3')\nif a > 3:\n    time.sleep(2)\n"
        "import reefnb\nreefnb.record('a', a)"
    )
    folder = write_solution(tmp_path / "flaky", {**MANIFEST, "name": "flaky"}, "a = 1\nb = 'x'", cell)
    store = Store(tmp_path / "results.sqlite")
    records = reefnb.sweep(folder, grid={"a": [1, 2]}, retries=1, store=store, **executor)
    assert [(r["parameters"]["a"], r["status"]) for r in records] == [(1, "ok"), (2, "ok")]
    assert sorted(r["status"] for r in store.records()) == ["killed", "ok", "ok"]

    stopped = reefnb.sweep(folder, grid={"a": [3, 4, 5, 6, 7, 8]}, fail_fast=True, store=store, **executor)
    assert [r["status"] for r in stopped if r["parameters"]["a"] == 3] == ["failed"]
    assert len(stopped) < 6  # the slow runs after the failure never ran (or were not waited for)
