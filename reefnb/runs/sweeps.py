"""Sweeps: a workflow run at every point of parameters x environments, in parallel, resumable.

Each run is a papermill execution on a fresh kernel. Executors: in this process (one job), a
local process pool (default), or a Dask cluster (``scheduler``). Workers execute and return
records; only this process writes the store. A run whose key (notebook sha256, parameters,
environment) is already recorded ok is skipped unless ``rerun``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import logging
import os
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.runs import processes
from reefnb.runs.execute import RunRequest, execute_run, failure_record, kernel_alive, prepare_run, start_kernel
from reefnb.solution.confinement import resolve_inside
from reefnb.solution.manifest import Solution, open_solution

log = logging.getLogger(__name__)

# A run that ended like this may succeed on another try: the kernel died or never started.
RETRYABLE = ("killed",)


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
    """The sweep's records in grid order (skipped points give their earlier ok record)."""

    def __init__(self, records: list[dict], skipped: int, executed: int):
        super().__init__(records)
        self.skipped = skipped
        self.executed = executed


def grid_points(grid: dict[str, list]) -> Iterator[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order (the first name varies slowest)."""
    names = list(grid)
    for name in names:
        if not isinstance(grid[name], (list, tuple)) or not grid[name]:
            raise ReefError(f"sweep: parameter '{name}' needs a non-empty list of values")
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
    requests, seen = [], set()
    for point in grid_points(grid or {}):
        for environment, kernel in targets:
            request = prepare_run(solution, chosen.name, {**(parameters or {}), **point}, kernel=kernel,
                                  timeout=timeout, environment=environment, telemetry=telemetry)
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

    ``grid`` defaults to the workflow's ``sweep`` section; ``parameters`` are fixed for every
    run. ``jobs``: parallel runs on this machine (default: what cores and memory allow);
    ``scheduler``: ``tcp://HOST:PORT`` (an existing Dask cluster) or ``local:N`` (a Dask
    LocalCluster of N workers). ``retries``: further tries of a run whose kernel died. A run
    that fails in its notebook is recorded and the sweep goes on, unless ``fail_fast``.
    ``ship`` sends the solution folder to Dask workers (default: for tcp:// schedulers). Each run's
    processes are sampled where they run (``reefnb.runs.telemetry``) unless ``telemetry`` is False.
    """
    from reefnb.runs.store import Store, default_store

    if retries < 0:
        raise ReefError(f"sweep: retries must be 0 or more, got {retries}")
    if jobs is not None and jobs < 1:
        raise ReefError(f"sweep: jobs must be 1 or more, got {jobs}")
    environments = environments or ([environment] if environment else None)
    kernels = kernels or ([kernel] if kernel else None)
    requests = plan_sweep(solution, workflow, grid, parameters, environments, kernels, timeout, telemetry)
    target = store if isinstance(store, Store) else (default_store() if store is not False else None)
    done_before = {} if rerun or target is None else target.records_by_key([request.key for request in requests])
    pending = [request for request in requests if request.key not in done_before]
    tracker = _Tracker(len(requests), len(requests) - len(pending), progress)

    def finished(record: dict) -> None:
        if target is not None:
            target.add(record)
        tracker.finished(record)
        if on_record is not None:
            on_record(record)

    results: dict[str, dict] = {}
    if pending:
        if scheduler:
            executor = _DaskExecutor(scheduler, ship if ship is not None else scheduler.startswith(("tcp://", "tls://")))
        elif (jobs or default_jobs()) == 1 or len(pending) == 1:
            executor = _InProcessExecutor()
        else:
            executor = _PoolExecutor(min(jobs or default_jobs(), len(pending)))
        results = executor.run(pending, retries, fail_fast, finished, tracker)
    records = [done_before.get(request.key) or results.get(request.key) for request in requests]
    return SweepResult([record for record in records if record is not None], skipped=len(requests) - len(pending),
                       executed=sum(1 for request in pending if request.key in results))


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
        self.callback(SweepProgress(self.total, self.done, self.ok, self.failed, self.running, self.skipped,
                                    round(elapsed, 3), None if eta is None else round(eta, 1), last))


def _should_retry(record: dict, attempt: int, retries: int) -> bool:
    return attempt < retries and record["status"] in RETRYABLE


# --- the part that runs where the notebook runs (this process, a pool worker, a Dask worker) ---


class _Runner:
    """Executes runs one after another, starting the next run's kernel while one executes."""

    def __init__(self):
        self.waiting: dict[tuple[str, str], tuple[Any, Path]] = {}
        self._scratch: Path | None = None  # kernel logs of kernels started ahead, shipped solutions: removed by close()

    @property
    def scratch(self) -> Path:
        if self._scratch is None or not self._scratch.is_dir():  # none yet, or removed with its sweep's folder
            self._scratch = Path(tempfile.mkdtemp(prefix="reef-kernels-"))
        return self._scratch

    def run(self, request: RunRequest, start_next: bool) -> dict:
        folder = str(open_solution(request.source).workflow(request.workflow).notebook.parent)
        slot = (request.kernel, folder)
        manager, log_path = self.waiting.pop(slot, (None, None))
        if manager is not None and not kernel_alive(manager):
            manager, log_path = None, None
        if start_next:
            self._start(slot)
        return execute_run(request, store=False, kernel_manager=manager, kernel_log=log_path)

    def _start(self, slot: tuple[str, str]) -> None:
        log_path = self.scratch / f"kernel-{len(os.listdir(self.scratch))}-{time.monotonic_ns()}.log"
        try:
            self.waiting[slot] = (start_kernel(slot[0], slot[1], log_path), log_path)
        except Exception as error:  # the run itself will start (and report) its kernel
            log.debug("could not start a kernel ahead: %s", error)

    def close(self) -> None:
        from reefnb.runs.execute import shutdown_kernel

        for manager, _ in self.waiting.values():
            shutdown_kernel(manager)
        self.waiting.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


_runner: _Runner | None = None


def _worker_runner() -> _Runner:
    global _runner
    if _runner is None:
        _runner = _Runner()
        try:
            from multiprocessing import util

            util.Finalize(None, _runner.close, exitpriority=10)
        except ImportError:
            pass
        import atexit

        atexit.register(_runner.close)
    return _runner


def _run_in_worker(request: RunRequest, start_next: bool, bundle: bytes | None = None, scratch: str | None = None) -> dict:
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
    files = {path.relative_to(run_folder).as_posix(): path.read_bytes() for path in run_folder.rglob("*") if path.is_file() and not path.is_symlink()}
    return {"record": record, "files": files}


def _bundle(request: RunRequest) -> bytes:
    """The solution folder as a zip (no runs/, no .git), for workers without a shared disk."""
    source = Path(request.source)
    folder = source.parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not path.is_symlink() and parts[0] not in ("runs", ".git") and "__pycache__" not in parts:
                archive.write(path, Path(*parts).as_posix())
    return buffer.getvalue()


def _unpack_bundle(bundle: bytes, scratch: Path) -> Path:
    digest = hashlib.sha256(bundle).hexdigest()[:16]
    folder = scratch / "shipped" / digest
    if not (folder / ".complete").exists():
        from reefnb.provision.artifacts import unpack_archive

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
    def run(self, requests: list[RunRequest], retries: int, fail_fast: bool, finished, tracker: _Tracker) -> dict[str, dict]:
        runner = _Runner()
        results: dict[str, dict] = {}
        try:
            queue = [(request, 0) for request in requests]
            while queue:
                request, attempt = queue.pop(0)
                tracker.running_now(1)
                record = runner.run(request, start_next=bool(queue))
                finished(record)
                if _should_retry(record, attempt, retries):
                    queue.insert(0, (request, attempt + 1))
                    continue
                results[request.key] = record
                if fail_fast and record["status"] != "ok":
                    break
        finally:
            runner.close()
        return results


class _PoolExecutor:
    """Separate processes (papermill changes the working directory, so never threads)."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def run(self, requests: list[RunRequest], retries: int, fail_fast: bool, finished, tracker: _Tracker) -> dict[str, dict]:
        scope = secrets.token_hex(12)  # the kernels of this pool's workers carry it: none outlives the sweep
        scratch = tempfile.mkdtemp(prefix="reef-sweep-")  # the workers' temporary folder: none outlives the sweep either
        try:
            return self._run(requests, scope, scratch, retries, fail_fast, finished, tracker)
        finally:
            processes.end_scope(scope)
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, requests: list[RunRequest], scope: str, scratch: str, retries: int, fail_fast: bool, finished,
             tracker: _Tracker) -> dict[str, dict]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        results: dict[str, dict] = {}
        queue = [(request, 0) for request in requests]
        context = multiprocessing.get_context("spawn")
        broken_pools = 0
        while queue:
            pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context, initializer=processes.enter_scope, initargs=(scope,))
            running: dict[Any, tuple[RunRequest, int]] = {}
            lost: list[tuple[RunRequest, int]] = []
            stop = broken = False
            try:
                while (queue or running) and not stop and not lost and not broken:
                    while queue and len(running) < self.jobs:
                        request, attempt = queue.pop(0)
                        try:
                            # Each worker starts the next kernel ahead when more runs wait than workers run.
                            future = pool.submit(_run_in_worker, request, len(queue) >= self.jobs, None, scratch)
                        except BrokenProcessPool:  # a worker died since the last wait: its runs say so below
                            queue.insert(0, (request, attempt))
                            broken = not running
                            break
                        running[future] = (request, attempt)
                    if broken:
                        break
                    tracker.running_now(len(running))
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
                        finished(record)
                        if _should_retry(record, attempt, retries):
                            queue.insert(0, (request, attempt + 1))
                            continue
                        results[request.key] = record
                        if fail_fast and record["status"] != "ok":
                            stop = True
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            if stop:
                break
            if lost or broken:
                # A worker process died (out of memory, killed): every run it took down goes back
                # in the queue of a new pool, at most twice; after that it is recorded killed.
                broken_pools += 1
                for request, attempt in lost + list(running.values()):
                    if broken_pools <= 2 or attempt < retries:
                        queue.insert(0, (request, attempt + 1))
                    else:
                        record = failure_record(request, "killed", RuntimeError("its worker process died"))
                        finished(record)
                        results[request.key] = record
        return results


class _DaskExecutor:
    def __init__(self, scheduler: str, ship: bool):
        self.scheduler, self.ship = scheduler, ship

    def run(self, requests: list[RunRequest], retries: int, fail_fast: bool, finished, tracker: _Tracker) -> dict[str, dict]:
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ReefError("--scheduler needs Dask: pip install 'reefnb[dask]'") from None
        cluster = scratch = None
        if self.scheduler.startswith("local:"):
            try:
                workers = int(self.scheduler.split(":", 1)[1])
            except ValueError:
                raise ReefError(f"--scheduler {self.scheduler}: expected local:N with N a number of workers") from None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            scratch = tempfile.mkdtemp(prefix="reef-sweep-")  # the workers' temporary folder, removed with the cluster
            client = Client(cluster)
        else:
            try:
                client = Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise ReefError(f"--scheduler {self.scheduler}: cannot reach the Dask scheduler: {error}") from None
        results: dict[str, dict] = {}
        bundles: dict[str, Any] = {}
        try:
            attempts = {request.key: 0 for request in requests}
            owner: dict[Any, RunRequest] = {}

            def submit(request: RunRequest):
                bundle = None
                if self.ship:
                    source = str(Path(request.source).parent)
                    if source not in bundles:
                        bundles[source] = client.scatter(_bundle(request), broadcast=True)
                    bundle = bundles[source]
                future = client.submit(_run_in_worker, request, True, bundle, scratch, pure=False,
                                       key=f"reef-run-{request.key[:16]}-{attempts[request.key]}")
                owner[future] = request
                return future

            futures = as_completed([submit(request) for request in requests], with_results=False)
            tracker.running_now(min(len(requests), max(1, len(client.scheduler_info().get("workers", {})))))
            for future in futures:
                request = owner.pop(future)
                try:
                    record = _land_files(request, future.result())
                except Exception as error:  # KilledWorker after Dask's own reschedules, or a worker error
                    status = "killed" if type(error).__name__ == "KilledWorker" else "failed"
                    record = failure_record(request, status, error)
                finished(record)
                if _should_retry(record, attempts[request.key], retries):
                    attempts[request.key] += 1
                    futures.add(submit(request))
                    continue
                results[request.key] = record
                if fail_fast and record["status"] != "ok":
                    for other in list(futures.futures):
                        other.cancel()
                    break
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
                shutil.rmtree(scratch, ignore_errors=True)
        return results
