"""Sweeps: a workflow run at every point of parameters x environments, in parallel, resumable.

Each run is a papermill execution on a fresh kernel. Where the runs execute is an executor's work
(``reefnb.runs.executors``: in this process or a local process pool, or a Dask cluster with
``scheduler``). Workers execute and return records; only this process writes the store.
A run whose key (notebook sha256, parameters, environment) is already recorded ok is skipped unless ``rerun``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import RecordPending, ReefError
from reefnb.runs.execute import RunRequest, prepare, target_store
from reefnb.runs.executors import RunSink, executor_for, registered_executor
from reefnb.runs.spec import StoreTarget, SweepExecution, SweepSpec
from reefnb.runs.store import Store
from reefnb.solution.manifest import Solution, open_solution

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands, sent to the ``progress`` callback after every change."""

    total: int
    done: int
    ok: int
    failed: int
    running: int
    skipped: int
    elapsed_s: float
    eta_s: float | None
    last: dict | None = None


class SweepResult(list):
    """The sweep's records in grid order (skipped points give their earlier ok record); ``pending``: the run ids of
    its records that the store could not take, still kept beside it (``Store.pending_folder``) when the sweep ended."""

    def __init__(self, records: list[dict], skipped: int, executed: int, pending: list[str] | None = None):
        super().__init__(records)
        self.skipped = skipped
        self.executed = executed
        self.pending = pending or []


def grid_problem(grid: dict[str, Any]) -> str | None:
    """What is wrong with a sweep grid, as ``/NAME: ...`` for the first name whose values are not a non-empty
    list; None when every one is (the one rule for ``reefnb.sweep``, ``--grid FILE`` and the manifest's grids)."""
    for name, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            return f"/{name}: expected a non-empty list of values"
    return None


