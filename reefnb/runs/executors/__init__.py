"""Sweep executors: where the runs of a sweep execute, as plugins, and the sink they hand each record to.

The sweep (``reefnb.runs.sweeps``) resolves its runs, keeps those not recorded ok yet, and hands them to one
executor, picked by name among the entry points of the group ``reefnb.executors`` (``EXECUTOR_GROUP``), as
papermill picks its engines: ``local`` (this process, or a local process pool; the default) and ``dask`` (a
Dask cluster; the default when the sweep names a scheduler) come with reef; another distribution adds its own::

    [project.entry-points."reefnb.executors"]
    slurm = "reef_slurm:SlurmExecutor"

An executor is what ``Executor`` says. Its runs execute with ``reefnb.runs.executors.worker.run_in_worker``,
wherever the executor sends them; every record comes back to the sweep's process, to the ``RunSink``: only that
process writes the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from reefnb.common.exceptions import EnvironmentFailure, RecordPending, ReefError
from reefnb.common.plugins import entry_point_values, load_object
from reefnb.runs.execute import RunRequest
from reefnb.runs.spec import SweepExecution

if TYPE_CHECKING:
    from reefnb.runs.store import Store

# The entry point group of executors: name = "module:class" (a callable taking the sweep's SweepExecution).
EXECUTOR_GROUP = "reefnb.executors"
# A run that ended like this may succeed on another try: the kernel died or never started.
RETRYABLE = ("killed",)


class SweepTracker(Protocol):
    """What the sink tells as runs start and end (the sweep's progress)."""

    def running_now(self, count: int) -> None: ...

    def finished(self, record: dict) -> None: ...


class RunSink:
    """Where an executor hands each run's record, in the sweep's process.

    The sink stores the record (when the sweep has a store), tells the sweep's progress and ``on_record``, and
    says whether the run goes again (its kernel died and ``retries`` are left) or the sweep stops (``fail_fast``
    and a run that did not end ok). An executor uses ``retry_after``, ``running``, ``stopped`` and ``may_retry``;
    the sweep reads ``by_key`` and ``still_pending`` when the executor is done.
    """

    def __init__(
        self,
        execution: SweepExecution,
        tracker: SweepTracker,
        target: Store | None,
        on_record: Callable[[dict], None] | None,
    ):
        self.execution, self.tracker, self.target, self.on_record = execution, tracker, target, on_record
        self.by_key: dict[str, dict] = {}  # each run's last record, by its key
        self.stopped = False  # True once fail_fast met a run that did not end ok: start no other run
        self.pending: list[str] = []  # run ids of the records the store could not take (kept beside it)

    def retry_after(self, run: RunRequest, attempt: int, record: dict) -> bool:
        """Take the record of try number ``attempt`` (0 first) of ``run``; True when the run is to be tried again.

        Every try's record is stored (a killed try too); the last one is the run's. With ``fail_fast``, a last
        record that is not ok sets ``stopped``."""
        self._report(record)
        if self.may_retry(attempt) and record["status"] in RETRYABLE:
            return True
        self.by_key[run.key] = record
        if self.execution.fail_fast and record["status"] != "ok":
            self.stopped = True
        return False

    def may_retry(self, attempt: int) -> bool:
        """Whether a run whose try number ``attempt`` was lost may be tried again (``retries`` left)."""
        return attempt < self.execution.retries

    def running(self, count: int) -> None:
        """Say how many runs execute now (the sweep's progress and its estimate of the time left)."""
        self.tracker.running_now(count)

    def still_pending(self) -> list[str]:
        """The run ids of the records kept beside the store that are there still (a later write that got the lock
        added those kept before it)."""
        if self.target is None:
            return []
        folder = self.target.pending_folder
        return [run_id for run_id in self.pending if (folder / f"{run_id}.json").is_file()]

    def _report(self, record: dict) -> None:
        if self.target is not None:
            try:
                self.target.add(record)
            except RecordPending:  # kept beside the store: the sweep goes on, and says so once at its end
                self.pending.append(str(record["run_id"]))
        self.tracker.finished(record)
        if self.on_record is not None:
            self.on_record(record)


@runtime_checkable
class Executor(Protocol):
    """A sweep executor: a plugin registered under the entry point group ``reefnb.executors``.

    The entry point names a class (or any callable) that the sweep calls with its ``SweepExecution``
    (``reefnb.runs.spec``: ``jobs``, ``scheduler``, ``retries``, ``fail_fast``, ``ship``, ``executor``) before
    anything runs: raise ``ReefError`` there for a setting it cannot use. The sweep then calls ``run`` once, in
    its own process.
    """

    def run(self, runs: list[RunRequest], sink: RunSink) -> None:
        """Execute every run in ``runs`` and hand each record to ``sink``; return when all are done.

        ``runs`` are resolved and checked (``RunRequest``: frozen and picklable, ``key`` tells them apart).
        Execute each where it suits (``worker.run_in_worker(run, start_next)`` runs one where it is called and
        returns ``{"record": ...}``; a run that cannot even start gets ``execute.failure_record``). For each
        record call ``sink.retry_after(run, attempt, record)`` (``attempt``: 0, then 1, ...) and try the run
        again when it returns True. Start no run once ``sink.stopped``; call ``sink.running(count)`` as the
        number of runs executing changes. Raise ``ReefError`` when the runs cannot be executed at all (a
        scheduler out of reach); clean up what was started, whatever happens."""
        ...


def executor_names() -> list[str]:
    """The names of the executors the installed distributions register (``local`` and ``dask`` with reef)."""
    return sorted({name for name, _ in entry_point_values(EXECUTOR_GROUP)})


def executor_name(execution: SweepExecution) -> str:
    """The executor a sweep uses: the one it names, else ``dask`` with a scheduler, else ``local``."""
    return execution.executor or ("dask" if execution.scheduler else "local")


def executor_for(execution: SweepExecution) -> Executor:
    """The executor ``execution`` names (``executor_name``), made from its entry point.

    Raises ``ReefError`` (wrong input) when no installed distribution registers that name, ``EnvironmentFailure``
    when its plugin cannot be imported or makes no executor, and what the executor raises for settings it cannot
    use."""
    name, value = registered_executor(execution)
    try:
        make = load_object(value)
    except Exception as error:  # a plugin's import: any error, said in one line
        raise EnvironmentFailure(
            f"sweep: executor {name} = {value} cannot be loaded: {type(error).__name__}: {error}"
        ) from error
    executor = make(execution)
    if not isinstance(executor, Executor):
        raise EnvironmentFailure(f"sweep: executor {name} = {value} made {type(executor).__name__}, which has no run()")
    return executor


def registered_executor(execution: SweepExecution) -> tuple[str, str]:
    """The name of the executor ``execution`` names and its entry point's value (``module:Class``), nothing imported:
    checked before a sweep looks at its points, so a wrong name is said even when every point was recorded before.
    ``ReefError`` (wrong input) naming the registered executors when no installed distribution registers it."""
    name = executor_name(execution)
    values = [value for entry, value in entry_point_values(EXECUTOR_GROUP) if entry == name]
    if not values:
        known = ", ".join(executor_names()) or "none"
        raise ReefError(f"sweep: no executor {name!r} (entry point group {EXECUTOR_GROUP}); registered: {known}")
    return name, values[0]
