"""Wrote store-v2.sqlite with reefnb/store.py (today reefnb.runs.store)
as of commit 806d6de (schema version 2), before schema 3 existed.

Kept for the record; it needs that commit's reefnb/store.py. The records are those of test_store.make_record
with variations (failed, merged from a registry, NaN and infinite metrics, lists, booleans, a huge integer,
non-ASCII text), and two runs of hello-sweep as `reef sweep` recorded them.
Run (at that commit): .venv/bin/python tests/data/make_store_v2.py OLD_STORE_WITH_REAL_RUNS
"""

import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runs"))  # test_store (tests/runs)
from test_store import make_record  # noqa: E402

from reefnb.runs.store import Store  # noqa: E402

HERE = Path(__file__).resolve().parent
target = HERE / "store-v2.sqlite"
target.unlink(missing_ok=True)
store = Store(target)
real = [json.loads(row[0]) for row in sqlite3.connect(sys.argv[1]).execute("SELECT record FROM runs ORDER BY run_id")]
records = [
    make_record("20260101T000000Z-00000001", solution="alpha") | {"run_key": "ab" * 32},
    make_record("20260101T000000Z-00000002", solution="alpha", status="failed", started="2026-01-02T00:00:00+00:00"),
    make_record(
        "20260101T000000Z-00000003",
        solution="beta",
        parameters={"sizes": [1, 2], "gpu": True, "big": 2**70, "name": "Zürich ☃"},
        metrics={
            "loss": {"value": None, "special": "nan", "unit": None},
            "peak": {"value": None, "special": "inf", "unit": "MB"},
            "tags": {"value": ["a", "b"], "unit": None},
        },
        started="2026-01-03T00:00:00+00:00",
    ),
    make_record("20260101T000000Z-00000004", solution="alpha", started="2026-01-04T00:00:00+00:00")
    | {"origin": {"registry": "crowd", "contributor": "anon-1234"}},
    *real,
]
store.add_many(records[:2])
store.add(records[2])
store.merge(records[3:4])
store.add_many(records[4:])
connection = sqlite3.connect(target)
connection.execute("PRAGMA journal_mode = DELETE")
connection.close()
