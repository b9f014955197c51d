"""Sweep executors: where the runs of a sweep execute, and the sink they report each run's record to.

The sweep resolves its runs (``reefnb.runs.sweeps``) and hands those not recorded ok yet to an executor:
``local`` (this process, or a process pool) or ``dask`` (a Dask cluster). Workers execute and return records
(``reefnb.runs.executors.worker``); only the sweep's process writes the store, through the ``RunSink``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reefnb.common.exceptions import RecordPending, ReefError
from reefnb.runs.execute import RunRequest

if TYPE_CHECKING:
    from reefnb.runs.store import Store

# A run that ended like this may succeed on another try: the kernel died or never started.
RETRYABLE = ("killed",)


@dataclass(frozen=True)
class SweepExecution:
    """Where and how a sweep executes its runs (``sweep``'s keywords of that kind, checked)."""

    jobs: int | None = None  # parallel runs on this machine (None: what cores and memory allow)
    scheduler: str | None = None  # a Dask scheduler: tcp://HOST:PORT, or local:N
    retries: int = 0  # further tries of a run whose kernel died
    fail_fast: bool = False  # stop at the first run that does not end ok
    rerun: bool = False  # run again the points already recorded ok
    ship: bool | None = None  # send the solution folder to Dask workers (None: for tcp:// and tls:// schedulers)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ReefError(f"sweep: retries must be 0 or more, got {self.retries}")
        if self.jobs is not None and self.jobs < 1:
            raise ReefError(f"sweep: jobs must be 1 or more, got {self.jobs}")


def executor_for(execution: SweepExecution, pending: int):
    """Where ``pending`` runs execute: a Dask cluster, this process (one job or one run), or a local process pool."""
    from reefnb.runs.executors.dask import DaskExecutor
    from reefnb.runs.executors.local import InProcessExecutor, PoolExecutor, default_jobs

    if execution.scheduler:
        scheduler = execution.scheduler
        return DaskExecutor(
            scheduler, execution.ship if execution.ship is not None else scheduler.startswith(("tcp://", "tls://"))
        )
    jobs = execution.jobs or default_jobs()
    if jobs == 1 or pending == 1:
        return InProcessExecutor()
    return PoolExecutor(min(jobs, pending), execution.fail_fast)


class RunSink:
    """What a sweep's executor does with each record: store it, tell the tracker and ``on_record``, and say
    whether its run goes again (its kernel died and retries are left) or the sweep stops (``fail_fast``)."""

    def __init__(
        self,
        execution: SweepExecution,
        tracker: Any,
        target: Store | None,
        on_record: Callable[[dict], None] | None,
    ):
        self.execution, self.tracker, self.target, self.on_record = execution, tracker, target, on_record
        self.by_key: dict[str, dict] = {}  # each run's last record
        self.stop = False
        self.pending: list[str] = []  # run ids of the records the store could not take (kept beside it)

    def report(self, record: dict) -> None:
        if self.target is not None:
            try:
                self.target.add(record)
            except RecordPending:  # kept beside the store: the sweep goes on, and says so once at its end
                self.pending.append(str(record["run_id"]))
        self.tracker.finished(record)
        if self.on_record is not None:
            self.on_record(record)

    def still_pending(self) -> list[str]:
        """The run ids of the records kept beside the store that are there still (a later write that got the lock
        added those kept before it)."""
        if self.target is None:
            return []
        folder = self.target.pending_folder
        return [run_id for run_id in self.pending if (folder / f"{run_id}.json").is_file()]

    def take(self, request: RunRequest, attempt: int, record: dict) -> bool:
        """Report the record of a run's try number ``attempt``; True when the run is to be tried again."""
        self.report(record)
        if attempt < self.execution.retries and record["status"] in RETRYABLE:
            return True
        self.by_key[request.key] = record
        if self.execution.fail_fast and record["status"] != "ok":
            self.stop = True
        return False
