"""The results store (SQLite, WAL, versioned schema) and the results frame, on real files."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jsonschema
import pandas
import pytest

import reefnb
from reefnb.exceptions import StoreError
from reefnb.execute import new_run_id
from reefnb.frame import BASE_COLUMNS, records_to_frame
from reefnb.store import MIGRATIONS, Store

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
TESTS = Path(__file__).resolve().parent


def make_record(
    run_id: str,
    solution: str = "demo",
    status: str = "ok",
    started: str = "2026-01-01T00:00:00+00:00",
    parameters: dict | None = None,
    metrics: dict | None = None,
) -> dict:
    """A run record as the executor writes one (valid against run-record.schema.json)."""
    return {
        "record_version": 1,
        "run_id": run_id,
        "solution": {"name": solution, "version": "0.1.0", "path": f"/solutions/{solution}"},
        "workflow": "run",
        "notebook": {"path": "main.ipynb", "sha256": "ab" * 32, "output_path": f"/solutions/{solution}/runs/{run_id}.ipynb"},
        "parameters": {"samples": 1000, "method": "random"} if parameters is None else parameters,
        "metrics": {"loss": {"value": 0.5, "unit": None, "cell_index": 2}, "time_ms": {"value": 12.5, "unit": "ms"}}
        if metrics is None
        else metrics,
        "status": status,
        "error": None if status == "ok" else {"name": "ValueError", "message": "boom", "cell_index": 3, "execution_count": 3},
        "started": started,
        "ended": started.replace("00:00+", "00:02+", 1),
        "duration_s": 2.0,
        "environment": {
            "name": None,
            "kernel": "python3",
            "hostname": "box",
            "os": {"platform": "Linux-6.1-x86_64", "system": "Linux"},
            "cpu": {"model": "Test CPU", "count": 8},
            "memory_bytes": 16 * 2**30,
            "python": {"version": "3.11.7", "implementation": "CPython"},
            "packages": {"numpy": "2.0.0"},
        },
        "provenance": {"reefnb_version": reefnb.__version__, "git": None, "command": "reef run"},
    }


def test_synthetic_record_is_a_valid_run_record():
    run_id = new_run_id()
    assert RUN_ID.match(run_id)
    record = make_record(run_id, status="failed")
    jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(record)
    jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(make_record("20260101T000000Z-0000002a"))


def test_add_get_and_records_with_filters(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    first = make_record("20260101T000000Z-00000001", solution="alpha", started="2026-01-01T00:00:00+00:00")
    second = make_record("20260101T000000Z-00000002", solution="beta", status="failed", started="2026-01-02T00:00:00+00:00")
    third = make_record("20260101T000000Z-00000003", solution="alpha", status="failed", started="2026-01-03T00:00:00+00:00")
    store.add(third)
    store.add_many([second, first])
    assert store.get(first["run_id"]) == first
    assert store.get("20260101T000000Z-ffffffff") is None
    assert [record["run_id"] for record in store.records()] == [first["run_id"], second["run_id"], third["run_id"]]
    assert store.records(solution="alpha") == [first, third]
    assert store.records(status="failed") == [second, third]
    assert store.records(solution="alpha", status="failed") == [third]
    assert store.records(solution="gamma") == []


def test_adding_an_existing_run_id_replaces_it(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    record = make_record("20260101T000000Z-00000001")
    store.add(record)
    changed = {**record, "status": "failed", "metrics": {}}
    store.add(changed)
    assert store.records() == [changed]


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path):
    path = tmp_path / "nowhere" / "results.sqlite"
    store = Store(path)
    assert store.records() == []
    assert store.get("20260101T000000Z-00000001") is None
    assert not path.exists() and not path.parent.exists()


def test_default_store_lives_in_reef_home(reef_home):
    assert reefnb.reef_home() == reef_home
    assert reefnb.default_store().path == reef_home / "results.sqlite"
    assert Store().path == reef_home / "results.sqlite"


def test_schema_version_and_wal_journal(tmp_path):
    path = tmp_path / "results.sqlite"
    store = Store(path)
    store.add(make_record("20260101T000000Z-00000001"))
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in connection.execute("PRAGMA table_info(runs)")]
        assert columns == ["run_id", "solution", "solution_version", "workflow", "status", "started", "notebook_sha256", "record", "run_key"]
    finally:
        connection.close()
    assert store.integrity_check() == "ok"


def test_a_version_1_store_is_migrated_with_its_records(tmp_path):
    from reefnb.store import _migration_1

    path = tmp_path / "results.sqlite"
    connection = sqlite3.connect(path, isolation_level=None)
    _migration_1(connection)
    connection.execute("PRAGMA user_version = 1")
    old = {**make_record("20260101T000000Z-0000000a"), "run_key": "ab" * 32}
    connection.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
        old["run_id"], old["solution"]["name"], old["solution"]["version"], old["workflow"], old["status"],
        old["started"], old["notebook"]["sha256"], json.dumps(old)))
    connection.close()
    store = Store(path)
    assert store.get(old["run_id"]) == old
    assert store.records_by_key(["ab" * 32]) == {"ab" * 32: old}
    assert store.records_by_key(["cd" * 32]) == {}
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
    check.close()


def test_store_with_a_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    store = Store(path)
    with pytest.raises(StoreError, match=rf"{re.escape(str(path))}: .*schema version {len(MIGRATIONS) + 1} is newer"):
        store.records()
    with pytest.raises(StoreError, match="upgrade reefnb"):
        store.add(make_record("20260101T000000Z-00000001"))
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []  # left as found
    finally:
        connection.close()


def test_file_that_is_not_sqlite_is_a_store_error(tmp_path):
    path = tmp_path / "results.sqlite"
    garbage = b"these are not the pages you are looking for\n" * 100
    path.write_bytes(garbage)
    store = Store(path)
    for action in (store.records, lambda: store.add(make_record("20260101T000000Z-00000001")), store.integrity_check):
        with pytest.raises(StoreError, match=rf"^{re.escape(str(path))}: .*not a database"):
            action()
    assert path.read_bytes() == garbage


def test_store_in_an_unwritable_place_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open the results store"):
        Store(blocker / "results.sqlite").add(make_record("20260101T000000Z-00000001"))


# --- the results frame ---


def test_records_to_frame_columns_units_and_nan(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.add(make_record(
        "20260101T000000Z-00000001",
        parameters={"samples": 1000, "method": "random", "sizes": [1, 2]},
        metrics={"loss": {"value": None, "special": "nan", "unit": None}, "time_ms": {"value": 12.5, "unit": "ms"},
                 "peak": {"value": None, "special": "inf", "unit": "MB"}},
    ))
    store.add(make_record(
        "20260101T000000Z-00000002", status="failed", started="2026-01-01T00:01:00+00:00",
        parameters={"samples": 10, "method": "stratified"}, metrics={"time_ms": {"value": 3, "unit": "ms"}},
    ))
    frame = records_to_frame(store.records())
    assert list(frame.columns) == BASE_COLUMNS + [
        "error", "param.method", "param.samples", "param.sizes", "metric.loss", "metric.peak", "metric.time_ms",
        "env.name", "env.kernel", "env.hostname", "env.os", "env.cpu", "env.cpu_count", "env.memory_gb", "env.python",
    ]
    assert frame.attrs["units"] == {"metric.time_ms": "ms", "metric.peak": "MB"}
    assert list(frame["run_id"]) == ["20260101T000000Z-00000001", "20260101T000000Z-00000002"]
    first, second = frame.iloc[0], frame.iloc[1]
    assert math.isnan(first["metric.loss"])
    assert first["metric.peak"] == math.inf
    assert list(frame["metric.time_ms"]) == [12.5, 3]
    assert first["param.sizes"] == "[1, 2]"  # lists are kept as JSON text
    assert pandas.isna(second["param.sizes"]) and pandas.isna(second["metric.loss"])
    assert list(frame["param.samples"]) == [1000, 10]
    assert (first["solution"], first["version"], first["workflow"], first["status"]) == ("demo", "0.1.0", "run", "ok")
    assert pandas.isna(first["error"]) and second["error"] == "ValueError: boom"
    assert first["started"] == pandas.Timestamp("2026-01-01T00:00:00Z")
    assert str(frame["started"].dtype).startswith("datetime64") and str(frame["started"].dt.tz) == "UTC"
    assert first["duration_s"] == 2.0
    assert (first["env.kernel"], first["env.os"], first["env.cpu"], first["env.cpu_count"]) == ("python3", "Linux-6.1-x86_64", "Test CPU", 8)
    assert (first["env.memory_gb"], first["env.python"], first["env.hostname"]) == (16.0, "3.11.7", "box")


def test_records_to_frame_of_nothing_has_the_base_columns():
    frame = records_to_frame([])
    assert frame.empty
    assert list(frame.columns) == BASE_COLUMNS + ["error"]
    assert frame.attrs["units"] == {}


def test_results_reads_the_default_store_with_filters():
    assert reefnb.results().empty
    store = reefnb.default_store()
    store.add(make_record("20260101T000000Z-00000001", solution="alpha"))
    store.add(make_record("20260101T000000Z-00000002", solution="beta", status="failed"))
    frame = reefnb.results()
    assert list(frame["solution"]) == ["alpha", "beta"]
    assert list(reefnb.results(solution="beta")["run_id"]) == ["20260101T000000Z-00000002"]
    assert list(reefnb.results(status="ok")["solution"]) == ["alpha"]
    assert reefnb.results(solution="gamma").empty
    assert frame.attrs["units"] == {"metric.time_ms": "ms"}


# --- many processes at once ---

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    from test_store import make_record
    from reefnb.store import Store

    path, index, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    go = path.parent / "go"
    while not go.exists():
        time.sleep(0.005)
    store = Store(path)
    for number in range(count):
        store.add(make_record(f"20260101T000000Z-{index:02x}{number:06x}", solution=f"writer-{index}"))
    """
)


def test_four_processes_writing_500_records_each_at_once(tmp_path):
    processes, per_process = 4, 500
    path = tmp_path / "shared" / "results.sqlite"
    path.parent.mkdir()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(index), str(per_process), str(TESTS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        )
        for index in range(processes)
    ]
    time.sleep(0.5)  # let every writer import and wait, so that all start at the same moment
    (path.parent / "go").touch()  # the store does not exist yet: the writers race to create it too
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
    store = Store(path)
    records = store.records()
    assert len(records) == processes * per_process
    expected = {f"20260101T000000Z-{index:02x}{number:06x}" for index in range(processes) for number in range(per_process)}
    assert {record["run_id"] for record in records} == expected
    assert all(RUN_ID.match(run_id) for run_id in expected)
    for index in range(processes):
        assert len(store.records(solution=f"writer-{index}")) == per_process
    assert store.integrity_check() == "ok"
