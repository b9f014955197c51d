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
from reefnb.analysis.frame import records_to_frame
from reefnb.common.exceptions import StoreError
from reefnb.runs.execute import new_run_id
from reefnb.runs.store import MIGRATIONS, Store
from reefnb.solution.columns import BASE_COLUMNS

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
HERE = Path(__file__).resolve().parent  # tests/runs: this module, which the writer processes import
TESTS = HERE.parent


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
        "metrics": {"loss": {"value": 0.5, "unit": None, "cell_index": 2}, "time_ms": {"value": 12.5, "unit": "ms"}} if metrics is None else metrics,
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
        assert columns == [
            "id",
            "run_id",
            "solution_id",
            "workflow",
            "status",
            "started",
            "ended",
            "duration_s",
            "run_key",
            "keyed",
            "error",
            "solution",
            "environment",
            "provenance",
            "origin",
            "shape",
            "record",
        ]
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"runs", "documents", "solutions", "columns", "cells_1"}
    finally:
        connection.close()
    assert store.integrity_check() == "ok"


def test_a_version_1_store_is_migrated_with_its_records(tmp_path):
    from reefnb.runs.store import _migration_1

    path = tmp_path / "results.sqlite"
    connection = sqlite3.connect(path, isolation_level=None)
    _migration_1(connection)
    connection.execute("PRAGMA user_version = 1")
    old = {**make_record("20260101T000000Z-0000000a"), "run_key": "ab" * 32}
    connection.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            old["run_id"],
            old["solution"]["name"],
            old["solution"]["version"],
            old["workflow"],
            old["status"],
            old["started"],
            old["notebook"]["sha256"],
            json.dumps(old),
        ),
    )
    connection.close()
    store = Store(path)
    assert store.get(old["run_id"]) == old
    assert store.records_by_key(["ab" * 32]) == {"ab" * 32: old}
    assert store.records_by_key(["cd" * 32]) == {}
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 4
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
    store.add(
        make_record(
            "20260101T000000Z-00000001",
            parameters={"samples": 1000, "method": "random", "sizes": [1, 2]},
            metrics={
                "loss": {"value": None, "special": "nan", "unit": None},
                "time_ms": {"value": 12.5, "unit": "ms"},
                "peak": {"value": None, "special": "inf", "unit": "MB"},
            },
        )
    )
    store.add(
        make_record(
            "20260101T000000Z-00000002",
            status="failed",
            started="2026-01-01T00:01:00+00:00",
            parameters={"samples": 10, "method": "stratified"},
            metrics={"time_ms": {"value": 3, "unit": "ms"}},
        )
    )
    frame = records_to_frame(store.records())
    assert list(frame.columns) == BASE_COLUMNS + [
        "error",
        "param.method",
        "param.samples",
        "param.sizes",
        "metric.loss",
        "metric.peak",
        "metric.time_ms",
        "env.name",
        "env.kernel",
        "env.hostname",
        "env.os",
        "env.cpu",
        "env.cpu_count",
        "env.memory_gb",
        "env.python",
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
    from reefnb.runs.store import Store

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
            [sys.executable, "-c", WRITER, str(path), str(index), str(per_process), str(HERE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
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


# --- schema 3: migration, exact records, shared fingerprints, SQL filters ---

FIXTURE = TESTS / "data" / "store-v2.sqlite"  # written by the schema-2 store code (tests/data/make_store_v2.py)


def _old_rows(path: Path) -> dict[str, str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(connection.execute("SELECT run_id, record FROM runs"))
    finally:
        connection.close()


def test_a_store_written_by_the_schema_2_code_is_migrated_keeping_every_record(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(FIXTURE.read_bytes())
    old = _old_rows(path)
    store = Store(path)
    assert len(store.records()) == len(old) == 6
    for run_id, text in old.items():
        assert json.dumps(store.get(run_id), sort_keys=True) == text  # the very bytes schema 2 stored
    frame = reefnb.results(store=store)
    expected = records_to_frame([json.loads(text) for text in sorted(old.values(), key=lambda t: (json.loads(t)["started"], t))])
    # big integers beyond 64 bits come back as floats in the frame (SQLite's integers are 64-bit); all else is equal
    pandas.testing.assert_frame_equal(frame.drop(columns="param.big"), expected.drop(columns="param.big"))
    assert frame["param.big"].dropna().tolist() == [float(2**70)] and store.get("20260101T000000Z-00000003")["parameters"]["big"] == 2**70
    keyed = {json.loads(text)["run_key"] for text in old.values() if json.loads(text).get("run_key")}
    # merged runs (run_key NULL in schema 2 even when their record has one) still never make a sweep skip
    assert set(store.records_by_key(sorted(keyed))) == {key for key in keyed if key != "ab" * 32} | {"ab" * 32}
    assert store.integrity_check() == "ok"
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == 4
    assert connection.execute("SELECT count(*) FROM runs WHERE run_id = '20260101T000000Z-00000004' AND keyed = 0").fetchone()[0] == 1
    connection.close()


def test_get_gives_the_record_back_byte_for_byte_key_order_included(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    record = make_record("20260101T000000Z-00000001") | {"run_key": "0f" * 32, "duration_s": 2, "note": None}
    shuffled = dict(reversed(list(record.items())))  # not the schema's order, not sorted
    shuffled["environment"] = dict(reversed(list(shuffled["environment"].items())))
    odd = make_record("20260101T000000Z-00000002") | {
        "run_key": "AB" * 32,
        "duration_s": float("nan"),
        "started": "2026-01-01T00:00:00+00:00",
        "workflow": True,
        "status": 2**64,
        "ended": None,
        "environment": None,
    }
    store.add_many([shuffled, odd])
    for original in (shuffled, odd):
        assert json.dumps(store.get(original["run_id"])) == json.dumps(original)
    assert json.dumps(store.records(where="run_id == '20260101T000000Z-00000001'")) == json.dumps([shuffled])


def test_fingerprints_and_provenance_are_stored_once(tmp_path):
    path = tmp_path / "results.sqlite"
    store = Store(path)
    records = [make_record(f"20260101T000000Z-{index:08x}", parameters={"samples": index}) for index in range(300)]
    other = make_record("20260101T000000Z-ffffffff")
    other["environment"] = other["environment"] | {"hostname": "elsewhere"}
    store.add_many(records + [other])
    connection = sqlite3.connect(path)
    try:
        bodies = [json.loads(body) for (body,) in connection.execute("SELECT body FROM documents")]
    finally:
        connection.close()
    environments = [body for body in bodies if isinstance(body, dict) and "hostname" in body]
    assert sorted(body["hostname"] for body in environments) == ["box", "elsewhere"]
    assert sum(body == records[0]["provenance"] for body in bodies) == 1
    assert len(bodies) == 5  # two environments, one provenance, one solution, one record shape
    assert store.get(other["run_id"])["environment"]["hostname"] == "elsewhere"


def test_results_filters_run_in_sql(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    for index in range(12):
        store.add(
            make_record(
                f"20260101T000000Z-{index:08x}",
                solution="alpha" if index % 3 else "beta",
                status="ok" if index % 4 else "failed",
                started=f"2026-01-{index + 1:02d}T00:00:00+00:00",
                parameters={"backend": "tflite" if index % 2 else "tf", "batch": index, "odd name": index % 5, "gpu": index > 6},
                metrics={"time_ms": {"value": float(index), "unit": "ms"}},
            )
        )
    every = reefnb.results(store=store)

    def ids(**query) -> list[str]:
        return list(reefnb.results(store=store, **query)["run_id"])

    def expect(mask) -> list[str]:
        return list(every.loc[mask, "run_id"])

    assert ids(where='param.backend == "tflite"') == expect(every["param.backend"] == "tflite")
    assert ids(where='param.backend == "tflite" and metric.time_ms < 5') == expect((every["param.backend"] == "tflite") & (every["metric.time_ms"] < 5))
    assert ids(where="not (2 < param.batch <= 8) or status in ('failed',)") == expect(~every["param.batch"].between(3, 8) | (every["status"] == "failed"))
    assert ids(where='param["odd name"] != 0') == expect(every["param.odd name"] != 0)
    assert ids(where="param.gpu == True") == expect(every["param.gpu"] == True)  # noqa: E712
    assert ids(where='solution == "beta" and env.hostname == "box"') == expect(every["solution"] == "beta")
    assert ids(where='version == "0.1.0" and env.cpu_count >= 8 and env.memory_gb == 16.0') == list(every["run_id"])
    assert ids(where="param.missing == None") == list(every["run_id"]) and ids(where="param.missing != None") == []
    assert ids(since="2026-01-10") == expect(every["started"] >= pandas.Timestamp("2026-01-10", tz="UTC"))
    assert ids(solution="alpha", status="ok", since="2026-01-03T00:00:00+00:00") == expect(
        (every["solution"] == "alpha") & (every["status"] == "ok") & (every["started"] >= pandas.Timestamp("2026-01-03", tz="UTC"))
    )
    assert [record["run_id"] for record in store.records(where="metric.time_ms >= 10")] == expect(every["metric.time_ms"] >= 10)
    narrow = reefnb.results(store=store, columns=["time_ms"])
    assert [column for column in narrow.columns if column.startswith(("param.", "metric."))] == ["metric.time_ms"]
    assert list(reefnb.results(store=store, where="param.batch > 100").columns) == BASE_COLUMNS + ["error"]


@pytest.mark.parametrize(
    "where, message",
    [
        ("param.batch ==", "not an expression"),
        ("__import__('os').system('true')", "expected a comparison"),
        ("param.batch == param.other", "expected a constant"),
        ("nothing.here > 1", "unknown field 'nothing.here'"),
        ("param.batch in ()", "non-empty list"),
        ("param.batch < None", "None compares only"),
        ("(" * 5000 + "1" + ")" * 5000, "longer than"),
        ("not " * 400 + "param.a == 1", "too deeply nested"),
    ],
)
def test_bad_filters_are_one_line_errors(tmp_path, where, message):
    store = Store(tmp_path / "results.sqlite")
    store.add(make_record("20260101T000000Z-00000001"))
    with pytest.raises(reefnb.ReefError, match=re.escape(message)) as caught:
        reefnb.results(store=store, where=where)
    assert "\n" not in str(caught.value)
    with pytest.raises(reefnb.ReefError, match="not an ISO date"):
        reefnb.results(store=store, since="yesterday-ish")
