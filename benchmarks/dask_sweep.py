"""A sweep of N runs of a trivial notebook on a Dask cluster started as real processes, against the local pool.

The cluster is what a user would start: `dask scheduler` and `dask worker --nworkers 2 --nthreads 1` on
127.0.0.1 (separate processes of this virtual environment). The sweep is `reefnb.sweep(..., scheduler=
"tcp://127.0.0.1:PORT")` in this process (the client); records are written to the store as they finish
(on_record counts the store's rows as each arrives), and this process's RSS is sampled every 0.2 s. The
same grid then runs on the local process pool (`jobs=2`, the same 2 cores) into another store. Scheduler
overhead per run: (Dask wall - pool wall) / N; both also against the runs' own durations (duration_s).
Run: .venv/bin/python benchmarks/dask_sweep.py [N] [--dask-only]   (default 1000; on a busy 2-core machine try 100;
--dask-only: the Dask sweep alone, without the local pool's)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from sweep import trivial_notebook

import reefnb
from reefnb.runs.store import Store

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RssSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.process = psutil.Process()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.stop.wait(0.2):
            self.samples.append((time.perf_counter() - start, self.process.memory_info().rss))


def start_cluster(scratch: Path, environment: dict) -> tuple[str, list[subprocess.Popen]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(scratch / "cluster.log", "w")  # noqa: SIM115 - closed with the processes
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [
            str(BIN / "dask"),
            "worker",
            address,
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--local-directory",
            str(scratch / "dask-worker"),
        ],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from distributed import Client

    deadline = time.monotonic() + 120
    while True:
        try:
            with Client(address, timeout="5s") as client:
                client.wait_for_workers(2, timeout=120)
            return address, [worker, scheduler]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def run_sweep(folder: Path, runs: int, store: Store, **executor) -> tuple[float, list[dict], list[int]]:
    stored_when_arrived: list[int] = []
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    records = reefnb.sweep(
        folder,
        grid={"x": list(range(runs))},
        store=store,
        rerun=True,
        on_record=lambda record: stored_when_arrived.append(store.get(record["run_id"]) is not None),
        **executor,
    )
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    assert all(stored_when_arrived) and len(stored_when_arrived) == runs
    return wall, list(records), [rss for _, rss in sampler.samples]


def describe(name: str, runs: int, wall: float, records: list[dict], rss: list[int]) -> float:
    ok = sum(record["status"] == "ok" for record in records)
    busy = sum(record["duration_s"] for record in records)
    quarter = max(1, len(rss) // 4)
    early, late = sum(rss[quarter : 2 * quarter]) / quarter, sum(rss[-quarter:]) / quarter
    print(
        f"{name}: {runs} runs ({ok} ok) in {wall:.1f} s, {wall / runs:.3f} s a run; notebook time "
        f"{busy / runs:.3f} s a run; "
        f"client RSS min {min(rss) / 2**20:.0f} MiB, max {max(rss) / 2**20:.0f} MiB, 2nd quarter mean "
        f"{early / 2**20:.0f} MiB, "
        f"last quarter mean {late / 2**20:.0f} MiB ({(late - early) / 2**10 / max(1, runs // 2):+.1f} KiB a run)",
        flush=True,
    )
    return wall


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main(runs: int, dask_only: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="reef-dask-bench-") as folder:
        scratch = Path(folder)
        solution = scratch / "trivial"
        solution.mkdir()
        trivial_notebook(solution / "main.ipynb")
        (solution / "solution.json").write_text(
            json.dumps({"name": "trivial", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
        )
        os.environ["REEF_HOME"] = str(scratch / "home")
        address, cluster = start_cluster(scratch, {**os.environ, "REEF_HOME": str(scratch / "worker-home")})
        print(f"load before: {load()}", flush=True)
        try:
            dask_wall = describe(
                f"Dask cluster {address} (2 worker processes)",
                runs,
                *run_sweep(solution, runs, Store(scratch / "dask.sqlite"), scheduler=address),
            )
        finally:
            for process in cluster:
                process.terminate()
            for process in cluster:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        print(f"load after the Dask sweep: {load()}", flush=True)
        if not dask_only:
            pool_wall = describe(
                "local pool (jobs=2)", runs, *run_sweep(solution, runs, Store(scratch / "pool.sqlite"), jobs=2)
            )
            print(f"load after the pool sweep: {load()}", flush=True)
    if dask_only:
        print(f"extrapolated to 1,000 runs: Dask {dask_wall / runs * 1000 / 60:.1f} min")
        return
    print(
        f"scheduler overhead: {(dask_wall - pool_wall) / runs * 1e3:+.0f} ms a run over the local pool "
        f"(Dask/pool wall {dask_wall / pool_wall:.2f}x); extrapolated to 1,000 runs: Dask "
        f"{dask_wall / runs * 1000 / 60:.1f} min, "
        f"pool {pool_wall / runs * 1000 / 60:.1f} min"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, "--dask-only" in sys.argv)
