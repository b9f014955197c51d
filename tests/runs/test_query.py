"""Filters on recorded runs (reefnb.runs.query): ``--where`` and ``--since`` compiled to SQL, run here on a small
SQLite table of runs shaped as the store's (``runs r`` joined to a table of the solution's cells)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from reefnb.common.exceptions import QueryError
from reefnb.runs.query import MAX_DEPTH, MAX_EXPRESSION, Query, compile_filter, exact_number, since_timestamp

RUNS = [  # run_id, solution_id, status, started, backend, time_ms
    ("a", 1, "ok", "2026-01-01T10:00:00+00:00", "tflite", 3.5),
    ("b", 1, "ok", "2026-01-02T10:00:00+00:00", "onnx", 7.0),
    ("c", 1, "failed", "2026-01-03T10:00:00+00:00", "tflite", None),
    ("d", 1, "ok", "2026-01-04T10:00:00+00:00", None, 2.0),
    ("e", 2, "ok", "2026-01-05T10:00:00+00:00", "tflite", 1.0),
]
CELLS = {("param", "backend"): "c.backend", ("metric", "time_ms"): "c.time_ms"}


@pytest.fixture(scope="module")
def database():
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, solution_id, run_id, workflow, status, started, ended, "
        "duration_s, error)"
    )
    connection.execute("CREATE TABLE cells (run INTEGER, backend, time_ms)")
    for number, (run_id, solution, status, started, backend, time_ms) in enumerate(RUNS, start=1):
        connection.execute(
            "INSERT INTO runs (id, solution_id, run_id, workflow, status, started) VALUES (?, ?, ?, 'run', ?, ?)",
            (number, solution, run_id, status, started),
        )
        connection.execute("INSERT INTO cells VALUES (?, ?, ?)", (number, backend, time_ms))
    yield connection
    connection.close()


def matching(database, where: str | None = None, solution: int = 1, **query) -> list[str]:
    sql, arguments = compile_filter(Query(where=where, **query), solution, CELLS)
    rows = database.execute(
        f"SELECT r.run_id FROM runs r LEFT JOIN cells c ON c.run = r.id WHERE {sql} ORDER BY r.run_id", arguments
    )
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    ("where", "runs"),
    [
        (None, ["a", "b", "c", "d"]),
        ("param.backend == 'tflite'", ["a", "c"]),
        ("param['backend'] != 'tflite'", ["b"]),  # SQL: a missing value is neither equal nor unequal
        ("metric.time_ms < 5", ["a", "d"]),
        ("5 > metric.time_ms", ["a", "d"]),  # the constant first: the operator is flipped
        ("2 < metric.time_ms <= 7", ["a", "b"]),
        ("param.backend == 'tflite' and metric.time_ms < 5", ["a"]),
        ("param.backend == 'onnx' or not status == 'ok'", ["b", "c"]),
        ("param.backend in ('onnx', 'tflite')", ["a", "b", "c"]),
        ("run_id not in ['a', 'b']", ["c", "d"]),
        ("metric.time_ms == None", ["c"]),
        ("param.backend != None", ["a", "b", "c"]),
        ("param.unknown == 1", []),  # a parameter this solution does not have is missing in every run
        ("status == True", []),  # True is 1, as a cell keeps it
    ],
)
def test_a_where_expression_selects_the_runs_it_says(database, where, runs):
    assert matching(database, where) == runs


def test_status_since_and_solution_narrow_the_runs_too(database):
    assert matching(database, status="ok") == ["a", "b", "d"]
    assert matching(database, since="2026-01-03") == ["c", "d"]
    assert matching(database, solution=2) == ["e"]


def test_constants_are_bound_arguments_never_sql(database):
    sql, arguments = compile_filter(Query(where='status == "ok\' OR 1=1 --"'), 1, CELLS)
    assert "OR 1=1" not in sql and arguments == [1, "ok' OR 1=1 --"]
    assert matching(database, 'status == "ok\' OR 1=1 --"') == []


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("__import__('os').system('true')", "expected a comparison"),
        ("secret.key == 1", "unknown field 'secret.key'"),
        ("param.a == param.b", "expected a constant"),
        ("param.a < None", "None compares only with == or !="),
        ("param.a in ()", "'in' takes a non-empty list of constants"),
        ("param.a in (1, None)", "'in' takes no None"),
        ("param.a is 1", "unsupported operator"),
        ("param.a ==", "not an expression"),
        ("x" * (MAX_EXPRESSION + 1), f"longer than {MAX_EXPRESSION} characters"),
        ("not " * (MAX_DEPTH + 1) + "status == 'ok'", "too deeply nested"),
    ],
)
def test_what_is_not_a_filter_is_one_query_error(where, words):
    with pytest.raises(QueryError, match="^where") as raised:
        compile_filter(Query(where=where), 1, CELLS)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_since_takes_an_age_or_an_iso_time_in_utc_unless_it_says_otherwise():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    assert since_timestamp("90m", now) == "2026-03-10T10:30:00+00:00"
    assert since_timestamp(" 1.5h ", now) == "2026-03-10T10:30:00+00:00"
    assert since_timestamp("2w", now) == "2026-02-24T12:00:00+00:00"
    assert since_timestamp("2026-01-31") == "2026-01-31T00:00:00+00:00"
    assert since_timestamp("2026-01-31T12:00+02:00") == "2026-01-31T10:00:00+00:00"
    with pytest.raises(QueryError, match="not an ISO date/time"):
        since_timestamp("last tuesday")


def test_an_integer_is_kept_exactly_as_a_cell_can_hold_it():
    assert exact_number(2**63 - 1) == 2**63 - 1 and isinstance(exact_number(-(2**63)), int)
    assert exact_number(2**70) == float(2**70) and isinstance(exact_number(2**70), float)
    assert exact_number(2**64 + 1) == str(2**64 + 1)  # a float would round it
    assert exact_number(10**400) == str(10**400)  # beyond a float
