"""Results store at scale: bytes per run, reefnb.results() against a bare pandas.read_sql of the same rows.

Records are copies of a real hello-sweep run (tests/data/store-v2.sqlite, a 5.3 KB record with this machine's
whole fingerprint), each with its own run id, times, parameters, metrics and run key, written with
Store.add_many in batches of 20,000. Measured: the store's size after a WAL checkpoint per run, and that size
less the JSON of each run's own parameters and metrics (the issue's "beyond its own parameters and metrics");
reefnb.results() (best of 3) against pandas.read_sql of every row of the tables it reads (the runs table, joined
with the solution's cells table where the schema has one); a SQL-filtered results(); Store.get of one run.
Goal (issue 18): <= 800 bytes a run beyond its own parameters and metrics; results() <= 2x read_sql; 1,000,000
runs in <= 10 s.
Run: .venv/bin/python benchmarks/store.py [RUNS]   (default 100000; PYTHONPATH=OLD_CHECKOUT to measure another version)
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pandas
from timing import best_of

import reefnb
from reefnb.runs.store import Store

TEMPLATE = Path(__file__).resolve().parent.parent / "tests" / "data" / "store-v2.sqlite"


def template() -> dict:
    connection = sqlite3.connect(f"file:{TEMPLATE}?mode=ro", uri=True)  # read only: never migrate the fixture
    try:
        text = connection.execute("SELECT record FROM runs WHERE solution = 'hello-sweep' ORDER BY run_id LIMIT 1").fetchone()[0]
    finally:
        connection.close()
    return json.loads(text)


def records(base: dict, count: int, seed: int = 0):
    rng = random.Random(seed)
    for index in range(count):
        run_id = f"2026{index // 86400 % 12 + 1:02d}01T{index // 3600 % 24:02d}{index // 60 % 60:02d}{index % 60:02d}Z-{index:08x}"
        samples, method = rng.choice([1000, 10000, 100000]), rng.choice(["random", "stratified"])
        started = f"2026-{index // 86400 % 12 + 1:02d}-01T{index // 3600 % 24:02d}:{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}+00:00"
        estimate = 3.14159 + rng.gauss(0, 0.01)
        yield base | {
            "run_id": run_id,
            "started": started,
            "ended": started,
            "duration_s": round(rng.uniform(0.5, 1.5), 3),
            "parameters": {"method": method, "samples": samples},
            "metrics": {
                "abs_error": {"cell_index": 4, "unit": None, "value": abs(estimate - 3.141592653589793)},
                "pi_estimate": {"cell_index": 4, "unit": None, "value": estimate},
                "points": {"cell_index": 4, "unit": "points", "value": samples},
                "time_ms": {"cell_index": 4, "unit": "ms", "value": rng.uniform(0.1, 30)},
            },
            "run_key": f"{rng.getrandbits(256):064x}",
            "notebook": base["notebook"] | {"output_path": f"/home/user/hello-sweep/runs/{run_id}/main.ipynb"},
        }


def bare_read_sql(path: Path) -> pandas.DataFrame:
    connection = sqlite3.connect(path)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        sql = "SELECT * FROM runs r JOIN cells_1 c ON c.run = r.id" if "cells_1" in tables else "SELECT * FROM runs"
        return pandas.read_sql(sql, connection)
    finally:
        connection.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    base = template()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.sqlite"
        store = Store(path)
        own = 0
        start = time.perf_counter()
        batch = []
        for record in records(base, count):
            own += len(json.dumps(record["parameters"])) + len(json.dumps(record["metrics"]))
            batch.append(record)
            if len(batch) == 20_000:
                store.add_many(batch)
                batch = []
        if batch:
            store.add_many(batch)
        written = time.perf_counter() - start
        connection = sqlite3.connect(path)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        size = path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob("results.sqlite-*"))
        print(
            f"runs: {count:,}; record as recorded: {len(json.dumps(next(records(base, 1)), sort_keys=True)):,} bytes; "
            f"write: {written:.1f} s ({count / written:,.0f} runs/s)"
        )
        print(
            f"store size: {size / 1e6:.1f} MB = {size / count:.0f} bytes a run; "
            f"{(size - own) / count:.0f} bytes a run beyond its own parameters and metrics ({own / count:.0f} bytes of JSON)"
        )
        theirs, bare = best_of(lambda: bare_read_sql(path))
        ours, frame = best_of(lambda: reefnb.results(store=store))
        assert len(frame) == len(bare) == count, (len(frame), len(bare))
        print(f"results(): {ours:.2f} s; bare read_sql: {theirs:.2f} s; ratio {ours / theirs:.2f}x  ({frame.shape[1]} columns)")
        try:
            filtered, subset = best_of(lambda: reefnb.results(store=store, where='param.method == "random" and metric.time_ms < 3'))
            print(f"results(where=...): {filtered:.2f} s for {len(subset):,} rows (filter in SQL)")
        except TypeError:
            print("results(where=...): not supported by this version")
        run_id = frame["run_id"].iloc[count // 2]
        one, record = best_of(lambda: store.get(run_id))
        print(f"Store.get: {one * 1e3:.2f} ms")
        os.sync()


if __name__ == "__main__":
    main()