def grid_points(grid: dict[str, list]) -> Iterator[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order (the first name varies slowest)."""
    names = list(grid)
    problem = grid_problem(grid)
    if problem is not None:
        raise ReefError(f"sweep: {problem}")
    for values in itertools.product(*(grid[name] for name in names)):
        yield dict(zip(names, values, strict=True))


def plan_sweep(spec: SweepSpec) -> list[RunRequest]:
    """Every run of the sweep, resolved and checked before anything executes (duplicates dropped).

    Each point's ``RunSpec`` is the sweep's, with the point's parameters over its fixed ones and the point's
    environment or kernel (the solution opened once for all of them).
    """
    source = spec.run.solution
    solution = source if isinstance(source, Solution) else open_solution(source)
    workflow = solution.workflow(spec.run.workflow)
    grid = spec.grid if spec.grid is not None else workflow.sweep
    targets = spec.targets
    if not grid and len(targets) < 2:
        where = solution.manifest_path or solution.path
        raise ReefError(f"{where}: /workflows/{workflow.name}/sweep: no sweep grid given or declared")
    requests, seen, known = [], set(), {}  # known: the notebook and kernel specs, read once for every point
    for point in grid_points(grid or {}):
        for environment, kernel in targets:
            point_spec = dataclasses.replace(
                spec.run,
                solution=solution,
                parameters={**spec.run.parameters, **point},
                environment=environment,
                kernel=kernel,
            )
            request = prepare(point_spec, known)
            if request.key not in seen:
                seen.add(request.key)
                requests.append(request)
    return requests


def sweep(
    solution: Solution | str | Path,
    workflow: str = "run",
    grid: dict[str, list] | None = None,
    parameters: dict[str, Any] | None = None,
    environments: list[str] | None = None,
    kernels: list[str] | None = None,
    *,
    progress: Callable[[SweepProgress], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
    store: StoreTarget = True,
    **options: Any,
) -> SweepResult:
    """Run ``workflow`` at every point of ``grid`` x (``environments`` or ``kernels``).

    Every run is resolved and checked before anything executes (duplicates dropped). A run whose
    key (notebook sha256, parameters, environment) is already recorded ok is skipped unless
    ``rerun``. A run that fails in its notebook is recorded and the sweep goes on, unless
    ``fail_fast``. Each run's processes are sampled where they run (``reefnb.runs.telemetry``)
    unless ``telemetry`` is False.

    Parameters
    ----------
    solution
        The solution, as ``reefnb.run`` takes it (a folder, a manifest or a notebook too).
    workflow
        The workflow run at every point.
    grid
        Parameter name -> list of values; the runs are their cartesian product. Defaults to the
        workflow's ``sweep`` section.
    parameters
        Parameter values fixed for every run.
    environments
        Reef environments to run every point in (not with ``kernels``).
    kernels
        Kernels to run every point on (not with ``environments``).
    progress
        Called with a ``SweepProgress`` (where the sweep stands) after every change.
    on_record
        Called with each run's record as it comes.
    store
        Where the records are written: True, the default store; a ``Store``; False, not stored (and
        nothing is skipped).
    **options
        How the runs execute, fields of ``reefnb.SweepExecution`` (``jobs``, ``scheduler``, ``retries``,
        ``fail_fast``, ``rerun``, ``ship``, ``executor``), and each run's options, fields of ``reefnb.RunSpec`` as
        ``reefnb.run`` takes them (``timeout``, ``telemetry``, ``max_output``...; ``kernel`` and ``environment``:
        the one kernel or environment when ``kernels`` or ``environments`` is not given).

    Returns
    -------
    SweepResult
        The records in grid order (skipped points give their earlier ok record), a list with
        ``skipped`` and ``executed`` counts.

    Raises
    ------
    ReefError
        When the sweep cannot start: no grid given or declared (and fewer than two environments or
        kernels), both environments and kernels, a grid whose values are not non-empty lists, bad
        ``jobs`` or ``retries``, or any mistake ``reefnb.run`` would find in one of the runs.
    RecordPending
        When the sweep has run every point but the store could not take some of its records (locked by
        another process past ``$REEF_STORE_WAIT``, read-only): they are kept beside the store and added
        when it is next opened; the one line says how many and where, and its ``records`` is the
        ``SweepResult``.
    TypeError
        For a keyword that is no field of ``RunSpec``, ``SweepSpec`` or ``SweepExecution``.
    """
    spec = SweepSpec.from_options(
        solution=solution,
        workflow=workflow,
        grid=grid,
        parameters=parameters or {},
        environments=environments,
        kernels=kernels,
        **options,
    )
    return sweep_from_spec(spec, store=store, progress=progress, on_record=on_record)


def sweep_from_spec(
    spec: SweepSpec,
    store: StoreTarget = True,
    progress: Callable[[SweepProgress], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> SweepResult:
    """Run the sweep that ``spec`` asks for, as ``sweep`` does (which makes the spec from its keywords); ``store``,
    ``progress`` and ``on_record`` as there."""
    requests = plan_sweep(spec)
    target = target_store(store)
    result = _run_sweep(requests, spec.execution, target, progress, on_record)
    if result.pending and target is not None:
        raise _pending_error(result, target)
    return result


def _pending_error(result: SweepResult, target: Store) -> RecordPending:
    """One line: how many of the sweep's records wait beside the store, and where; ``records``: the sweep's result."""
    count = len(result.pending)
    which = "the record of run " + result.pending[0] if count == 1 else f"{count} run records of this sweep"
    error = RecordPending(
        f"{target.path}: could not be written: {which} wait in {target.pending_folder}, "
        "added when the store is next opened"
    )
    error.records = result  # type: ignore[attr-defined]  # the records all the same (the CLI's summary, an API caller)
    return error


def _run_sweep(
    requests: list[RunRequest],
    execution: SweepExecution,
    target: Store | None,
    progress: Callable[[SweepProgress], None] | None,
    on_record: Callable[[dict], None] | None,
) -> SweepResult:
    """Execute the requests not recorded ok in ``target`` before (all of them with ``rerun``); records in grid order."""
    registered_executor(execution)  # a wrong --executor is said even when no point is left to run
    done_before = (
        {} if execution.rerun or target is None else target.records_by_key([request.key for request in requests])
    )
    pending = [request for request in requests if request.key not in done_before]
    records = RunSink(execution, _Tracker(len(requests), len(requests) - len(pending), progress), target, on_record)
    if pending:
        executor_for(execution).run(pending, records)
    executed = records.by_key
    in_order = [done_before.get(request.key) or executed.get(request.key) for request in requests]
    return SweepResult(
        [record for record in in_order if record is not None],
        skipped=len(requests) - len(pending),
        executed=sum(1 for request in pending if request.key in executed),
        pending=records.still_pending(),
    )


class _Tracker:
    def __init__(self, total: int, skipped: int, callback):
        self.total, self.skipped, self.callback = total, skipped, callback
        self.ok = self.failed = self.running = 0
        self.started = time.monotonic()
        self.durations: list[float] = []
        self.concurrency = 1
        self.emit()

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def running_now(self, count: int) -> None:
        self.running = count
        self.concurrency = max(self.concurrency, count)
        self.emit()

    def finished(self, record: dict) -> None:
        if record["status"] == "ok":
            self.ok += 1
        else:
            self.failed += 1
        self.durations.append(record["duration_s"])
        self.running = max(0, self.running - 1)
        self.emit(record)

    def emit(self, last: dict | None = None) -> None:
        if self.callback is None:
            return
        remaining = self.total - self.skipped - self.done
        elapsed = time.monotonic() - self.started
        eta = None
        if self.durations:
            eta = remaining * (sum(self.durations) / len(self.durations)) / max(1, self.concurrency)
        self.callback(
            SweepProgress(
                self.total,
                self.done,
                self.ok,
                self.failed,
                self.running,
                self.skipped,
                round(elapsed, 3),
                None if eta is None else round(eta, 1),
                last,
            )
        )
