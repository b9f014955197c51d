"""Wrote store-v4.sqlite and store-v4.json with reefnb.runs.store as of commit d4c9637 (schema version 4).

Kept for the record; it needs that commit's reefnb. Two real runs made by that commit's ``reefnb.run`` (hello-sweep,
with telemetry, and a run that attaches two files), and records of test_store.make_record with odd values: integers
beyond 64 bits (2**64 + 1, 2**70, 10**30), -0.0, 2.0 beside 2, booleans, None, lists, nested objects with unsorted
keys, NaN and infinite metrics, metrics with goal and format, non-ASCII text, a failed run, a run merged from a
registry. store-v4.json is each record as it was given to the store (the migration test compares Store.get with it).
Run (at that commit): .venv/bin/python tests/data/make_store_v4.py
"""

import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "runs"))  # test_store (tests/runs)
sys.path.insert(0, str(HERE.parent))  # conftest's write_solution

work = Path(tempfile.mkdtemp(prefix="store-v4-"))
os.environ["REEF_HOME"] = str(work / "home")

from conftest import write_solution  # noqa: E402
from test_store import make_record  # noqa: E402

import reefnb  # noqa: E402
from reefnb.runs.store import Store  # noqa: E402

ATTACH = """
import json, reefnb
folder = reefnb.run_folder()
(folder / "summary.txt").write_text("Result is : VALID\\n" * n)
(folder / "detections.json").write_text(json.dumps([{"image_id": 1, "score": 0.5}]))
reefnb.attach(folder / "summary.txt", name="performance/mlperf_log_summary.txt")
reefnb.attach(folder / "detections.json")
reefnb.record("n", n)
reefnb.record("big", 2**64 + 1)
"""

hello = work / "hello-sweep"
shutil.copytree(HERE.parent.parent / "solutions" / "hello-sweep", hello, ignore=shutil.ignore_patterns("runs"))
evidence = write_solution(
    work / "evidence",
    {"name": "evidence", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
    "n = 3",
    ATTACH,
)
real = [reefnb.run(hello, parameters={"samples": 2000, "method": "stratified"}), reefnb.run(evidence)]
assert all(record["status"] == "ok" for record in real), [record["error"] for record in real]

odd = {
    "sizes": [1, 2],
    "gpu": True,
    "off": False,
    "big": 2**70,
    "bigger": 2**64 + 1,
    "huge": 10**30,
    "negative_zero": -0.0,
    "two": 2,
    "two_float": 2.0,
    "tiny": 5e-324,
    "none": None,
    "empty": "",
    "nested": {"z": 1, "a": [None, {"y": 2, "b": 1}]},
    "name": "Zürich ☃",
}
records = [
    make_record("20260101T000000Z-00000001", solution="alpha") | {"run_key": "ab" * 32},
    make_record("20260101T000000Z-00000002", solution="alpha", status="failed", started="2026-01-02T00:00:00+00:00"),
    make_record(
        "20260101T000000Z-00000003",
        solution="beta",
        parameters=odd,
        metrics={
            "loss": {"value": None, "special": "nan", "unit": None},
            "peak": {"value": None, "special": "inf", "unit": "MB"},
            "low": {"value": None, "special": "-inf", "unit": None},
            "tags": {"value": ["a", "b"], "unit": None},
            "count": {"unit": "items", "value": 2**64 + 1, "cell_index": 5},
            "accuracy": {"value": 0.75, "unit": None, "goal": "max", "format": ".1%", "cell_index": 4},
            "flag": {"value": True, "unit": None},
            "plain": 3,
        },
        started="2026-01-03T00:00:00+00:00",
    )
    | {"run_key": "not a hex key"},
    make_record("20260101T000000Z-00000004", solution="alpha", started="2026-01-04T00:00:00+00:00")
    | {"origin": {"registry": "crowd", "contributor": "anon-1234"}},
    *real,
]
target = HERE / "store-v4.sqlite"
target.unlink(missing_ok=True)
store = Store(target)
store.add_many(records[:2])
store.add(records[2])
store.merge(records[3:4])
store.add_many(records[4:])
for record in records:  # today's store gives every record back as it was given
    assert json.dumps(store.get(record["run_id"])) == json.dumps(record), record["run_id"]
connection = sqlite3.connect(target)
connection.execute("PRAGMA journal_mode = DELETE")
connection.execute("VACUUM")
connection.close()
(HERE / "store-v4.json").write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
shutil.rmtree(work)
