"""Results store at scale: bytes per run, Store.add of one record, reefnb.results() against a bare pandas.read_sql.

Records are copies of a real run recorded by today's code (tests/data/store-v4.json: hello-sweep with its telemetry,
the whole fingerprint of this machine), each with its own run id, times, parameters, metrics, telemetry figures,
run key and executed notebook, written with Store.add_many in batches of 20,000. Measured and printed:

- the store's size per run after a WAL checkpoint (goal, issue 32: <= 1 KB a run), and that every record read back
  (a sample of 1,000) is the record given, byte for byte (json.dumps);
- Store.add of one record into that store, against the least a store can do: one INSERT of the record's JSON in its
  own transaction on an open connection (ROUNDS alternating rounds of 50 each; median ratio and spread);
- reefnb.results() against pandas.read_sql of every row of the tables it reads (ROUNDS alternating rounds; goal: keep
  <= 1x); a SQL-filtered results(); Store.get of one run.
The load average is printed before and after.
Run: .venv/bin/python benchmarks/store.py [RUNS] [ROUNDS]   (default 100000, 5; PYTHONPATH=OLD_CHECKOUT, from another
folder, measures another version)
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas

import reefnb
from reefnb.runs.store import Store

TEMPLATE = Path(__file__).resolve().parent.parent / "tests" / "data" / "store-v4.json"


def template() -> dict:
    return next(
        record
        for record in json.loads(TEMPLATE.read_text(encoding="utf-8"))
        if record["solution"]["name"] == "hello-sweep"
    )


def records(base: dict, count: int, seed: int = 0, offset: int = 0):
    rng = random.Random(seed)
    folder = base["notebook"]["output_path"].split("/runs/")[0]
    for index in range(offset, offset + count):
        month, hour, minute, second = index // 86400 % 12 + 1, index // 3600 % 24, index // 60 % 60, index % 60
        run_id = f"2026{month:02d}01T{hour:02d}{minute:02d}{second:02d}Z-{index:08x}"
        samples, method = rng.choice([1000, 10000, 100000]), rng.choice(["random", "stratified"])
        started = f"2026-{month:02d}-01T{hour:02d}:{minute:02d}:{second:02d}.{index % 1000:03d}+00:00"
        estimate = 3.14159 + rng.gauss(0, 0.01)
        metrics = {name: dict(metric) for name, metric in base["metrics"].items()}
        metrics["pi_estimate"]["value"] = estimate
        metrics["abs_error"]["value"] = abs(estimate - 3.141592653589793)
        metrics["time_ms"]["value"] = rng.uniform(0.1, 30)
        metrics["points"]["value"] = samples
        system = base["system"] | {
            "peak_rss_mb": round(rng.uniform(60, 90), 1),
            "cpu_seconds": round(rng.uniform(0.5, 3), 2),
            "cpu_percent_mean": round(rng.uniform(20, 100), 1),
            "read_mb": round(rng.uniform(0, 1), 3),
            "write_mb": round(rng.uniform(0, 1), 3),
            "samples": rng.randint(5, 20),
            "sampling_seconds": round(rng.uniform(0.01, 0.1), 4),
        }
        yield base | {
            "run_id": run_id,
            "started": started,
            "ended": started,
            "duration_s": round(rng.uniform(0.5, 1.5), 3),
            "parameters": {"samples": samples, "method": method},
            "metrics": metrics,
            "system": system,
            "run_key": f"{rng.getrandbits(256):064x}",
            "notebook": base["notebook"] | {"output_path": f"{folder}/runs/{run_id}/main.ipynb"},
        }


def bare_read_sql(path: Path) -> pandas.DataFrame:
    connection = sqlite3.connect(path)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        sql = "SELECT * FROM runs r JOIN cells_1 c ON c.run = r.id" if "cells_1" in tables else "SELECT * FROM runs"
        return pandas.read_sql(sql, connection)
    finally:
        connection.close()


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def paired(ours, theirs, rounds: int) -> list[tuple[float, float]]:
    """(ours, theirs) wall times of ``rounds`` alternating rounds (ours first in even rounds, theirs first in odd)."""
    pairs = []
    for index in range(rounds):
        if index % 2:
            second = timed(theirs)[0]
            first = timed(ours)[0]
        else:
            first = timed(ours)[0]
            second = timed(theirs)[0]
        pairs.append((first, second))
    return pairs


def summary(pairs: list[tuple[float, float]]) -> str:
    ratios = [ours / theirs for ours, theirs in pairs]
    return (
        f"median ratio {statistics.median(ratios):.2f}x (spread {min(ratios):.2f}-{max(ratios):.2f}x, {len(pairs)} "
        "rounds)"
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    base = template()
    print(f"load before: {load()}; reefnb from {Path(reefnb.__file__).parent}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.sqlite"
        store = Store(path)
        start = time.perf_counter()
        batch = []
        for record in records(base, count):
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
            f"runs: {count:,}; record as recorded: {len(json.dumps(base)):,} bytes; write: {written:.1f} s "
            f"({count / written:,.0f} runs/s)"
        )
        print(f"store size: {size / 1e6:.1f} MB = {size / count:.0f} bytes a run")
        sample = random.Random(1).sample(range(count), min(1000, count))
        given = list(records(base, count))
        same = sum(json.dumps(store.get(given[index]["run_id"])) == json.dumps(given[index]) for index in sample)
        print(f"Store.get gives back {same} of {len(sample)} records byte for byte")
        del given

        extra = records(base, 50 * rounds * 2, seed=2, offset=count)
        bare = sqlite3.connect(Path(folder) / "bare.sqlite", isolation_level=None)
        bare.execute("PRAGMA journal_mode = WAL")
        bare.execute("PRAGMA synchronous = NORMAL")
        bare.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, record TEXT)")

        def add() -> None:
            for _ in range(50):
                store.add(next(extra))

        def insert() -> None:
            for _ in range(50):
                record = next(extra)
                bare.execute("BEGIN IMMEDIATE")
                bare.execute("INSERT INTO runs VALUES (?, ?)", (record["run_id"], json.dumps(record)))
                bare.execute("COMMIT")

        pairs = paired(add, insert, rounds)
        ours = statistics.median(pair[0] for pair in pairs) / 50
        theirs = statistics.median(pair[1] for pair in pairs) / 50
        print(
            f"Store.add one record: {ours * 1e3:.2f} ms; a bare INSERT in its own transaction: "
            f"{theirs * 1e3:.2f} ms; {summary(pairs)}"
        )
        bare.close()

        frame = reefnb.results(store=store)
        pairs = paired(lambda: reefnb.results(store=store), lambda: bare_read_sql(path), rounds)
        print(
            f"results(): {statistics.median(pair[0] for pair in pairs):.2f} s; bare read_sql: "
            f"{statistics.median(pair[1] for pair in pairs):.2f} s; "
            f"{summary(pairs)} ({frame.shape[1]} columns, {len(frame):,} rows)"
        )
        filtered, subset = timed(
            lambda: reefnb.results(store=store, where='param.method == "random" and metric.time_ms < 3')
        )
        print(f"results(where=...): {filtered:.2f} s for {len(subset):,} rows (filter in SQL)")
        run_id = frame["run_id"].iloc[count // 2]
        one = min(timed(lambda: store.get(run_id))[0] for _ in range(5))
        print(f"Store.get: {one * 1e3:.2f} ms; load after: {load()}")


if __name__ == "__main__":
    main()
