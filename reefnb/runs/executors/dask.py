"""The ``dask`` executor: the runs on a Dask cluster (``tcp://HOST:PORT``) or a local one of N workers (``local:N``)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.runs import processes
from reefnb.runs.execute import RunRequest, failure_record
from reefnb.runs.executors import RunSink
from reefnb.runs.executors.worker import bundle_solution, land_files, run_in_worker

# (the preload), before a task imports papermill.
LOCAL_CLUSTER = {"threads_per_worker": 1, "processes": True, "dashboard_address": None, "preload": [processes.__name__]}


def _distributed():
    """Dask's ``distributed``, imported when a sweep names a scheduler (heavy, and an optional dependency)."""
    try:
        import distributed
    except ImportError:
        raise ReefError("--scheduler needs Dask: pip install 'reefnb[dask]'") from None
    return distributed


class DaskExecutor:
    def __init__(self, scheduler: str, ship: bool):
        self.scheduler, self.ship = scheduler, ship
        self.client: Any = None
        self.scratch: str | None = None  # a local cluster's temporary folder
        self.bundles: dict[str, Any] = {}  # solution folder -> its zip, scattered to the workers
        self.owner: dict[Any, tuple[RunRequest, int]] = {}  # future -> (request, attempt)

    def run(self, requests: list[RunRequest], records: RunSink) -> None:
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
                    record = land_files(request, future.result())
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
        """Connect ``self.client``; returns the LocalCluster started for ``local:N`` (None for an address)."""
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
                self.bundles[source] = self.client.scatter(bundle_solution(request), broadcast=True)
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
