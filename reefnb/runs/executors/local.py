"""The ``local`` executor: the runs on this machine, in this process (one job, or one run) or a process pool."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.runs import processes
from reefnb.runs.execute import RunRequest, failure_record
from reefnb.runs.executors import RunSink
from reefnb.runs.executors.worker import Runner, run_in_worker
from reefnb.runs.spec import SweepExecution


def default_jobs() -> int:
    """As many parallel runs as cores, and about 1 GiB of available memory each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            available = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:"))
        return max(1, min(cores, available // 2**30))
    except (OSError, StopIteration, ValueError):
        return max(1, cores)


class LocalExecutor:
    """The runs on this machine: in this process with one job (or one run), else in a pool of ``jobs`` processes
    (default: ``default_jobs``)."""

    def __init__(self, execution: SweepExecution):
        if execution.scheduler:
            raise ReefError(f"sweep: the local executor runs on this machine, not on --scheduler {execution.scheduler}")
        self.jobs, self.fail_fast = execution.jobs or default_jobs(), execution.fail_fast

    def run(self, runs: list[RunRequest], sink: RunSink) -> None:
        if self.jobs == 1 or len(runs) == 1:
            InProcessExecutor().run(runs, sink)
        else:
            PoolExecutor(min(self.jobs, len(runs)), self.fail_fast).run(runs, sink)


class InProcessExecutor:
    """One run after another in this process, each on its own kernel (the next one started ahead)."""

    def run(self, runs: list[RunRequest], sink: RunSink) -> None:
        runner = Runner()
        try:
            queue = [(run, 0) for run in runs]
            while queue and not sink.stopped:
                run, attempt = queue.pop(0)
                sink.running(1)
                record = runner.run(run, start_next=bool(queue))
                if sink.retry_after(run, attempt, record):
                    queue.insert(0, (run, attempt + 1))
        finally:
            runner.close()


class PoolExecutor:
    """Separate processes (papermill changes the working directory, so never threads).

    A pool whose worker process died (out of memory, killed) is replaced, and every run it took down goes
    back in the queue of the new pool, at most twice; after that it is recorded killed.
    """

    def __init__(self, jobs: int, fail_fast: bool = False):
        self.jobs, self.fail_fast = jobs, fail_fast
        self.queue: list[tuple[RunRequest, int]] = []  # (request, attempt)
        self.scope = self.scratch = ""
        self.broken_pools = 0

    def run(self, runs: list[RunRequest], sink: RunSink) -> None:
        self.queue = [(run, 0) for run in runs]
        self.scope = secrets.token_hex(12)  # the kernels of this pool's workers carry it: none outlives the sweep
        # The workers' temporary folder: none outlives the sweep either.
        self.scratch = tempfile.mkdtemp(prefix="reef-sweep-")
        context = multiprocessing.get_context("spawn")
        try:
            while self.queue and not sink.stopped:
                pool = ProcessPoolExecutor(
                    max_workers=self.jobs,
                    mp_context=context,
                    initializer=processes.enter_worker,
                    initargs=(self.scope,),
                )
                try:
                    taken_down = self._use(pool, sink)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                if taken_down is not None and not sink.stopped:
                    self._requeue(taken_down, sink)
        finally:
            processes.end_scope(self.scope)
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _use(self, pool: ProcessPoolExecutor, sink: RunSink) -> list[tuple[RunRequest, int]] | None:
        """Run the queue on ``pool`` until it is empty, the sweep stops, or a worker dies.

        Returns None while the pool works, else the runs it took down (those still running on it included)."""
        running: dict[Any, tuple[RunRequest, int]] = {}
        lost: list[tuple[RunRequest, int]] = []
        while (self.queue or running) and not sink.stopped and not lost:
            if not self._submit(pool, running):
                return []  # broken before anything ran: the queue goes to a new pool
            sink.running(min(len(running), self.jobs))
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                request, attempt = running.pop(future)
                try:
                    record = future.result()["record"]
                except BrokenProcessPool:
                    lost.append((request, attempt))
                    continue
                except Exception as error:  # the worker could not even build a record
                    record = failure_record(request, "failed", error)
                if sink.retry_after(request, attempt, record):
                    self.queue.insert(0, (request, attempt + 1))
        return lost + list(running.values()) if lost else None

    def _submit(self, pool: ProcessPoolExecutor, running: dict) -> bool:
        """Fill the pool from the queue; False when the pool is broken and nothing runs on it.

        Each worker gets its next run before it ends the one it runs (twice as many runs submitted as workers), so
        that it goes on at once instead of waiting for this process to take the record and submit another; with
        ``fail_fast``, one each, so that no run starts after the first one that did not end ok."""
        depth = self.jobs if self.fail_fast else 2 * self.jobs
        while self.queue and len(running) < depth:
            request, attempt = self.queue.pop(0)
            try:
                # Each worker starts the next kernel ahead when more runs wait than workers run.
                future = pool.submit(run_in_worker, request, len(self.queue) >= self.jobs, None, self.scratch)
            except BrokenProcessPool:  # a worker died since the last wait: its runs say so in the next wait
                self.queue.insert(0, (request, attempt))
                return bool(running)
            running[future] = (request, attempt)
        return True

    def _requeue(self, taken_down: list[tuple[RunRequest, int]], sink: RunSink) -> None:
        self.broken_pools += 1
        for request, attempt in taken_down:
            if self.broken_pools <= 2 or sink.may_retry(attempt):
                self.queue.insert(0, (request, attempt + 1))
            else:
                sink.retry_after(request, attempt, failure_record(request, "killed", RuntimeError("its worker died")))
