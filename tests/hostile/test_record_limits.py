"""Recording never loses a run: values a float cannot hold, a flood of record calls, outputs that bypass
``reefnb.record``, a cell timeout with no limit set, and a results store another process keeps locked.

One real run (the `reef` command in its own process, on a real kernel) makes every hostile record call while this
process holds the store's write lock; the tests read what it left. The lock itself is tested in process, with a
second SQLite connection holding the write lock and a short REEF_STORE_WAIT.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager

import jsonschema
import pandas
import pytest
from helpers.records import make_record
from helpers.solutions import write_solution
from helpers.store import write_lock
from nbclient.exceptions import CellTimeoutError

import reefnb
from reefnb.analysis.frame import records_to_frame
from reefnb.common.exceptions import StoreError
from reefnb.frontends.cli import main
from reefnb.runs import store as store_module
from reefnb.runs.execute import RunSession, _classify  # engine through execute, as papermill loads it
from reefnb.runs.store import Store

BIG = 10**400  # no float holds it: float(BIG) raises OverflowError
ODD = 2**64 + 1  # beyond SQLite's 64-bit integers, and a float would round it
MAX_METRICS = 40
CELLS = (
    "import reefnb\nreefnb.record('big', 10**400)\nreefnb.record('neg', -10**400)\nreefnb.record('odd', 2**64 "
    "+ 1)\nreefnb.record('nested', {'a': [10**400]})",
    "try:\n    reefnb.record('huge', 10**5000)\nexcept ValueError as error:\n    print('REFUSED', error)",
    "reefnb.record('blob', 'x' * 30000)",  # over the byte budget on its own
    "for i in range(100):\n    reefnb.record(f'm{i:03d}', i)\nreefnb.record('big', 10**400)  # recorded "
    "before: still taken",
    # outputs that do not go through reefnb.record: the executor counts them against the budget too
    "from IPython.display import display\nfor i in range(30):\n    "
    "display({'application/vnd.reef.record+json': {'name': f'raw{i}', 'value': i}}, raw=True)",
)
KERNEL_REFUSED = 1 + (100 - (MAX_METRICS - 4))  # blob, then the m-metrics past the count
RAW_REFUSED = 30


@contextmanager
def store_log():
    """The store's log lines (what the `reef` command shows as warnings)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("reefnb.runs.store")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """`reef run` of a notebook making every hostile record call, while this process holds the store's write lock."""
    base = tmp_path_factory.mktemp("records")
    home = base / "home"
    store_path = home / "results.sqlite"
    Store(store_path).add(make_record("20260101T000000Z-00000001"))  # a store in use, in WAL mode
    folder = write_solution(
        base / "hostile",
        {"name": "hostile", "version": "1.0.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "x = 1",
        *CELLS,
    )
    environment = {
        **os.environ,
        "REEF_HOME": str(home),
        "REEF_MAX_METRICS": str(MAX_METRICS),
        "REEF_MAX_METRIC_BYTES": "20K",
        "REEF_STORE_WAIT": "1",
    }
    with write_lock(store_path):
        result = subprocess.run(
            [sys.executable, "-m", "reefnb", "run", str(folder)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=300,
        )
    pending = sorted(path.name for path in store_path.with_name("results.sqlite-pending").glob("*.json"))
    (run_folder,) = (folder / "runs").iterdir()
    with store_log() as lines:
        record = Store(store_path).get(run_folder.name)  # the next open adds what was kept beside the store
    left = sorted(path.name for path in store_path.with_name("results.sqlite-pending").glob("*"))
    notebook = json.loads((run_folder / "main.ipynb").read_text(encoding="utf-8"))
    return {
        "result": result,
        "pending": pending,
        "record": record,
        "added": lines,
        "left": left,
        "notebook": notebook,
        "store": Store(store_path),
    }


def test_a_store_locked_past_the_wait_exits_5_and_keeps_the_finished_runs_record(hostile):
    result, record = hostile["result"], hostile["record"]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 5, result.stderr  # a store failure; not 2: the input was not wrong
    assert "store locked by another process, waiting" in result.stderr
    (last,) = [line for line in result.stderr.splitlines() if line.startswith("reef: error:")]
    assert (
        "locked by another process" in last
        and "results.sqlite-pending" in last
        and "added when the store is next opened" in last
    )
    assert record is not None and hostile["pending"] == [f"{record['run_id']}.json"]
    assert record["run_id"] in last


def test_the_kept_record_is_added_on_the_next_open_said_in_one_line(hostile):
    (line,) = hostile["added"]
    assert "added 1 run record" in line and "results.sqlite-pending" in line
    assert hostile["left"] == []
    assert len(hostile["store"].records()) == 2


def test_values_a_float_cannot_hold_are_kept_exactly(hostile):
    metrics = hostile["record"]["metrics"]
    assert hostile["record"]["status"] == "ok", hostile["record"]["error"]
    assert metrics["big"]["value"] == BIG and type(metrics["big"]["value"]) is int
    assert metrics["neg"]["value"] == -BIG
    assert metrics["odd"]["value"] == ODD
    assert metrics["nested"]["value"] == {"a": [BIG]}
    jsonschema.Draft202012Validator(reefnb.schema("run-record")).validate(hostile["record"])


def test_values_a_float_cannot_hold_are_shown_as_their_digits(hostile):
    frame = reefnb.results(solution="hostile", store=hostile["store"])
    assert frame["metric.big"].tolist() == [str(BIG)]
    assert frame["metric.neg"].tolist() == [str(-BIG)]
    assert frame["metric.odd"].tolist() == [str(ODD)]  # not 1.8446744073709552e+19
    assert frame["metric.m000"].tolist() == [0]
    from_records = records_to_frame([hostile["record"]])
    assert from_records["metric.big"].tolist() == [str(BIG)] and from_records["metric.odd"].tolist() == [str(ODD)]
    assert len(reefnb.results(store=hostile["store"], where=f"metric.odd == {ODD} and metric.neg == -{BIG}")) == 1


def test_the_results_table_shows_the_digits(hostile, monkeypatch):
    monkeypatch.setenv("REEF_HOME", str(hostile["store"].path.parent))
    out, err = io.StringIO(), io.StringIO()
    assert main(["results", "--solution", "hostile", "--columns", "big", "odd", "--format", "csv"], out, err) == 0, (
        err.getvalue()
    )
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["metric.big"] == str(BIG) and row["metric.odd"] == str(ODD)


def test_record_calls_beyond_the_metric_budget_are_refused_in_one_line(hostile):
    record, cells = hostile["record"], hostile["notebook"]["cells"]
    assert len(record["metrics"]) == MAX_METRICS
    assert "blob" not in record["metrics"] and "m035" in record["metrics"] and "m036" not in record["metrics"]
    assert not any(name.startswith("raw") for name in record["metrics"])
    assert record["metrics_refused"] == KERNEL_REFUSED + RAW_REFUSED

    def texts(cell: dict) -> list[str]:
        return [
            "".join(output.get("text") or output.get("data", {}).get("text/plain", "")) for output in cell["outputs"]
        ]

    (blob,) = texts(cells[3])
    assert blob.startswith("[reef] record: 'blob' refused:") and "REEF_MAX_METRIC_BYTES" in blob
    refusals = [text for text in texts(cells[4]) if "refused" in text]
    assert (
        len(refusals) == 1
        and "REEF_MAX_METRICS" in refusals[0]
        and f"({KERNEL_REFUSED - 1} record calls refused in this cell)" in refusals[0]
    )
    (huge,) = texts(cells[2])
    assert huge.startswith("REFUSED record: an integer of more than 4300 digits") and huge.count("\n") == 1


def test_a_cell_timeout_without_a_time_limit_is_classified_not_formatted():
    session = RunSession()
    status, error = _classify(CellTimeoutError("Timeout waiting for IOPub output"), session, None)
    assert status == "failed" and error["name"] == "OutputTimeout" and "output" in error["message"]
    status, error = _classify(CellTimeoutError("Cell execution timed out"), session, None)
    assert status == "timeout" and "None" not in error["message"]
    assert (
        _classify(CellTimeoutError("Cell execution timed out"), session, 2.5)[1]["message"]
        == "the run did not finish within its 2.5 s limit"
    )


def test_a_locked_store_waits_with_a_message_then_keeps_the_record_beside_it(tmp_path, monkeypatch):
    monkeypatch.setenv("REEF_STORE_WAIT", "0.4")
    store = Store(tmp_path / "results.sqlite")
    store.add(make_record("20260101T000000Z-00000001"))
    pending = tmp_path / "results.sqlite-pending"
    record = make_record("20260101T000000Z-00000002", metrics={"big": {"value": BIG, "unit": None}})
    with write_lock(store.path), store_log() as lines, pytest.raises(StoreError) as refused:
        store.add(record)
    assert refused.value.exit_code == 5 and "\n" not in str(refused.value)
    assert str(pending) in str(refused.value) and "20260101T000000Z-00000002" in str(refused.value)
    assert [line for line in lines if "store locked by another process, waiting" in line] == lines[:1] and len(
        lines
    ) == 1
    assert json.loads((pending / "20260101T000000Z-00000002.json").read_text()) == json.loads(json.dumps(record))
    (pending / "20260101T000000Z-00000009.json").write_text("{not json")  # a damaged file is set aside, never fatal
    with store_log() as lines:
        assert Store(store.path).get(record["run_id"]) == record
    assert any("added 1 run record" in line for line in lines) and any("set aside" in line for line in lines)
    assert sorted(path.name for path in pending.iterdir()) == ["20260101T000000Z-00000009.json.unreadable"]
    with store_log() as lines:
        assert len(Store(store.path).records()) == 2
    assert lines == []


def test_a_reader_of_a_store_locked_for_good_gets_one_line_not_input_wrong(tmp_path, monkeypatch):
    monkeypatch.setenv("REEF_STORE_WAIT", "0.2")
    store = Store(tmp_path / "results.sqlite")
    store.add(make_record("20260101T000000Z-00000001"))
    store_module.close_connections()  # the holder stands for another process that has the file to itself, as if first
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # in exclusive locking mode not even readers get in
    try:
        with pytest.raises(StoreError) as refused:
            store.records()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.value.exit_code == 5 and "locked" in str(refused.value) and "\n" not in str(refused.value)


def test_more_metrics_than_a_solution_has_columns_still_store_the_whole_record(tmp_path, monkeypatch):
    monkeypatch.setattr(
        store_module,
        "_limit",
        lambda connection, name, default: 30 if name == "SQLITE_LIMIT_COLUMN" else default,
        raising=False,
    )
    store = Store(tmp_path / "results.sqlite")  # 30 columns a SELECT: 10 for the frame, a solution's cells 19 and `run`
    record = make_record(
        "20260101T000000Z-00000001", parameters={}, metrics={f"m{index:02d}": {"value": index} for index in range(40)}
    )
    with store_log() as lines:
        store.add(record)
        store.add(make_record("20260101T000000Z-00000002", parameters={}, metrics={"late": {"value": 1}}))
    assert store.get(record["run_id"]) == record
    assert lines[0].startswith(
        "solution demo has the most result columns the store gives a solution (19): metric.m19 and 20 more of "
        "run 20260101T"
    )
    assert "metric.late of run 20260101T000000Z-00000002 kept in its record only" in lines[1] and len(lines) == 2
    frame = reefnb.results(store=store)
    assert [column for column in frame.columns if column.startswith("metric.")] == [
        f"metric.m{index:02d}" for index in range(19)
    ]


def test_results_of_more_solutions_or_columns_than_one_select_takes_are_read(tmp_path, monkeypatch):
    store = Store(tmp_path / "results.sqlite")  # SQLite takes 500 terms in a compound SELECT: one solution more
    started = "2026-01-01T00:{:02d}:{:02d}+00:00"
    records = [
        make_record(
            f"20260101T000000Z-{index:08x}", solution=f"s{index}", started=started.format(*divmod(600 - index, 60))
        )
        for index in range(501)
    ]
    for index, record in enumerate(records):
        record["metrics"] = {f"m{index % 7}": {"value": index}}
    store.add_many(records)
    frame = reefnb.results(store=store)
    assert frame["run_id"].tolist() == [record["run_id"] for record in reversed(records)]
    pandas.testing.assert_frame_equal(frame, records_to_frame(store.records()), check_dtype=False)
    assert len(reefnb.results(store=store, where="metric.m3 > 100")) == len(
        [index for index in range(501) if index % 7 == 3 and index > 100]
    )
    monkeypatch.setattr(
        store_module,
        "_limit",
        lambda connection, name, default: 12 if name == "SQLITE_LIMIT_COLUMN" else default,
        raising=False,
    )
    pandas.testing.assert_frame_equal(reefnb.results(store=store), frame)  # 17 columns: each solution's read apart
