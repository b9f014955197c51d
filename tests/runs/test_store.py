"""The results store (SQLite, WAL, versioned schema), on real files (the frame: tests/analysis/test_frame.py)."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pandas
import pytest
from helpers.records import make_record
from helpers.servers import wait_until

import reefnb
from reefnb.analysis.frame import records_to_frame
from reefnb.common.exceptions import StoreError
from reefnb.runs.execute import new_run_id
from reefnb.runs.store import MIGRATIONS, Store
from reefnb.solution.columns import BASE_COLUMNS

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
TESTS = Path(__file__).resolve().parents[1]  # tests/: the writer processes import helpers from there


def test_synthetic_record_is_a_valid_run_record():
    run_id = new_run_id()
    assert RUN_ID.match(run_id)
    record = make_record(run_id, status="failed")
    jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(record)
    jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(make_record("20260101T000000Z-0000002a"))


def test_add_get_and_records_with_filters(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    first = make_record("20260101T000000Z-00000001", solution="alpha", started="2026-01-01T00:00:00+00:00")
    second = make_record(
        "20260101T000000Z-00000002", solution="beta", status="failed", started="2026-01-02T00:00:00+00:00"
    )
    third = make_record(
        "20260101T000000Z-00000003", solution="alpha", status="failed", started="2026-01-03T00:00:00+00:00"
    )
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
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
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


# --- many processes at once ---

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[4])
    from helpers.records import make_record
    from reefnb.runs.store import Store

    path, index, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    go = path.parent / "go"
    (path.parent / f"ready-{index}").touch()
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
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for index in range(processes)
    ]
    wait_until(  # every writer imported and waits, so that all start at the same moment
        lambda: all((path.parent / f"ready-{index}").exists() for index in range(processes)), what="the writers"
    )
    (path.parent / "go").touch()  # the store does not exist yet: the writers race to create it too
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
    store = Store(path)
    records = store.records()
    assert len(records) == processes * per_process
    expected = {
        f"20260101T000000Z-{index:02x}{number:06x}" for index in range(processes) for number in range(per_process)
    }
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
    expected = records_to_frame(
        [json.loads(text) for text in sorted(old.values(), key=lambda t: (json.loads(t)["started"], t))]
    )
    # big integers beyond 64 bits come back as floats in the frame (SQLite's integers are 64-bit); all else is equal
    pandas.testing.assert_frame_equal(frame.drop(columns="param.big"), expected.drop(columns="param.big"))
    assert (
        frame["param.big"].dropna().tolist() == [float(2**70)]
        and store.get("20260101T000000Z-00000003")["parameters"]["big"] == 2**70
    )
    keyed = {json.loads(text)["run_key"] for text in old.values() if json.loads(text).get("run_key")}
    # merged runs (run_key NULL in schema 2 even when their record has one) still never make a sweep skip
    assert set(store.records_by_key(sorted(keyed))) == {key for key in keyed if key != "ab" * 32} | {"ab" * 32}
    assert store.integrity_check() == "ok"
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
    assert (
        connection.execute(
            "SELECT count(*) FROM runs WHERE run_id = '20260101T000000Z-00000004' AND keyed = 0"
        ).fetchone()[0]
        == 1
    )
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
    shapes = [body for body in bodies if isinstance(body, list)]
    # two environments, one provenance, one solution, two record shapes: the 300 runs' (their parameters and metrics
    # are in cells, their units and the notebook's path in the shape) and the other's (it has one more parameter)
    assert len(bodies) == 6 and len(shapes) == 2
    assert sum(json.dumps(record["metrics"]["time_ms"]["unit"]) in json.dumps(shapes) for record in records[:1]) == 1
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
                parameters={
                    "backend": "tflite" if index % 2 else "tf",
                    "batch": index,
                    "odd name": index % 5,
                    "gpu": index > 6,
                },
                metrics={"time_ms": {"value": float(index), "unit": "ms"}},
            )
        )
    every = reefnb.results(store=store)

    def ids(**query) -> list[str]:
        return list(reefnb.results(store=store, **query)["run_id"])

    def expect(mask) -> list[str]:
        return list(every.loc[mask, "run_id"])

    assert ids(where='param.backend == "tflite"') == expect(every["param.backend"] == "tflite")
    assert ids(where='param.backend == "tflite" and metric.time_ms < 5') == expect(
        (every["param.backend"] == "tflite") & (every["metric.time_ms"] < 5)
    )
    assert ids(where="not (2 < param.batch <= 8) or status in ('failed',)") == expect(
        ~every["param.batch"].between(3, 8) | (every["status"] == "failed")
    )
    assert ids(where='param["odd name"] != 0') == expect(every["param.odd name"] != 0)
    assert ids(where="param.gpu == True") == expect(every["param.gpu"] == True)  # noqa: E712
    assert ids(where='solution == "beta" and env.hostname == "box"') == expect(every["solution"] == "beta")
    assert ids(where='version == "0.1.0" and env.cpu_count >= 8 and env.memory_gb == 16.0') == list(every["run_id"])
    assert ids(where="param.missing == None") == list(every["run_id"]) and ids(where="param.missing != None") == []
    assert ids(since="2026-01-10") == expect(every["started"] >= pandas.Timestamp("2026-01-10", tz="UTC"))
    assert ids(solution="alpha", status="ok", since="2026-01-03T00:00:00+00:00") == expect(
        (every["solution"] == "alpha")
        & (every["status"] == "ok")
        & (every["started"] >= pandas.Timestamp("2026-01-03", tz="UTC"))
    )
    assert [record["run_id"] for record in store.records(where="metric.time_ms >= 10")] == expect(
        every["metric.time_ms"] >= 10
    )
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


# --- schema 5: parameters, metrics and telemetry once; one connection per process ---

FIXTURE_4 = TESTS / "data" / "store-v4.sqlite"  # written by the schema-4 store code (tests/data/make_store_v4.py)
GIVEN_4 = json.loads((TESTS / "data" / "store-v4.json").read_text(encoding="utf-8"))  # its records as they were given


def test_a_store_written_by_the_schema_4_code_is_migrated_giving_every_record_back_byte_for_byte(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(FIXTURE_4.read_bytes())
    before = _old_rows(path)
    assert '"samples":2000' in before["20261206T173916Z-ddc850e6"]  # schema 4 kept the parameters in the JSON too
    store = Store(path)
    assert [json.dumps(record) for record in sorted(store.records(), key=lambda record: record["run_id"])] == [
        json.dumps(record) for record in sorted(GIVEN_4, key=lambda record: record["run_id"])
    ]
    for record in GIVEN_4:
        assert json.dumps(store.get(record["run_id"])) == json.dumps(record)
    after = _old_rows(path)
    real = after[
        "20261206T173916Z-ddc850e6"
    ]  # a real run: parameters, metrics, telemetry figures and notes are elsewhere
    assert all(
        word not in real for word in ("samples", "stratified", "pi_estimate", "peak_rss_mb", "RAPL", "output_path")
    ), real
    assert sum(map(len, after.values())) < sum(map(len, before.values())) / 3
    odd = store.get("20260101T000000Z-00000003")["parameters"]
    assert (
        odd["bigger"] == 2**64 + 1
        and math.copysign(1, odd["negative_zero"]) == -1
        and odd["gpu"] is True
        and type(odd["two_float"]) is float
    )
    frame = reefnb.results(store=store, where="param.samples == 2000")
    assert frame["run_id"].tolist() == ["20261206T173916Z-ddc850e6"] and frame["metric.points"].tolist() == [1936]
    assert store.records_by_key(["ab" * 32]) == {"ab" * 32: GIVEN_4[0]}
    assert store.integrity_check() == "ok"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
        # the shapes of schema 4 are gone with the migration; documents
        # left: solutions, environments, provenance, origin, shapes
        used = connection.execute(
            "SELECT count(*) FROM documents WHERE id NOT IN (SELECT shape FROM runs UNION SELECT solution FROM runs"
            " UNION SELECT environment FROM runs UNION SELECT provenance FROM runs UNION SELECT origin FROM runs)"
        ).fetchone()[0]
        assert used == 0


def test_records_with_odd_values_come_back_byte_for_byte_and_keep_their_cells(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.add_many(GIVEN_4[:2])
    for record in GIVEN_4[2:]:
        store.add(record)
    for record in GIVEN_4:
        assert json.dumps(store.get(record["run_id"])) == json.dumps(record)
    frame = reefnb.results(store=store, solution="beta")
    assert (
        frame["param.gpu"].tolist() == [True]
        and frame["metric.accuracy"].tolist() == [0.75]
        and frame["metric.peak"].tolist() == [math.inf]
    )
    assert reefnb.results(store=store, where="sys.peak_rss_mb > 1")["run_id"].tolist() == [
        record["run_id"] for record in GIVEN_4[4:]
    ]


def test_a_store_of_real_records_takes_under_1_kb_a_run(tmp_path):
    base = next(record for record in GIVEN_4 if record["solution"]["name"] == "hello-sweep")
    records = []
    for index in range(1000):
        run_id = f"20260101T{index // 3600:02d}{index // 60 % 60:02d}{index % 60:02d}Z-{index:08x}"
        started = f"2026-01-01T{index // 3600:02d}:{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}+00:00"
        metrics = {
            name: metric | {"value": metric["value"] * (1 + index / 1e4)} for name, metric in base["metrics"].items()
        }
        records.append(
            base
            | {
                "run_id": run_id,
                "started": started,
                "ended": started,
                "duration_s": 1 + index / 1000,
                "parameters": {"samples": 1000 + index, "method": ("random", "stratified")[index % 2]},
                "metrics": metrics,
                "system": base["system"]
                | {"peak_rss_mb": 60 + index / 10, "cpu_seconds": index / 100, "sampling_seconds": index / 1e4},
                "run_key": f"{index:064x}",
                "notebook": base["notebook"]
                | {"output_path": base["notebook"]["output_path"].replace(base["run_id"], run_id)},
            }
        )
    path = tmp_path / "results.sqlite"
    store = Store(path)
    store.add_many(records)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = sum(found.stat().st_size for found in tmp_path.glob("results.sqlite*"))
    assert size / len(records) < 1024, size / len(records)  # schema 4: 1,600 bytes a run
    for record in records[::250]:
        assert json.dumps(store.get(record["run_id"])) == json.dumps(record)


def test_one_connection_per_process_and_a_store_replaced_on_disk_is_opened_again(tmp_path):
    from reefnb.runs import store as store_module

    path = tmp_path / "results.sqlite"
    Store(path).add(make_record("20260101T000000Z-00000001"))
    with Store(path)._connection() as first:
        pass
    Store(path).records()
    Store(path).add(make_record("20260101T000000Z-00000002"))
    with Store(str(path))._connection() as again:
        assert again is first
    assert sum(key == os.path.abspath(path) for key in store_module._OPEN) == 1
    for found in tmp_path.glob(
        "results.sqlite*"
    ):  # another program deletes the store: nothing is written into the old file
        found.unlink()
    Store(path).add(make_record("20260101T000000Z-00000003"))
    assert [record["run_id"] for record in Store(path).records()] == ["20260101T000000Z-00000003"]
    for index in range(store_module.MAX_OPEN + 2):  # many stores: the oldest connections are closed
        Store(tmp_path / f"other-{index}.sqlite").add(make_record(f"20260101T000000Z-0000010{index}"))
    assert len(store_module._OPEN) <= store_module.MAX_OPEN


FORKED_WRITER = textwrap.dedent(
    """
    import json, multiprocessing, os, sys
    from reefnb.runs import store as store_module
    from reefnb.runs.store import Store

    base = json.loads(sys.argv[2])
    store = Store(sys.argv[1])
    store.add(base | {"run_id": "20260101T000000Z-00000000"})  # the parent's connection is open when it forks

    def child(number):
        inherited = not store_module._OPEN  # the parent's connection set aside in the child
        ids = [f"20260101T000000Z-{number:04x}{index:04x}" for index in range(20)]
        Store(sys.argv[1]).add_many([base | {"run_id": run_id} for run_id in ids])
        with Store(sys.argv[1])._connection():
            mine = store_module._OPEN[os.path.abspath(sys.argv[1])].pid == os.getpid()
        return inherited and mine

    with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
        answers = pool.map(child, range(1, 5))
    store.add(base | {"run_id": "20260101T000000Z-ffffffff"})
    print(json.dumps({"answers": answers, "count": len(store.records()), "check": store.integrity_check()}))
    """
)


def test_forked_workers_open_their_own_connection(tmp_path):
    base = json.dumps(GIVEN_4[4])
    done = subprocess.run(
        [sys.executable, "-c", FORKED_WRITER, str(tmp_path / "results.sqlite"), base],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"answers": [True] * 4, "count": 1 + 4 * 20 + 1, "check": "ok"}


def test_threads_of_a_process_share_its_connection_one_at_a_time(tmp_path):
    import threading

    store = Store(tmp_path / "results.sqlite")
    store.add(
        make_record("20260101T000000Z-00000000")
    )  # opened in this thread, used by the others (a server's thread pool)
    errors = []

    def work(number: int) -> None:
        try:
            for index in range(20):
                store.add(make_record(f"20260101T000000Z-{number:02x}{index:06x}"))
                store.get(f"20260101T000000Z-{number:02x}{index:06x}")
        except Exception as error:  # noqa: BLE001 (any error fails the test below)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(store.records()) == 1 + 4 * 20
