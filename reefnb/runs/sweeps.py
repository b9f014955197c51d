"""Sweeps: a workflow run at every point of parameters x environments, in parallel, resumable.

Each run is a papermill execution on a fresh kernel. Executors: in this process (one job), a
local process pool (default), or a Dask cluster (``scheduler``). Workers execute and return
records; only this process writes the store. A run whose key (notebook sha256, parameters,
environment) is already recorded ok is skipped unless ``rerun``.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import io
import itertools
import logging
import multiprocessing
import multiprocessing.util
import os
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import RecordPending, ReefError
from reefnb.provision.artifacts import unpack_archive
from reefnb.runs import processes
from reefnb.runs.execute import (
    RunRequest,
    execute_run,
    failure_record,
    kernel_alive,
    load_run,
    prepare_run,
    shutdown_kernel,
    start_kernel,
)
from reefnb.runs.store import Store, default_store
from reefnb.solution.confinement import resolve_inside
from reefnb.solution.manifest import Solution, open_solution

log = logging.getLogger(__name__)

# A run that ended like this may succeed on another try: the kernel died or never started.
RETRYABLE = ("killed",)
# A local:N cluster's workers: one run at a time each, no dashboard, and processes.dask_setup as each starts
# (the preload), before a task imports papermill.
LOCAL_CLUSTER = {"threads_per_worker": 1, "processes": True, "dashboard_address": None, "preload": [processes.__name__]}


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


def default_jobs() -> int:
    """As many parallel runs as cores, and about 1 GiB of available memory each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            available = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:"))
        return max(1, min(cores, available // 2**30))
    except (OSError, StopIteration, ValueError):
        return max(1, cores)


def plan_sweep(
    solution: Solution | str | Path,
    workflow: str = "run",
    grid: dict[str, list] | None = None,
    parameters: dict[str, Any] | None = None,
    environments: list[str] | None = None,
    kernels: list[str] | None = None,
    timeout: float | None = None,
    telemetry: bool | None = None,
) -> list[RunRequest]:
    """Every run of the sweep, resolved and checked before anything executes (duplicates dropped)."""
    solution = solution if isinstance(solution, Solution) else open_solution(solution)
    chosen = solution.workflow(workflow)
    grid = grid if grid is not None else chosen.sweep
    if environments and kernels:
        raise ReefError("sweep: give environments or kernels, not both")
    targets: list[tuple[str | None, str | None]] = [(name, None) for name in environments or []]
    targets += [(None, name) for name in kernels or []]
    targets = targets or [(None, None)]
    if not grid and len(targets) < 2:
        where = solution.manifest_path or solution.path
        raise ReefError(f"{where}: /workflows/{chosen.name}/sweep: no sweep grid given or declared")
    requests, seen, known = [], set(), {}  # known: the notebook and kernel specs, read once for every point
    for point in grid_points(grid or {}):
        for environment, kernel in targets:
            point_parameters = {**(parameters or {}), **point}
            request = prepare_run(
                solution,
                chosen.name,
                point_parameters,
                kernel=kernel,
                timeout=timeout,
                environment=environment,
                telemetry=telemetry,
                known=known,
            )
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
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    fail_fast: bool = False,
    rerun: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
    store: Any = True,
    ship: bool | None = None,
    kernel: str | None = None,
    environment: str | None = None,
    telemetry: bool | None = None,
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
    jobs
        Parallel runs on this machine (default: what cores and memory allow).
    scheduler
        ``tcp://HOST:PORT`` (an existing Dask cluster) or ``local:N`` (a Dask LocalCluster of N workers).
    timeout
        Seconds for each run (default: the workflow's ``timeout``).
    retries
        Further tries of a run whose kernel died.
    fail_fast
        Stop at the first run that does not end ok.
    rerun
        Run again the points already recorded ok.
    progress
        Called with a ``SweepProgress`` (where the sweep stands) after every change.
    on_record
        Called with each run's record as it comes.
    store
        Where the records are written: True, the default store; a ``Store``; False, not stored (and
        nothing is skipped).
    ship
        Send the solution folder to Dask workers (default: for tcp:// and tls:// schedulers).
    kernel
        The one kernel to run on, when ``kernels`` is not given.
    environment
        The one environment to run in, when ``environments`` is not given.
    telemetry
        False: the runs' processes are not sampled.

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
    """
    execution = SweepExecution(
        jobs=jobs, scheduler=scheduler, retries=retries, fail_fast=fail_fast, rerun=rerun, ship=ship
    )
    environments = environments or ([environment] if environment else None)
    kernels = kernels or ([kernel] if kernel else None)
    requests = plan_sweep(solution, workflow, grid, parameters, environments, kernels, timeout, telemetry)
    target = store if isinstance(store, Store) else (default_store() if store is not False else None)
    result = _run_sweep(requests, execution, target, progress, on_record)
    if result.pending and target is not None:
        raise _pending_error(result, target)
    return result


def _pending_error(result: SweepResult, target: Store) -> RecordPending:
    """One line: how many of the sweep's records wait beside the store, and where; ``records``: the sweep's result."""
    count = len(result.pending)
    which = "the record of run " + result.pending[0] if count == 1 else f"{count} run records of this sweep"
    error = RecordPending(
        f"{target.path}: could not be written: {which} wait in {target.pending_folder}, added when the store is next opened"
    )
    error.records = result  # type: ignore[attr-defined]  # the records all the same (the CLI's summary, an API caller)
    return error


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


def _run_sweep(
    requests: list[RunRequest],
    execution: SweepExecution,
    target: Store | None,
    progress: Callable[[SweepProgress], None] | None,
    on_record: Callable[[dict], None] | None,
) -> SweepResult:
    """Execute the requests not recorded ok in ``target`` before (all of them with ``rerun``); records in grid order."""
    done_before = (
        {} if execution.rerun or target is None else target.records_by_key([request.key for request in requests])
    )
    pending = [request for request in requests if request.key not in done_before]
    records = _Records(execution, _Tracker(len(requests), len(requests) - len(pending), progress), target, on_record)
    if pending:
        _executor(execution, len(pending)).run(pending, records)
    executed = records.by_key
    in_order = [done_before.get(request.key) or executed.get(request.key) for request in requests]
    return SweepResult(
        [record for record in in_order if record is not None],
        skipped=len(requests) - len(pending),
        executed=sum(1 for request in pending if request.key in executed),
        pending=records.still_pending(),
    )


def _executor(execution: SweepExecution, pending: int):
    """Where ``pending`` runs execute: a Dask cluster, this process (one job or one run), or a local process pool."""
    if execution.scheduler:
        scheduler = execution.scheduler
        return _DaskExecutor(
            scheduler, execution.ship if execution.ship is not None else scheduler.startswith(("tcp://", "tls://"))
        )
    jobs = execution.jobs or default_jobs()
    if jobs == 1 or pending == 1:
        return _InProcessExecutor()
    return _PoolExecutor(min(jobs, pending), execution.fail_fast)


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


class _Records:
    """What a sweep's executor does with each record: store it, tell the tracker and ``on_record``, and say
    whether its run goes again (its kernel died and retries are left) or the sweep stops (``fail_fast``)."""

    def __init__(
        self,
        execution: SweepExecution,
        tracker: _Tracker,
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


# --- the part that runs where the notebook runs (this process, a pool worker, a Dask worker) ---


class _Runner:
    """Executes runs one after another, starting the next run's kernel while one executes."""

    def __init__(self):
        self.waiting: dict[tuple[str, str], tuple[Any, Path]] = {}
        self._scratch: Path | None = None  # kernel logs of kernels started ahead, shipped solutions: removed by close()
        self.loaded: dict[
            tuple[str, str, str], tuple[tuple, Any]
        ] = {}  # what the runs of a notebook execute, read once

    @property
    def scratch(self) -> Path:
        if self._scratch is None or not self._scratch.is_dir():  # none yet, or removed with its sweep's folder
            self._scratch = Path(tempfile.mkdtemp(prefix="reef-kernels-"))
        return self._scratch

    def run(self, request: RunRequest, start_next: bool) -> dict:
        loaded = self._load(request)
        slot = (request.kernel, str(loaded.workflow.notebook.parent))
        manager, log_path = self.waiting.pop(slot, (None, None))
        if manager is not None and not kernel_alive(manager):
            manager, log_path = None, None
        if start_next:
            self._start(slot)
        return execute_run(request, store=False, kernel_manager=manager, kernel_log=log_path, loaded=loaded)

    def _load(self, request: RunRequest):
        """The solution, notebook and kernel spec the run executes (``load_run``), read again only when the
        manifest or the notebook changed since this worker last read them."""
        key = (request.source, request.workflow, request.kernel)
        stamp, loaded = self.loaded.get(key, (None, None))
        if loaded is None or stamp != _stamp(Path(request.source), loaded.workflow.notebook):
            loaded = load_run(request)
            self.loaded[key] = (_stamp(Path(request.source), loaded.workflow.notebook), loaded)
        return loaded

    def _start(self, slot: tuple[str, str]) -> None:
        log_path = self.scratch / f"kernel-{len(os.listdir(self.scratch))}-{time.monotonic_ns()}.log"
        try:
            self.waiting[slot] = (start_kernel(slot[0], slot[1], log_path), log_path)
        except Exception as error:  # the run itself will start (and report) its kernel
            log.debug("could not start a kernel ahead: %s", error)

    def close(self) -> None:
        for manager, _ in self.waiting.values():
            shutdown_kernel(manager)
        self.waiting.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _stamp(*paths: Path) -> tuple:
    """What tells that files changed: their size and modification time (None for one that is gone)."""
    stamps = []
    for path in paths:
        try:
            status = path.stat()
            stamps.append((status.st_size, status.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


_runner: _Runner | None = None


def _worker_runner() -> _Runner:
    global _runner
    if _runner is None:
        _runner = _Runner()
        multiprocessing.util.Finalize(None, _runner.close, exitpriority=10)
        atexit.register(_runner.close)
    return _runner


def _run_in_worker(
    request: RunRequest, start_next: bool, bundle: bytes | None = None, scratch: str | None = None
) -> dict:
    """A worker's task: run, and return the record (and the output files when shipped).

    ``scratch``: the sweep's temporary folder, which the sweep removes when it ends, whatever happened
    to its workers (a worker killed leaves its kernel's socket folder behind): this worker's temporary
    files, and its kernels', go there."""
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    if scratch is not None and os.path.isdir(scratch):
        os.environ["TMPDIR"] = scratch
        tempfile.tempdir = None  # gettempdir() caches its answer
    if bundle is None:
        return {"record": _worker_runner().run(request, start_next)}
    folder = _unpack_bundle(bundle, _worker_runner().scratch)
    local = dataclasses.replace(request, source=str(folder / Path(request.source).name))
    record = _worker_runner().run(local, start_next)
    run_folder = Path(record["notebook"]["output_path"]).parent
    files = {
        path.relative_to(run_folder).as_posix(): path.read_bytes()
        for path in run_folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
    return {"record": record, "files": files}


def _bundle(request: RunRequest) -> bytes:
    """The solution folder as a zip (no runs/, no .git), for workers without a shared disk."""
    source = Path(request.source)
    folder = source.parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if (
                path.is_file()
                and not path.is_symlink()
                and parts[0] not in ("runs", ".git")
                and "__pycache__" not in parts
            ):
                archive.write(path, Path(*parts).as_posix())
    return buffer.getvalue()


def _unpack_bundle(bundle: bytes, scratch: Path) -> Path:
    digest = hashlib.sha256(bundle).hexdigest()[:16]
    folder = scratch / "shipped" / digest
    if not (folder / ".complete").exists():
        archive = folder.parent / f"{digest}.zip"
        folder.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(bundle)
        unpack_archive(archive, folder)
        (folder / ".complete").touch()
    return folder


def _land_files(request: RunRequest, outcome: dict) -> dict:
    """Write shipped output files into this machine's solution folder; fix the record's paths."""
    record = outcome["record"]
    files = outcome.get("files")
    if not files:
        return record
    folder = Path(request.source).parent
    run_folder = folder / "runs" / record["run_id"]
    run_folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():  # the executed notebook, kernel.log, files/ the run attached
        target = resolve_inside(run_folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    output_name = Path(record["notebook"]["output_path"]).name
    record["notebook"]["output_path"] = str((run_folder / output_name).resolve())
    record["solution"]["path"] = str(folder.resolve())
    return record


# --- executors ---


class _InProcessExecutor:
    def run(self, requests: list[RunRequest], records: _Records) -> None:
        runner = _Runner()
        try:
            queue = [(request, 0) for request in requests]
            while queue and not records.stop:
                request, attempt = queue.pop(0)
                records.tracker.running_now(1)
                record = runner.run(request, start_next=bool(queue))
                if records.take(request, attempt, record):
                    queue.insert(0, (request, attempt + 1))
        finally:
            runner.close()


class _PoolExecutor:
    """Separate processes (papermill changes the working directory, so never threads).

    A pool whose worker process died (out of memory, killed) is replaced, and every run it took down goes
    back in the queue of the new pool, at most twice; after that it is recorded killed.
    """

    def __init__(self, jobs: int, fail_fast: bool = False):
        self.jobs, self.fail_fast = jobs, fail_fast
        self.queue: list[tuple[RunRequest, int]] = []  # (request, attempt)
        self.scope = self.scratch = ""
        self.broken_pools = 0

    def run(self, requests: list[RunRequest], records: _Records) -> None:
        self.queue = [(request, 0) for request in requests]
        self.scope = secrets.token_hex(12)  # the kernels of this pool's workers carry it: none outlives the sweep
        self.scratch = tempfile.mkdtemp(
            prefix="reef-sweep-"
        )  # the workers' temporary folder: none outlives the sweep either
        context = multiprocessing.get_context("spawn")
        try:
            while self.queue and not records.stop:
                pool = ProcessPoolExecutor(
                    max_workers=self.jobs,
                    mp_context=context,
                    initializer=processes.enter_worker,
                    initargs=(self.scope,),
                )
                try:
                    taken_down = self._use(pool, records)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                if taken_down is not None and not records.stop:
                    self._requeue(taken_down, records)
        finally:
            processes.end_scope(self.scope)
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _use(self, pool: ProcessPoolExecutor, records: _Records) -> list[tuple[RunRequest, int]] | None:
        """Run the queue on ``pool`` until it is empty, the sweep stops, or a worker dies.

        Returns None while the pool works, else the runs it took down (those still running on it included)."""
        running: dict[Any, tuple[RunRequest, int]] = {}
        lost: list[tuple[RunRequest, int]] = []
        while (self.queue or running) and not records.stop and not lost:
            if not self._submit(pool, running):
                return []  # broken before anything ran: the queue goes to a new pool
            records.tracker.running_now(min(len(running), self.jobs))
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
                if records.take(request, attempt, record):
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
                future = pool.submit(_run_in_worker, request, len(self.queue) >= self.jobs, None, self.scratch)
            except BrokenProcessPool:  # a worker died since the last wait: its runs say so in the next wait
                self.queue.insert(0, (request, attempt))
                return bool(running)
            running[future] = (request, attempt)
        return True

    def _requeue(self, taken_down: list[tuple[RunRequest, int]], records: _Records) -> None:
        self.broken_pools += 1
        for request, attempt in taken_down:
            if self.broken_pools <= 2 or attempt < records.execution.retries:
                self.queue.insert(0, (request, attempt + 1))
            else:
                record = failure_record(request, "killed", RuntimeError("its worker process died"))
                records.report(record)
                records.by_key[request.key] = record


def _distributed():
    """Dask's ``distributed``, imported when a sweep names a scheduler (heavy, and an optional dependency)."""
    try:
        import distributed
    except ImportError:
        raise ReefError("--scheduler needs Dask: pip install 'reefnb[dask]'") from None
    return distributed


class _DaskExecutor:
    def __init__(self, scheduler: str, ship: bool):
        self.scheduler, self.ship = scheduler, ship
        self.client: Any = None
        self.scratch: str | None = None  # a local cluster's temporary folder
        self.bundles: dict[str, Any] = {}  # solution folder -> its zip, scattered to the workers
        self.owner: dict[Any, tuple[RunRequest, int]] = {}  # future -> (request, attempt)

    def run(self, requests: list[RunRequest], records: _Records) -> None:
        dask = _distributed()
        cluster = self._connect(dask)
        try:
            futures = dask.as_completed([self._submit(request, 0) for request in requests], with_results=False)
            records.tracker.running_now(
                min(len(requests), max(1, len(self.client.scheduler_info().get("workers", {}))))
            )
            for future in futures:
                request, attempt = self.owner.pop(future)
                try:
                    record = _land_files(request, future.result())
                except Exception as error:  # KilledWorker after Dask's own reschedules, or a worker error
                    status = "killed" if type(error).__name__ == "KilledWorker" else "failed"
                    record = failure_record(request, status, error)
                if records.take(request, attempt, record):
                    futures.add(self._submit(request, attempt + 1))
                elif records.stop:
                    for other in list(futures.futures):
                        other.cancel()
                    break
        finally:
            self.client.close()
            if cluster is not None:
                cluster.close()
                shutil.rmtree(self.scratch, ignore_errors=True)

    def _connect(self, dask) -> Any:
        """Connect ``self.client``; returns the LocalCluster started for ``local:N`` (None for a scheduler's address)."""
        if not self.scheduler.startswith("local:"):
            try:
                self.client = dask.Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise ReefError(f"--scheduler {self.scheduler}: cannot reach the Dask scheduler: {error}") from None
            return None
        try:
            workers = int(self.scheduler.split(":", 1)[1])
        except ValueError:
            raise ReefError(f"--scheduler {self.scheduler}: expected local:N with N a number of workers") from None
        cluster = dask.LocalCluster(n_workers=workers, **LOCAL_CLUSTER)
        self.scratch = tempfile.mkdtemp(prefix="reef-sweep-")  # the workers' temporary folder, removed with the cluster
        self.client = dask.Client(cluster)
        return cluster

    def _submit(self, request: RunRequest, attempt: int):
        bundle = None
        if self.ship:
            source = str(Path(request.source).parent)
            if source not in self.bundles:
                self.bundles[source] = self.client.scatter(_bundle(request), broadcast=True)
            bundle = self.bundles[source]
        future = self.client.submit(
            _run_in_worker,
            request,
            True,
            bundle,
            self.scratch,
            pure=False,
            key=f"reef-run-{request.key[:16]}-{attempt}",
        )
        self.owner[future] = (request, attempt)
        return future
