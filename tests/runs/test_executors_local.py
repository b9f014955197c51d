"""The ``local`` executor (reefnb.runs.executors.local): one job in this process, more in a pool of processes.

Real runs on real kernels: a kernel's parent process tells where its run executed (this process starts the kernels
of an in-process sweep; a pool's worker processes start those of a pooled one)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest
from helpers.solutions import write_solution

import reefnb
from reefnb.common.exceptions import ReefError
from reefnb.runs import processes
from reefnb.runs.executors.local import LocalExecutor, default_jobs
from reefnb.runs.spec import SweepExecution

MANIFEST = {"name": "parents", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
CELL = "import os, reefnb\nreefnb.record('kernel_parent', os.getppid())"


def kernel_parents(records: list[dict]) -> set[int]:
    assert [record["status"] for record in records] == ["ok"] * len(records)
    return {record["metrics"]["kernel_parent"]["value"] for record in records}


def test_one_job_runs_in_this_process_and_more_jobs_in_worker_processes(tmp_path):
    folder = write_solution(tmp_path / "parents", MANIFEST, "a = 1", CELL)
    alone = reefnb.sweep(folder, grid={"a": [1, 2]}, jobs=1, store=False)
    assert kernel_parents(alone) == {os.getpid()}
    pooled = reefnb.sweep(folder, grid={"a": [3, 4]}, jobs=2, store=False)
    assert os.getpid() not in kernel_parents(pooled)


def test_the_jobs_default_to_what_the_machine_allows_and_a_scheduler_is_not_local():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert 1 <= default_jobs() <= cores
    assert LocalExecutor(SweepExecution()).jobs == default_jobs()
    assert LocalExecutor(SweepExecution(jobs=5)).jobs == 5
    with pytest.raises(ReefError, match="the local executor runs on this machine, not on --scheduler local:2"):
        LocalExecutor(SweepExecution(scheduler="local:2", executor="local"))


def _papermill_imported_with_grammars() -> bool:
    """In a worker: import what a run imports (papermill, nbformat, jsonschema); was rfc3987_syntax loaded?"""
    import reefnb.runs.executors.worker  # noqa: F401

    return sys.modules.get("rfc3987_syntax") is not None


def test_pool_workers_import_papermill_without_the_format_checkers_grammars():
    """A pool worker (its initializer, processes.enter_worker) goes without rfc3987_syntax, whose lark grammars
    jsonschema compiles at import: 2 s of CPU in every worker, for a format checker reef does not use."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=processes.enter_worker, initargs=("scope",)) as pool:
        assert pool.submit(_papermill_imported_with_grammars).result() is False
