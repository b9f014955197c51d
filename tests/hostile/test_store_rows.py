"""One damaged row in results.sqlite: `reef results` skips it with one warning line naming the run, shows the rest."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run as reef
from helpers.records import make_record

from reefnb.runs.store import Store

TESTS = Path(__file__).resolve().parent.parent

RUNS = [f"20260101T000000Z-0000000{index}" for index in range(1, 4)]
DAMAGED = RUNS[1]


def damage(path: Path, sql: str) -> None:
    connection = sqlite3.connect(path)
    try:
        assert connection.execute(sql, (DAMAGED,)).rowcount == 1
        connection.commit()
    finally:
        connection.close()


@pytest.fixture
def store_path(reef_home) -> Path:
    Store().add_many(
        [make_record(run_id, started=f"2026-01-0{index + 1}T00:00:00+00:00") for index, run_id in enumerate(RUNS)]
    )
    return reef_home / "results.sqlite"


def assert_skipped_with_one_warning(result: subprocess.CompletedProcess, shown: str) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and DAMAGED in lines[0] and "skipped" in lines[0], result.stderr
    assert DAMAGED not in shown
    assert all(run_id in shown for run_id in RUNS if run_id != DAMAGED)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE runs SET record = '{\"broken' WHERE run_id = ?",
        "UPDATE runs SET record = '[1, 2]' WHERE run_id = ?",
        "UPDATE runs SET record = x'00ff' WHERE run_id = ?",
        "UPDATE runs SET shape = 987654 WHERE run_id = ?",  # a document that is not there
    ],
)
def test_unreadable_record_is_skipped_by_results_json(store_path, sql):
    damage(store_path, sql)
    result = reef("results", "--format", "json")
    assert_skipped_with_one_warning(result, result.stdout)
    assert [record["run_id"] for record in json.loads(result.stdout)] == [RUNS[0], RUNS[2]]
    assert Store(store_path).get(RUNS[0])["run_id"] == RUNS[0]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE runs SET started = 'the day before yesterday' WHERE run_id = ?",
        "UPDATE runs SET started = x'00ff' WHERE run_id = ?",
        "UPDATE runs SET ended = 12 WHERE run_id = ?",
        "UPDATE runs SET status = NULL WHERE run_id = ?",
    ],
)
def test_unreadable_columns_are_skipped_by_the_results_table(store_path, sql):
    damage(store_path, sql)
    for arguments in (["results"], ["results", "--format", "csv"]):
        result = reef(*arguments)
        assert_skipped_with_one_warning(result, result.stdout)


def test_a_damaged_row_in_an_old_store_survives_the_migration_and_is_skipped(reef_home):
    reef_home.mkdir(parents=True)
    path = reef_home / "results.sqlite"
    path.write_bytes((TESTS / "data" / "store-v2.sqlite").read_bytes())
    connection = sqlite3.connect(path)
    connection.execute("UPDATE runs SET record = '{\"run_id\": ' WHERE run_id = '20260101T000000Z-00000002'")
    connection.commit()
    connection.close()
    result = reef("results", "--format", "json")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "20260101T000000Z-00000002" in result.stderr
    assert len(json.loads(result.stdout)) == 5
    table = reef("results", "--all-columns")
    assert (
        table.returncode == 0 and table.stderr == ""
    )  # its columns were kept by the migration: the table still lists it
    assert table.stdout.count("20260101T000000Z-0000000") == 4
    connection = sqlite3.connect(path)
    assert (
        connection.execute("SELECT record FROM runs WHERE run_id = '20260101T000000Z-00000002'").fetchone()[0]
        == '{"run_id": '
    )
    connection.close()
