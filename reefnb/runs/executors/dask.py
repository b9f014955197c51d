"""The ``dask`` executor: the runs on a Dask cluster (``tcp://HOST:PORT``) or a local one of N workers (``local:N``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import EnvironmentFailure, NetworkFailure, ReefError
from reefnb.runs import processes
from reefnb.runs.execute import RunRequest, failure_record
from reefnb.runs.executors import RunSink
from reefnb.runs.executors.worker import bundle_solution, land_files, run_in_worker
from reefnb.runs.spec import SweepExecution

# A local:N cluster's workers: one run at a time each, no dashboard, and processes.dask_setup as each starts
# (the preload), before a task imports papermill.
LOCAL_CLUSTER = {"threads_per_worker": 1, "processes": True, "dashboard_address": None, "preload": [processes.__name__]}


def _distributed():
    """Dask's ``distributed``, imported when a sweep names a scheduler (heavy, and an optional dependency)."""
    try:
        import distributed
    except ImportError:
        raise EnvironmentFailure("--scheduler needs Dask: pip install 'reefnb[dask]'") from None
    return distributed


class DaskExecutor:
    """The runs on a Dask cluster: one at a time on each worker, the records streamed back as each run ends.

    ``ship`` (default: for ``tcp://`` and ``tls://`` schedulers) sends the solution folder to the workers as a zip
    and lands the output files back here, for workers that do not share this machine's disk."""

    def __init__(self, execution: SweepExecution):
        if not execution.scheduler:
            raise ReefError("sweep: the dask executor needs --scheduler tcp://HOST:PORT or local:N")
        self.scheduler = scheduler = execution.scheduler
        self.ship = execution.ship if execution.ship is not None else scheduler.startswith(("tcp://", "tls://"))
        self.client: Any = None
        self.scratch: str | None = None  # a local cluster's temporary folder
        self.bundles: dict[Path, Any] = {}  # solution folder -> its zip, scattered to the workers
        self.owner: dict[Any, tuple[RunRequest, int]] = {}  # future -> (request, attempt)

    def run(self, runs: list[RunRequest], sink: RunSink) -> None:
        dask = _distributed()
        cluster = self._connect(dask)
        try:
            futures = dask.as_completed([self._submit(run, 0) for run in runs], with_results=False)
            sink.running(min(len(runs), max(1, len(self.client.scheduler_info().get("workers", {})))))
            for future in futures:
                request, attempt = self.owner.pop(future)
                try:
                    record = land_files(Path(request.source).parent, future.result())
                except Exception as error:  # KilledWorker after Dask's own reschedules, or a worker error
                    status = "killed" if type(error).__name__ == "KilledWorker" else "failed"
                    record = failure_record(request, status, error)
                if sink.retry_after(request, attempt, record):
                    futures.add(self._submit(request, attempt + 1))
                elif sink.stopped:
                    for other in list(futures.futures):
                        other.cancel()
                    break
        finally:
            self.client.close()
            if cluster is not None:
                cluster.close()
                shutil.rmtree(self.scratch, ignore_errors=True)

    def _connect(self, dask) -> Any:
        """Connect ``self.client``; returns the LocalCluster started for ``local:N`` (None for an address)."""
        if not self.scheduler.startswith("local:"):
            try:
                self.client = dask.Client(self.scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise NetworkFailure(
                    f"--scheduler {self.scheduler}: cannot reach the Dask scheduler: {error}"
                ) from None
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
            source = Path(request.source).parent
            if source not in self.bundles:
                self.bundles[source] = self.client.scatter(bundle_solution(source), broadcast=True)
            bundle = self.bundles[source]
        future = self.client.submit(
            run_in_worker,
            request,
            True,
            bundle,
            self.scratch,
            pure=False,
            key=f"reef-run-{request.key[:16]}-{attempt}",
        )
        self.owner[future] = (request, attempt)
        return future
