"""The results store: run records in SQLite (WAL, one transaction per batch, versioned schema).

Schema 3 keeps what repeats once and what is queried as columns:

- ``documents``: the parts of a record that many runs share (environment fingerprint, provenance,
  solution, origin), content-addressed (sha256 of their JSON) and stored once.
- ``runs``: one row per run: its id, solution, status, times, run key, the ids of its documents, and the
  rest of its record as JSON (with null where a value lives in a column or a document, so that the
  record comes back byte for byte, key order included).
- ``cells_N``: per solution N, one column per parameter, metric and ``system`` value (telemetry; kind ``sys``;
  ``columns`` maps names to columns),
  so that the results frame and ``--where`` filters read columns and never parse JSON.

Schema 4 adds each metric's goal (min/max) and number format to ``columns``, beside its unit: what the
newest record of the solution that carried them said (records keep them from the manifest at record time),
so that results whose solution's folder is not at hand still say which way is better.

Schema 5 keeps parameters, metrics and ``system`` values once: a value its cell column gives back exactly
(same JSON, type included) is left out of the record's JSON, and the shape says where it is (``_template``): so is
what many runs repeat (a metric's unit and goal, telemetry's constant notes, the notebook's path and hash, the
executed notebook's path around the run id), which the shape, a shared document, holds once.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import RecordPending, ReefError, StoreError, StoreLocked
from reefnb.common.files import write_text_atomically
from reefnb.common.paths import reef_home
from reefnb.kernel.recording import decode_value
from reefnb.runs.query import Query, compile_filter, exact_number
from reefnb.runs.telemetry import system_columns, system_units

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 60_000
# How long a write waits for another process's lock (seconds),
# saying so once; then a run's record is kept beside the store.
WAIT_VARIABLE = "REEF_STORE_WAIT"
PENDING_SUFFIX = "-pending"  # results.sqlite-pending/RUN_ID.json: records kept while the store could not be written
MAX_PENDING_BYTES = 256 * 2**20
# top-level values of a record kept in runs' columns (null in its JSON), and the parts kept as documents
LIFTED = ("run_id", "workflow", "status", "started", "ended", "duration_s", "run_key")
DOCUMENTS = ("solution", "environment", "provenance", "origin")
BOOLEAN, OTHER = 1, 2  # bits of columns.kinds: which kinds of value a cell column has held
HEX_KEY = re.compile(r"^[0-9a-f]{64}$")  # run keys like this are kept as 32 bytes
_SYSTEM_UNITS = system_units()  # sys.NAME -> unit of the telemetry columns


def _migration_1(connection: sqlite3.Connection) -> None:
    # One statement at a time: executescript would commit the migration's open transaction.
    connection.execute(
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            solution TEXT NOT NULL,
            solution_version TEXT NOT NULL,
            workflow TEXT NOT NULL,
            status TEXT NOT NULL,
            started TEXT NOT NULL,
            notebook_sha256 TEXT NOT NULL,
            record TEXT NOT NULL
        )"""
    )
    connection.execute("CREATE INDEX runs_by_solution ON runs (solution, started)")


def _migration_2(connection: sqlite3.Connection) -> None:
    # The run key (notebook, parameters, environment) lets a sweep skip runs already done.
    connection.execute("ALTER TABLE runs ADD COLUMN run_key TEXT")
    connection.execute("UPDATE runs SET run_key = json_extract(record, '$.run_key')")
    connection.execute("CREATE INDEX runs_by_key ON runs (run_key, status)")


def _create_tables(connection: sqlite3.Connection, runs: str = "runs") -> None:
    """The tables of the current schema (migration 3 writes records with the current code, so it makes them too)."""
    connection.execute(
        "CREATE TABLE documents (id INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE, body TEXT NOT NULL)"
    )
    connection.execute("CREATE TABLE solutions (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    connection.execute(
        """CREATE TABLE columns (solution INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            position INTEGER NOT NULL, unit TEXT, kinds INTEGER NOT NULL DEFAULT 0, goal TEXT, format TEXT,
            PRIMARY KEY (solution, kind, name)) WITHOUT ROWID"""
    )
    # Lifted columns have no declared type, so SQLite keeps each value's own type (2 stays 2, 2.0 stays 2.0).
    connection.execute(
        f"""CREATE TABLE {runs} (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, solution_id INTEGER NOT NULL,
            workflow, status, started, ended, duration_s, run_key, keyed INTEGER NOT NULL DEFAULT 0, error TEXT,
            solution, environment INTEGER, provenance INTEGER, origin INTEGER, shape INTEGER, record TEXT NOT NULL)"""
    )


def _index_schema_3(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE INDEX runs_by_solution ON runs (solution_id, started)")
    connection.execute("CREATE INDEX runs_by_key ON runs (run_key, status) WHERE keyed")


def _migration_3(connection: sqlite3.Connection) -> None:
    # Every record is kept: a row whose JSON cannot be read is carried over as it is (and skipped, with a
    # warning, when read), the others are split into columns, documents and cells like new records.
    _create_tables(connection, runs="runs_3")
    writer = _Writer(connection, runs="runs_3")
    cursor = connection.execute(
        "SELECT run_id, solution, workflow, status, started, record, run_key FROM runs ORDER BY rowid"
    )
    while batch := cursor.fetchmany(2000):
        for run_id, solution, workflow, status, started, text, run_key in batch:
            try:
                record = json.loads(text)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
                parts = _decompose(record, keyed=run_key is not None)
            except (ValueError, TypeError, KeyError, RecursionError):
                parts = _Parts(
                    run_id, solution, text, {"workflow": workflow, "status": status, "started": started}, shape=None
                )
            writer.insert(parts, "IGNORE")
    connection.execute("DROP TABLE runs")
    connection.execute("ALTER TABLE runs_3 RENAME TO runs")
    _index_schema_3(connection)


def _migration_4(connection: sqlite3.Connection) -> None:
    # Records written before schema 4 carry no goal or format (the run-record schema did not allow them).
    # A store migrated from schema 2 just now has these columns already (migration 3 made the current tables).
    present = {row[1] for row in connection.execute("PRAGMA table_info(columns)")}
    for name in ("goal", "format"):
        if name not in present:
            connection.execute(f"ALTER TABLE columns ADD COLUMN {name} TEXT")


def _migration_5(connection: sqlite3.Connection) -> None:
    # Parameters, metrics and system values kept once: each record's JSON and shape written again (its cells stay as
    # they are). A record whose new split would not give it back exactly as before keeps its old one, and so does
    # one that cannot be read (it is skipped when read, as before).
    writer = _Writer(connection)
    kept: dict[int, set] = {}  # solution -> the (kind, name) of its cell columns
    ids = [row[0] for row in connection.execute("SELECT id FROM runs WHERE shape IS NOT NULL ORDER BY id")]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = connection.execute(
            f"SELECT {RECORD_COLUMNS} FROM runs r WHERE r.id IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
        solutions = {row[0]: row[1] for row in rows}
        cells = _CellReader(connection, rows)
        for row, record in _assemble(connection, rows, "", warn=False, whole=False):
            solution = solutions[row]
            if solution not in kept:
                kept[solution] = set(
                    connection.execute("SELECT kind, name FROM columns WHERE solution = ?", (solution,))
                )
            try:
                parts = _decompose(record, keyed=False, documented=False)
                if not kept[solution].issuperset(parts.cells):  # a solution whose cells ran out of columns
                    parts = _decompose(
                        record, keyed=False, inline=frozenset(set(parts.cells) - kept[solution]), documented=False
                    )
                moved = [entry for entry in json.loads(parts.shape[1]) if entry[1] == "t"]  # the rest is where it was
                again = _rebuild(
                    moved,
                    json.loads(parts.text),
                    record,
                    record.__getitem__,
                    functools.partial(cells.of, solution, row),
                )
                if any(json.dumps(value) != json.dumps(record[name]) for name, value in again.items()):
                    continue
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
                continue
            connection.execute(
                "UPDATE runs SET record = ?, shape = ? WHERE id = ?", (parts.text, writer._document(*parts.shape), row)
            )
    used = " UNION ".join(f"SELECT {name} FROM runs WHERE {name} IS NOT NULL" for name in (*DOCUMENTS, "shape"))
    connection.execute(f"DELETE FROM documents WHERE id NOT IN ({used})")  # the shapes no run has now


# Migration N brings a store at user_version N-1 to N. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
]
# What each cell column keeps beside its position and kinds: a metric's unit, goal and format (columns' own names).
MEANING = ("unit", "goal", "format")


@dataclass
class _Parts:
    """A record split for the store: what goes in runs' columns, in documents, in cells, and the JSON left."""

    run_id: str
    solution_name: str
    text: str
    lifted: dict[str, Any]
    shape: tuple[bytes, str] | None = None
    keyed: bool = False
    error: str | None = None
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    cells: dict[tuple[str, str], tuple[Any, int]] = field(default_factory=dict)
    meaning: dict[str, dict[str, str]] = field(default_factory=dict)  # metric name -> unit, goal, format (those given)
    record: dict | None = None  # the record split (to split it again when a cell finds no column)


def _liftable(value: Any) -> bool:
    """Whether SQLite gives this value back as the same JSON (type included)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _cell(value: Any) -> tuple[Any, int]:
    """A parameter or metric value as stored in its cell column, and its kind bit."""
    if isinstance(value, bool):
        return int(value), BOOLEAN
    if value is None:
        return None, 0
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True), OTHER
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return exact_number(value), OTHER
    return value, OTHER


def _document_of(value: Any) -> tuple[bytes, str]:
    body = json.dumps(value, separators=(",", ":"))
    return hashlib.sha256(body.encode()).digest(), body


# Objects of a record whose values are kept in cells (schema 5): the record's key -> the cells' kind.
TEMPLATED = {"parameters": "param", "metrics": "metric", "system": "sys"}
# Objects whose text values many runs repeat (the executed notebook's path holds the run id): kept in the shape.
CONSTANT_TEXT = ("notebook",)


def _exact(value: Any) -> bool:
    """Whether a cell gives this value back as the same JSON (booleans are marked as such in the shape)."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _constant(value: Any) -> bool:
    """Whether a value of a record is kept in its shape as it is: what
    many runs repeat (none, a flag, an empty list or object)."""
    return value is None or isinstance(value, bool) or (isinstance(value, (list, dict)) and not value)


def _template(
    name: str, value: dict, kind: str | None, run_id: str, cells: Iterable[tuple[str, str]]
) -> tuple[list, dict]:
    """How an object of the record is kept: its items in order, each ``[key, how, ...]``, and the rest of its JSON.

    how: ``k`` a constant (the item's third element), ``r`` text around the run id (prefix, suffix), ``j`` in the
    JSON, ``v`` the cell (KIND, key) as it is, ``b`` that cell as a boolean, ``m`` a metric object whose ``value``
    is that cell: ``[key, "m", boolean, fields]``, fields in order, ``[field, constant]`` or ``["value"]``.
    """
    items, rest = [], {}
    for key, item in value.items():
        cell = (kind, key) in cells
        if cell and kind == "metric":
            if isinstance(item, dict) and "value" in item and "special" not in item and _exact(item["value"]):
                fields = [["value"] if field == "value" else [field, content] for field, content in item.items()]
                items.append([key, "m", int(isinstance(item["value"], bool)), fields])
                continue
        elif (
            cell
            and _exact(item)
            and (kind == "param" or (isinstance(item, (int, float)) and not isinstance(item, bool)))
        ):
            items.append([key, "b" if isinstance(item, bool) else "v"])
            continue
        if kind == "sys" and (item is None or isinstance(item, (str, bool))):
            items.append([key, "k", item])  # telemetry's notes (series file, why energy is not measured)
        elif kind is None and isinstance(item, str) and item.count(run_id) == 1 and run_id:
            items.append([key, "r", *item.split(run_id)])
        elif kind is None and (isinstance(item, str) or _constant(item)):
            items.append([key, "k", item])
        else:
            items.append([key, "j"])
            rest[key] = item
    return items, rest


def _decompose(record: dict, keyed: bool, inline: frozenset = frozenset(), documented: bool = True) -> _Parts:
    """Split a record: lifted values to columns, shared parts to documents, parameters, metrics and ``system`` to
    cells (``_template``), the rest to JSON; the shape (its keys in order, each with where its value went: c column,
    d document, j JSON, k the shape itself, t an object of ``_template``) is a document too. ``inline``: cells
    that the solution's table has no column for, kept in the JSON instead. ``documented`` False: the documents are
    not written out (a migration keeps those it has)."""
    cells, meaning = {}, {}
    for name, value in (record.get("parameters") or {}).items():
        cells[("param", name)] = _cell(value)
    for name, metric in (record.get("metrics") or {}).items():
        metric = metric if isinstance(metric, dict) else {"value": metric}
        cells[("metric", name)] = _cell(decode_value(metric))
        given = {key: str(metric[key]) for key in MEANING if metric.get(key)}
        if given:
            meaning[name] = given
    for column, value in system_columns(record.get("system")).items():
        cells[("sys", column.removeprefix("sys."))] = _cell(value)
    kept = {key for key in cells if key not in inline}
    rest, lifted, documents, shape = {}, {}, {}, []
    run_id = record["run_id"]
    for name, value in record.items():
        if name in LIFTED and _liftable(value):
            lifted[name] = bytes.fromhex(value) if name == "run_key" and HEX_KEY.fullmatch(value) else value
            shape.append([name, "c"])
        elif name in DOCUMENTS and value is not None:
            if documented:
                documents[name] = _document_of(value)
            shape.append([name, "d"])
        elif (name in TEMPLATED or name in CONSTANT_TEXT) and isinstance(value, dict) and isinstance(run_id, str):
            items, left = _template(name, value, TEMPLATED.get(name), run_id, kept)
            shape.append([name, "t", items])
            if left:
                rest[name] = left
        elif _constant(value) and name != "run_id":
            shape.append([name, "k", value])
        else:
            rest[name] = value
            shape.append([name, "j"])
    error = record.get("error") if isinstance(record.get("error"), dict) else {}
    return _Parts(
        run_id=run_id,
        solution_name=record["solution"]["name"],
        text=json.dumps(rest, separators=(",", ":")),
        lifted=lifted,
        shape=_document_of(shape),
        keyed=keyed and record.get("run_key") is not None,
        error=": ".join(str(part) for part in (error.get("name"), error.get("message")) if part) or None,
        documents=documents,
        cells=cells,
        meaning=meaning,
        record=record,
    )


def _rebuild(
    shape: list, rest: dict, columns: dict[str, Any], documents: Callable[[str], Any], cells: Callable[[], dict]
) -> dict:
    """A record put together from its shape: ``columns`` the runs' columns by name, ``documents`` a part by name,
    ``cells`` (called when needed) the run's cells by (kind, name). KeyError when a part is missing."""
    record = {}
    for name, source, *more in shape:
        if source == "c":
            record[name] = columns[name]
        elif source == "d":
            record[name] = documents(name)
        elif source == "k":
            record[name] = more[0]
        elif source == "t":
            record[name] = _rebuild_object(name, more[0], rest.get(name) or {}, columns["run_id"], cells)
        else:
            record[name] = rest[name]
    return record


def _rebuild_object(name: str, items: list, rest: dict, run_id: str, cells: Callable[[], dict]) -> dict:
    kind = TEMPLATED.get(name)
    value = {}
    for key, how, *more in items:
        if how == "k":
            value[key] = more[0]
        elif how == "r":
            value[key] = run_id.join(more)
        elif how == "j":
            value[key] = rest[key]
        elif how in ("v", "b"):
            found = cells()[(kind, key)]
            value[key] = bool(found) if how == "b" and found is not None else found
        elif how == "m":
            found = cells()[(kind, key)]
            found = bool(found) if more[0] and found is not None else found
            value[key] = {field[0]: found if len(field) == 1 else field[1] for field in more[1]}
        else:
            raise KeyError(f"{name}.{key}: unknown source {how!r}")
    return value


# what _assemble reads of a run (``r``): its row, solution, JSON, shape, lifted columns and documents
RECORD_COLUMNS = "r.id, r.solution_id, r.record, r.shape, " + ", ".join(f"r.{name}" for name in (*LIFTED, *DOCUMENTS))


def _assemble(
    connection: sqlite3.Connection, rows: Iterable[tuple], path: Path | str, warn: bool = True, whole: bool = True
) -> list[tuple[int, dict]]:
    """(row id, record) from rows of RECORD_COLUMNS, each put together in its shape's order; a record that cannot
    be read is skipped (with a warning naming its run id, when ``warn``). ``whole`` False: the parts kept as
    documents but the solution are left as True (for a migration, which does not move them)."""
    rows = list(rows)
    bodies: dict[int, Any] = {}

    def document(number: int) -> Any:
        if number not in bodies:
            bodies[number] = connection.execute("SELECT body FROM documents WHERE id = ?", (number,)).fetchone()[0]
        return json.loads(bodies[number])

    found_cells = _CellReader(connection, rows)
    records = []
    for row, solution, text, shape, *values in rows:
        columns = dict(zip(LIFTED, values[: len(LIFTED)], strict=True))
        documents = dict(zip(DOCUMENTS, values[len(LIFTED) :], strict=True))
        if isinstance(columns["run_key"], bytes):
            columns["run_key"] = columns["run_key"].hex()
        try:
            rest = json.loads(text)
            if not isinstance(rest, dict):
                raise ValueError("not a JSON object")
            if shape is None:  # carried over unreadable from an older schema, and now readable
                records.append((row, rest))
                continue
            parts = functools.partial(_part if whole else _solution_part, document, documents)
            record = _rebuild(document(shape), rest, columns, parts, functools.partial(found_cells.of, solution, row))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as error:
            if warn:
                log.warning(
                    "%s: run %s: unreadable record (%s), skipped",
                    path,
                    columns["run_id"],
                    str(error).splitlines()[0][:120],
                )
            continue
        records.append((row, record))
    return records


def _part(document: Callable[[int], Any], documents: dict[str, int], name: str) -> Any:
    return document(documents[name])


def _solution_part(document: Callable[[int], Any], documents: dict[str, int], name: str) -> Any:
    return document(documents[name]) if name == "solution" else True


class _CellReader:
    """The cells of the runs of some rows, read per solution (500 runs a statement) the first time one is asked for."""

    def __init__(self, connection: sqlite3.Connection, rows: list[tuple]):
        self.connection = connection
        self.runs: dict[int, list[int]] = {}  # solution -> its runs among the rows
        for row in rows:
            self.runs.setdefault(row[1], []).append(row[0])
        self.cells: dict[int, dict[int, dict]] = {}  # solution -> run -> {(kind, name): value}

    def of(self, solution: int, run: int) -> dict:
        if solution not in self.cells:
            columns = list(
                self.connection.execute("SELECT kind, name, position FROM columns WHERE solution = ?", (solution,))
            )
            found: dict[int, dict] = {}
            runs = self.runs[solution]
            for start in range(0, len(runs), 500):
                chunk = runs[start : start + 500]
                selected = "".join(", " + _ident(position) for _, _, position in columns)
                marks = ",".join("?" * len(chunk))
                for number, *values in self.connection.execute(
                    f"SELECT run{selected} FROM cells_{solution} WHERE run IN ({marks})", chunk
                ):
                    found[number] = {
                        (kind, name): value for (kind, name, _), value in zip(columns, values, strict=True)
                    }
            self.cells[solution] = found
        return self.cells[solution][run]


def _ident(position: int) -> str:
    return f"c{position}"


class _Writer:
    """Inserts split records in one open transaction, creating solutions, documents and cell columns as needed."""

    def __init__(self, connection: sqlite3.Connection, runs: str = "runs"):
        self.connection, self.runs = connection, runs
        self.solutions: dict[str, int] = dict(connection.execute("SELECT name, id FROM solutions"))
        self.documents: dict[bytes, int] = {}
        self.columns: dict[int, dict[tuple[str, str], list]] = {}
        # A solution's cells and the frame's base columns must fit
        # one SELECT (SQLite: 2000 columns unless built otherwise).
        self.most_columns = _limit(connection, "SQLITE_LIMIT_COLUMN", 2000) - len(FRAME_BASE)
        self.full: set[int] = set()  # solutions whose cells could not take a value of this batch (said once)

    def insert(self, parts: _Parts, conflict: str) -> bool:
        execute = self.connection.execute
        existing = execute(f"SELECT id, solution_id FROM {self.runs} WHERE run_id = ?", (parts.run_id,)).fetchone()
        if existing:
            if conflict == "IGNORE":
                return False
            execute(f"DELETE FROM cells_{existing[1]} WHERE run = ?", (existing[0],))
            execute(f"DELETE FROM {self.runs} WHERE id = ?", (existing[0],))
        solution = self._solution(parts.solution_name)
        cells, left = {}, []
        for key, (value, bits) in parts.cells.items():
            position = self._column(
                solution,
                key,
                bits,
                parts.meaning.get(key[1], {}) if key[0] == "metric" else {"unit": _SYSTEM_UNITS.get(".".join(key))},
            )
            if position is None:
                left.append(key)
            else:
                cells[_ident(position)] = value
        if left and parts.record is not None:  # kept in the record's JSON instead
            parts = _decompose(parts.record, parts.keyed, inline=frozenset(left))
        if left and solution not in self.full:
            self.full.add(solution)
            more = f" and {len(left) - 1} more" if len(left) > 1 else ""
            log.warning(
                "solution %s has the most result columns the store gives a solution (%d): %s%s of run %s kept "
                "in its record only (not in results() or --where)",
                parts.solution_name,
                self.most_columns - 1,
                ".".join(left[0])[:80],
                more,
                parts.run_id,
            )
        documents = {
            name: self._document(*parts.documents[name]) if name in parts.documents else None for name in DOCUMENTS
        }
        row = execute(
            f"INSERT INTO {self.runs} (run_id, solution_id, workflow, status, started, ended, duration_s, "
            "run_key, keyed, error,"
            " solution, environment, provenance, origin, shape, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?)",
            (
                parts.run_id,
                solution,
                *(parts.lifted.get(name) for name in LIFTED[1:]),
                int(parts.keyed),
                parts.error,
                *documents.values(),
                self._document(*parts.shape) if parts.shape else None,
                parts.text,
            ),
        ).lastrowid
        names = list(cells)
        first, rest = names[:500], names[500:]  # an old SQLite takes 999 values in a statement
        listed = "".join(", " + name for name in first)
        execute(
            f"INSERT INTO cells_{solution} (run{listed}) VALUES (?{', ?' * len(first)})",
            (row, *(cells[name] for name in first)),
        )
        for start in range(0, len(rest), 500):
            chunk = rest[start : start + 500]
            execute(
                f"UPDATE cells_{solution} SET {', '.join(f'{name} = ?' for name in chunk)} WHERE run = ?",
                (*(cells[name] for name in chunk), row),
            )
        return True

    def _solution(self, name: str) -> int:
        if name not in self.solutions:
            number = self.connection.execute("INSERT INTO solutions (name) VALUES (?)", (name,)).lastrowid
            self.connection.execute(f"CREATE TABLE cells_{number} (run INTEGER PRIMARY KEY)")
            self.solutions[name] = number
        return self.solutions[name]

    def _document(self, digest: bytes, body: str) -> int:
        if digest not in self.documents:
            self.connection.execute("INSERT OR IGNORE INTO documents (sha256, body) VALUES (?, ?)", (digest, body))
            self.documents[digest] = self.connection.execute(
                "SELECT id FROM documents WHERE sha256 = ?", (digest,)
            ).fetchone()[0]
        return self.documents[digest]

    def _column(self, solution: int, key: tuple[str, str], bits: int, meaning: dict[str, str | None]) -> int | None:
        """The position of a cell column (added when new; None when the solution has as many as it can have); its
        kinds and meaning (unit, goal, format) updated with what this record says (a value it gives replaces the one
        kept, one it leaves out keeps it)."""
        if solution not in self.columns:
            self.columns[solution] = {
                (kind, name): [position, kinds, *given]
                for kind, name, position, kinds, *given in self.connection.execute(
                    f"SELECT kind, name, position, kinds, {', '.join(MEANING)} FROM columns WHERE solution = ?",
                    (solution,),
                )
            }
        known = self.columns[solution]
        wanted = [meaning.get(name) for name in MEANING]
        if key not in known:
            if len(known) >= self.most_columns - 1:  # cells_N has its run column too
                return None
            position = len(known) + 1
            self.connection.execute(f"ALTER TABLE cells_{solution} ADD COLUMN {_ident(position)}")
            self.connection.execute(
                f"INSERT INTO columns (solution, kind, name, position, kinds, {', '.join(MEANING)}) VALUES (?, "
                "?, ?, ?, ?, ?, ?, ?)",
                (solution, *key, position, bits, *wanted),
            )
            known[key] = [position, bits, *wanted]
        entry = known[key]
        updated = [bits | entry[1], *(new or old for new, old in zip(wanted, entry[2:], strict=True))]
        if updated != entry[1:]:
            entry[1:] = updated
            self.connection.execute(
                f"UPDATE columns SET kinds = ?, {', '.join(f'{name} = ?' for name in MEANING)} WHERE solution "
                "= ? AND kind = ? AND name = ?",
                (*updated, solution, *key),
            )
        return entry[0]


@dataclass
class ResultRows:
    """The rows of the results frame as the store reads them (``frame.results`` builds the DataFrame).

    ``names``: the column of each value in ``rows`` (``solution``, ``environment`` and ``origin`` are
    document ids, resolved through ``documents``); ``booleans``: cell columns that held only booleans;
    ``units``: metric column -> unit; ``skipped``: run ids left out because a value could not be read;
    ``goals`` and ``formats``: metric column -> goal (min/max) and number format, as the records kept them.
    """

    names: list[str]
    rows: list[tuple]
    documents: dict[int, Any]
    booleans: set[str]
    units: dict[str, str]
    skipped: list[str]
    goals: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)


FRAME_BASE = (
    "run_id",
    "workflow",
    "status",
    "started",
    "ended",
    "duration_s",
    "error",
    "solution",
    "environment",
    "origin",
)


class Store:
    """Run records in one SQLite file; safe for many processes writing at once.

    Nothing is opened until a method needs the file. Every method raises ``StoreError`` (a ``ReefError``)
    when the file cannot be opened, read or written, or holds a schema newer than this reefnb knows; a
    store whose file does not exist yet reads as empty.

    Another process's write lock is waited for, up to ``$REEF_STORE_WAIT`` seconds (default 60), with one line
    saying so once the wait passes a second; then ``StoreLocked``. A run's record that cannot be written
    (``add``, ``add_many``) is never dropped: it is kept beside the store (``results.sqlite-pending/RUN_ID.json``),
    added the next time the store is opened (said in one line), and ``RecordPending`` says where it is.

    Parameters
    ----------
    path
        The SQLite file (default: ``$REEF_HOME/results.sqlite``), made with its folder on the first write.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else reef_home() / "results.sqlite"

    @property
    def pending_folder(self) -> Path:
        """Where the records this store could not take wait to be added: ``results.sqlite-pending/`` beside it."""
        return self.path.with_name(self.path.name + PENDING_SUFFIX)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This process's connection to the store (see ``_opened``)."""
        with self._opened() as entry:
            yield entry.connection

    @contextlib.contextmanager
    def _opened(self) -> Iterator[_Open]:
        """This process's connection to the store (one per file, kept open: see ``_Open``), held by this thread
        while inside. Each time, ``$REEF_STORE_WAIT`` is read again, the schema's version checked (and migrated) and
        records kept beside the store added."""
        key = os.path.abspath(self.path)
        entry = _open_connection(key)
        if entry is None:
            connection = self._connect()
            entry = _keep_connection(key, connection, _identity(key))
        else:
            with entry.lock:
                wait = store_wait()
                if wait != entry.wait:
                    entry.connection.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
                    entry.wait = wait
                try:
                    if self._migrate(entry.connection, wait):  # another process may have changed its schema since
                        entry.writer = None
                    if os.path.isdir(self.pending_folder):
                        entry.writer = None
                        self._add_pending(entry.connection)
                except sqlite3.DatabaseError as error:
                    if _locked(error):
                        raise StoreLocked(f"{self.path}: locked by another process: {error}") from None
                    _forget_connection(key, entry)
                    raise StoreError(f"{self.path}: not a usable results store: {error}") from None
        with entry.lock:
            try:
                yield entry
            except sqlite3.DatabaseError as error:
                if not _locked(error):  # a file changed under it (not a store any more): open it afresh next time
                    _forget_connection(key, entry)
                raise

    def _connect(self) -> sqlite3.Connection:
        wait = store_wait()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Any thread of the process may use it (the Lab server's
            # handlers run in a thread pool): _Open.lock serialises.
            connection = sqlite3.connect(self.path, timeout=wait, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"{self.path}: cannot open the results store: {error}") from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            # Switching to WAL needs a moment without other writers; busy_timeout does not cover it.
            self._waiting(connection, lambda: connection.execute("PRAGMA journal_mode = WAL"), wait)
            connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate(connection, wait)
            self._add_pending(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            if _locked(error):
                raise StoreLocked(f"{self.path}: locked by another process: {error}") from None
            raise StoreError(f"{self.path}: not a usable results store: {error}") from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _waiting(self, connection: sqlite3.Connection, action: Callable[[], Any], wait: float) -> Any:
        """``action`` (a statement that takes a lock), tried again while another process holds the lock, for up to
        ``wait`` seconds; one line says so once the lock was waited for quietly (a second, or half the wait when that
        is shorter). StoreLocked when the wait is over."""
        started = time.monotonic()
        said = False
        try:
            while True:
                left = wait - (time.monotonic() - started)
                quiet = min(left, 1.0) if said else min(wait / 2, 1.0)
                connection.execute(f"PRAGMA busy_timeout = {int(max(0.0, quiet) * 1000)}")
                try:
                    return action()
                except sqlite3.OperationalError as error:
                    if not _locked(error):
                        raise
                    waited = time.monotonic() - started
                    if waited >= wait:
                        raise StoreLocked(
                            f"{self.path}: locked by another process for {waited:.1f} s (reef waits {wait:g} "
                            f"s: {WAIT_VARIABLE})"
                        ) from None
                    if not said and waited >= min(wait / 2, 1.0):
                        log.warning(
                            "%s: store locked by another process, waiting (up to %g s: %s)...",
                            self.path,
                            wait,
                            WAIT_VARIABLE,
                        )
                        said = True
                    time.sleep(0.05)
        finally:
            connection.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")

    def _migrate(self, connection: sqlite3.Connection, wait: float) -> bool:
        """Bring the store's schema to this code's (False when it is already); StoreError when it is newer."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == len(MIGRATIONS):
            return False
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: results store schema version {version} is newer than this reefnb knows "
                f"({len(MIGRATIONS)}); upgrade reefnb"
            )
        self._waiting(connection, lambda: connection.execute("BEGIN IMMEDIATE"), wait)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            if version == 0:  # a new store: the current schema at once
                _create_tables(connection)
                _index_schema_3(connection)
                version = len(MIGRATIONS)
                connection.execute(f"PRAGMA user_version = {version}")
            for number in range(version + 1, len(MIGRATIONS) + 1):
                MIGRATIONS[number - 1](connection)
                connection.execute(f"PRAGMA user_version = {number}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return True

    def add(self, record: dict) -> None:
        """Store one run record, atomically (its own transaction).

        Parameters
        ----------
        record
            The run record; an existing record of its run id is replaced.

        Raises
        ------
        RecordPending
            When the store cannot be written (locked by another process past ``$REEF_STORE_WAIT``, read-only, not
            a store): the record is kept beside the store and added when the store is next opened.
        StoreError
            When the record cannot be stored at all (not a run record).
        """
        self.add_many([record])

    def add_many(self, records: Iterable[dict]) -> None:
        """Store records in one transaction; an existing run id is replaced.

        Parameters
        ----------
        records
            The run records.

        Raises
        ------
        RecordPending
            When the store cannot be written: the records are kept beside it, as ``add`` keeps one.
        StoreError
            When a record cannot be stored at all (not a run record).
        """
        records = list(records)
        prepared = self._prepare(records, keyed=True)
        try:
            self._write(prepared, "REPLACE")
        except StoreError as error:
            raise self._keep_pending(records, error) from None

    def _keep_pending(self, records: list[dict], error: StoreError) -> StoreError:
        """Keep records the store could not take in ``pending_folder``; the error to raise, saying where they are."""
        folder = self.pending_folder
        try:
            for record in records:
                name = str(record["run_id"])
                name = (
                    name if _SAFE_NAME.fullmatch(name) else hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()
                )
                write_text_atomically(folder / f"{name}.json", json.dumps(record, separators=(",", ":")))
        except (OSError, ValueError, TypeError) as problem:
            return StoreError(
                f"{error}; the record could not be kept beside the store either ({folder}: {problem}): its "
                "notebook is in runs/"
            )
        which = (
            f"the record of run {records[0]['run_id']} is" if len(records) == 1 else f"{len(records)} run records are"
        )
        return RecordPending(f"{error}; {which} kept in {folder} and added when the store is next opened")

    def _add_pending(self, connection: sqlite3.Connection) -> None:
        """Add the records kept while the store could not be written, said in one line; when the store is still
        locked they wait for the next time. A file that is no record is set aside (``.unreadable``) with a warning."""
        folder = self.pending_folder
        if not folder.is_dir():
            return
        found: dict[Path, _Parts] = {}
        for path in sorted(folder.glob("*.json")):
            try:
                if path.stat().st_size > MAX_PENDING_BYTES:
                    raise ValueError(f"larger than {MAX_PENDING_BYTES} bytes")
                record = json.loads(path.read_text(encoding="utf-8"))
                found[path] = _decompose(record, keyed=True)
            except FileNotFoundError:  # another process added it just now
                continue
            except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError) as error:
                reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
                log.warning("%s: not a run record (%s), set aside as %s.unreadable", path, reason, path.name)
                path.replace(path.with_name(path.name + ".unreadable"))
        if not found:
            return
        try:
            connection.execute("PRAGMA busy_timeout = 200")
            connection.execute("BEGIN IMMEDIATE")
            writer = _Writer(connection)
            for parts in found.values():
                writer.insert(parts, "REPLACE")
            connection.execute("COMMIT")
        except sqlite3.Error as error:  # still locked (or read-only): they wait for the next time
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            (log.debug if _locked(error) else log.warning)(
                "%s: the records kept in %s are not added yet: %s", self.path, folder, error
            )
            return
        finally:
            connection.execute(f"PRAGMA busy_timeout = {int(store_wait() * 1000)}")
        for path in found:
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # gone once empty (a file set aside stays, and so does the folder)
            folder.rmdir()
        log.warning(
            "%s: added %d run record(s) kept beside the store while it could not be written (%s)",
            self.path,
            len(found),
            folder,
        )

    def merge(self, records: Iterable[dict]) -> int:
        """Store the records whose run id is not here yet, in one transaction.

        Merging the same records again changes nothing, and a run recorded here is never replaced.
        Merged runs (others' runs, from a registry) get no run key, so a sweep here never skips a point for them.

        Parameters
        ----------
        records
            The run records, typically others' runs pulled from a registry.

        Returns
        -------
        int
            How many records were new.
        """
        return self._insert(records, "IGNORE", keyed=False)

    def _insert(self, records: Iterable[dict], conflict: str, keyed: bool = True) -> int:
        return self._write(self._prepare(records, keyed), conflict)

    def _prepare(self, records: Iterable[dict], keyed: bool) -> list[_Parts]:
        """Records split for the store (JSON and hashes before the write lock); StoreError for one that is no record."""
        prepared = []
        for record in records:
            try:
                prepared.append(_decompose(record, keyed))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError) as error:
                run_id = record.get("run_id") if isinstance(record, dict) else None
                raise StoreError(
                    f"{self.path}: run {str(run_id)[:80]}: cannot store this record ({type(error).__name__}: "
                    f"{str(error)[:200]})"
                ) from None
        return prepared

    def _write(self, prepared: list[_Parts], conflict: str) -> int:
        try:
            with self._opened() as entry:
                connection = entry.connection
                try:
                    self._waiting(connection, lambda: connection.execute("BEGIN IMMEDIATE"), store_wait())
                    # What the last write here learnt (solution ids, cell columns, document ids) holds while no other
                    # connection has written since (data_version); this connection's own commits do not change it.
                    version = connection.execute("PRAGMA data_version").fetchone()[0]
                    writer = (
                        entry.writer if entry.writer is not None and entry.version == version else _Writer(connection)
                    )
                    writer.full = set()
                    entry.writer = None
                    changed = sum(writer.insert(parts, conflict) for parts in prepared)
                    connection.execute("COMMIT")
                    if len(writer.documents) < 10_000:
                        entry.writer, entry.version = writer, version
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, OverflowError) as error:
            raise (StoreLocked if _locked(error) else StoreError)(
                f"{self.path}: cannot write run record: {error}"
            ) from None
        return changed

    def _read(self, action: Callable[[sqlite3.Connection], Any], what: str) -> Any:
        try:
            with self._connection() as connection:
                try:
                    return action(connection)
                finally:
                    if connection.in_transaction:  # a read left unfinished (an error in the middle)
                        connection.execute("ROLLBACK")
        except sqlite3.Error as error:
            raise (StoreLocked if _locked(error) else StoreError)(f"{self.path}: cannot read {what}: {error}") from None

    _RECORD_COLUMNS = RECORD_COLUMNS

    def records(
        self, solution: str | None = None, status: str | None = None, where: str | None = None, since: str | None = None
    ) -> list[dict]:
        """Run records, oldest first, optionally filtered.

        A row whose record cannot be read is skipped with a warning naming its run id.

        Parameters
        ----------
        solution
            Only the runs of the solution of this name.
        status
            Only the runs that ended in this status.
        where
            A filter expression (see ``reefnb.results``).
        since
            An ISO date/time or an age (see ``reefnb.results``).

        Returns
        -------
        list of dict
            The matching run records, oldest first.
        """
        if not self.path.exists():
            return []
        query = Query(solution=solution, status=status, where=where, since=since)

        def read(connection: sqlite3.Connection) -> list[dict]:
            ids = self._matching_ids(connection, query)
            rows = connection.execute(
                f"SELECT {self._RECORD_COLUMNS} FROM runs r WHERE r.id IN ({ids[0]}) ORDER BY r.started, r.run_id",
                ids[1],
            )
            return self._assemble(connection, rows)

        return self._read(read, "run records")

    def get(self, run_id: str) -> dict | None:
        """One run record by id, exactly as it was recorded (same values, same key order).

        Parameters
        ----------
        run_id
            The run's id.

        Returns
        -------
        dict or None
            The record, or None when no run has that id.
        """
        if not self.path.exists():
            return None

        def read(connection: sqlite3.Connection) -> dict | None:
            rows = connection.execute(f"SELECT {self._RECORD_COLUMNS} FROM runs r WHERE r.run_id = ?", (run_id,))
            found = self._assemble(connection, rows)
            return found[0] if found else None

        return self._read(read, f"run record {run_id}")

    def known_run_ids(self, run_ids: list[str]) -> set[str]:
        """Which of ``run_ids`` are in the store (so a pull parses only records it does not have yet).

        Parameters
        ----------
        run_ids
            The run ids to look for.

        Returns
        -------
        set of str
            Those of ``run_ids`` that are in the store.
        """
        if not run_ids or not self.path.exists():
            return set()

        def read(connection: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                found.update(
                    row[0]
                    for row in connection.execute(
                        f"SELECT run_id FROM runs WHERE run_id IN ({','.join('?' * len(chunk))})", chunk
                    )
                )
            return found

        return self._read(read, "run ids")

    def records_by_key(self, keys: list[str], status: str = "ok") -> dict[str, dict]:
        """The newest record of each run key that ended in ``status``.

        Merged runs (see ``merge``) have no run key and are never found here.

        Parameters
        ----------
        keys
            Run keys (what makes two runs the same run: notebook content, parameters, environment).
        status
            The status the runs ended in.

        Returns
        -------
        dict
            Run key -> its newest record, for the keys that have one.
        """
        if not keys or not self.path.exists():
            return {}

        def read(connection: sqlite3.Connection) -> dict[str, dict]:
            found: dict[str, dict] = {}
            for start in range(0, len(keys), 500):
                chunk = [bytes.fromhex(key) if HEX_KEY.fullmatch(key) else key for key in keys[start : start + 500]]
                rows = connection.execute(
                    f"SELECT {self._RECORD_COLUMNS} FROM runs r WHERE r.keyed AND r.status = ? AND r.run_key IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY r.started, r.run_id",
                    [status, *chunk],
                )
                found.update({record["run_key"]: record for record in self._assemble(connection, rows)})
            return found

        return self._read(read, "run records")

    def _assemble(self, connection: sqlite3.Connection, rows: Iterable[tuple]) -> list[dict]:
        """Records from rows of _RECORD_COLUMNS, put together in their shape's order."""
        return [record for _, record in _assemble(connection, rows, self.path)]

    def _matching_ids(self, connection: sqlite3.Connection, query: Query) -> tuple[str, list]:
        """SQL selecting the ids of the runs that match, with its arguments (a union over the solutions' cells)."""
        parts, arguments = [], []
        for solution, columns in self._solutions(connection, query.solution).items():
            sql, args = compile_filter(
                query, solution, {key: f"c.{_ident(column[0])}" for key, column in columns.items()}
            )
            parts.append(f"SELECT r.id FROM runs r LEFT JOIN cells_{solution} c ON c.run = r.id WHERE {sql}")
            arguments += args
        return (
            _union_all(parts, _limit(connection, "SQLITE_LIMIT_COMPOUND_SELECT", 500)) or "SELECT NULL WHERE 0"
        ), arguments

    @staticmethod
    def _solutions(connection: sqlite3.Connection, name: str | None) -> dict[int, dict[tuple[str, str], tuple]]:
        """Solution id -> {(kind, name): (position, unit, kinds, goal, format)}, for one solution or all."""
        solutions: dict[int, dict] = {}
        found = connection.execute(
            "SELECT id FROM solutions" + (" WHERE name = ?" if name is not None else " ORDER BY id"),
            () if name is None else (name,),
        )
        for (number,) in found.fetchall():
            solutions[number] = {
                (kind, column): (position, unit, kinds, goal, format_)
                for kind, column, position, unit, kinds, goal, format_ in connection.execute(
                    "SELECT kind, name, position, unit, kinds, goal, format FROM columns WHERE solution = ? "
                    "ORDER BY position",
                    (number,),
                )
            }
        return solutions

    def result_rows(
        self,
        solution: str | None = None,
        status: str | None = None,
        where: str | None = None,
        since: str | None = None,
        columns: list[str] | None = None,
    ) -> ResultRows:
        """The matching runs as rows for the results frame, oldest first, reading only the columns asked for.

        Parameters
        ----------
        solution, status, where, since
            The filters, as ``records`` takes them.
        columns
            ``param.NAME``, ``metric.NAME`` or a bare metric name: the parameter and metric columns to
            read (None: all).

        Returns
        -------
        ResultRows
            The rows, their column names and what the frame needs to type and label them.
        """
        empty = ResultRows(list(FRAME_BASE), [], {}, set(), {}, [])
        if not self.path.exists():
            return empty
        query = Query(solution=solution, status=status, where=where, since=since)
        wanted = None if columns is None else set(columns)
        return self._read(lambda connection: self._result_rows(connection, query, wanted) or empty, "run records")

    def _result_rows(self, connection: sqlite3.Connection, query: Query, wanted: set[str] | None) -> ResultRows | None:
        solutions = self._solutions(connection, query.solution)
        keys: dict[tuple[str, str], None] = {}
        for columns in solutions.values():
            keys.update(
                dict.fromkeys(
                    key for key in columns if wanted is None or f"{key[0]}.{key[1]}" in wanted or key[1] in wanted
                )
            )
        names = [*FRAME_BASE, *(f"{kind}.{name}" for kind, name in keys)]
        selects, arguments, booleans, units, goals, formats = [], [], set(), {}, {}, {}
        apart = []  # each solution's own columns, for a union wider than a SELECT may be
        for solution, columns in solutions.items():
            sql, args = compile_filter(
                query, solution, {key: f"c.{_ident(column[0])}" for key, column in columns.items()}
            )
            cells = [f"c.{_ident(columns[key][0])}" if key in columns else "NULL" for key in keys]
            source = f"FROM runs r LEFT JOIN cells_{solution} c ON c.run = r.id WHERE {sql}"
            selects.append(
                "SELECT "
                f"{', '.join(f'r.{name}' for name in FRAME_BASE)}{''.join(', ' + cell for cell in cells)} "
                f"{source}"
            )
            own = [index for index, key in enumerate(keys) if key in columns]
            apart.append(
                (
                    "SELECT "
                    f"{', '.join(f'r.{name}' for name in FRAME_BASE)}{''.join(', ' + cells[index] for index in own)} "
                    f"{source}",
                    args,
                    own,
                )
            )
            arguments += args
            for key in keys:
                if key in columns:
                    _, unit, kinds, goal, format_ = columns[key]
                    if unit and key[0] in ("metric", "sys"):
                        units[f"{key[0]}.{key[1]}"] = unit
                    if key[0] == "metric":
                        goals.update({f"metric.{key[1]}": goal} if goal else {})
                        formats.update({f"metric.{key[1]}": format_} if format_ else {})
                    if kinds == BOOLEAN:
                        booleans.add(f"{key[0]}.{key[1]}")
                    elif kinds & OTHER:
                        booleans.discard(f"{key[0]}.{key[1]}")
        if not selects:
            return None
        if len(names) <= _limit(connection, "SQLITE_LIMIT_COLUMN", 2000):
            rows = connection.execute(
                _union_all(selects, _limit(connection, "SQLITE_LIMIT_COMPOUND_SELECT", 500)) + " ORDER BY 4, 1",
                arguments,
            ).fetchall()
        else:
            rows = _rows_apart(connection, apart, len(keys))
        rows, skipped = _readable(rows)
        for name in skipped:
            log.warning(
                "%s: run %s: unreadable row (started/ended/duration/status of the wrong type), skipped", self.path, name
            )
        numbers = {number for row in rows for number in row[7:10] if number is not None}
        documents = {}
        for start in range(0, len(numbers), 500):
            chunk = sorted(numbers)[start : start + 500]
            for number, body in connection.execute(
                f"SELECT id, body FROM documents WHERE id IN ({','.join('?' * len(chunk))})", chunk
            ):
                documents[number] = json.loads(body)
        return ResultRows(names, rows, documents, booleans, units, skipped, goals, formats)

    def integrity_check(self) -> str:
        """Check the file with SQLite's ``PRAGMA integrity_check``.

        Returns
        -------
        str
            SQLite's answer: ``ok`` when the file is sound.
        """
        return self._read(
            lambda connection: connection.execute("PRAGMA integrity_check").fetchone()[0], "its integrity"
        )


@dataclass
class _Open:
    """A connection this process keeps open to a store: the process that opened it (a forked child opens its own), the
    file it opened (device, inode: a store deleted or replaced is opened again), the busy timeout set, the lock a
    thread holds while using it (one transaction at a time), and what its last write learnt of the tables."""

    connection: sqlite3.Connection
    pid: int
    identity: tuple[int, int] | None
    wait: float
    lock: threading.RLock = field(default_factory=threading.RLock)
    writer: _Writer | None = None  # kept from the last write, with the data_version it was valid at
    version: int | None = None


MAX_OPEN = 4  # stores a process keeps open (tests and tools that open many stores close the oldest)
_OPEN: OrderedDict[str, _Open] = OrderedDict()
_OPEN_LOCK = threading.Lock()
_INHERITED: list[
    sqlite3.Connection
] = []  # a forked child's copies of its parent's connections: never used, never closed


def _identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _open_connection(key: str) -> _Open | None:
    """The connection kept for a store's file, when it is this process's and still the file at that path."""
    with _OPEN_LOCK:
        entry = _OPEN.get(key)
        if entry is None:
            return None
        if entry.pid == os.getpid() and entry.identity is not None and entry.identity == _identity(key):
            _OPEN.move_to_end(key)
            return entry
        del _OPEN[key]
    if entry.pid == os.getpid():
        _close(entry)
    else:
        _INHERITED.append(entry.connection)
    return None


def _keep_connection(key: str, connection: sqlite3.Connection, identity: tuple[int, int] | None) -> _Open:
    entry = _Open(connection, os.getpid(), identity, store_wait())
    with _OPEN_LOCK:
        old = _OPEN.pop(key, None)
        _OPEN[key] = entry
        closing = [old] if old is not None else []
        while len(_OPEN) > MAX_OPEN:
            closing.append(_OPEN.popitem(last=False)[1])
    for item in closing:
        _close(item)
    return entry


def _forget_connection(key: str, entry: _Open) -> None:
    with _OPEN_LOCK:
        if _OPEN.get(key) is entry:
            del _OPEN[key]
    _close(entry)


def _close(entry: _Open) -> None:
    """Close a kept connection once no thread uses it (one in use is left to close when it is collected)."""
    if entry.pid != os.getpid():
        _INHERITED.append(entry.connection)
    elif entry.lock.acquire(blocking=False):
        try:
            entry.connection.close()
        except sqlite3.Error:
            pass
        finally:
            entry.lock.release()


def close_connections() -> None:
    """Close the connections this process keeps to stores (at exit, so that SQLite folds its write-ahead log
    into the file and removes it, as when each call closed its own)."""
    with _OPEN_LOCK:
        entries = list(_OPEN.values())
        _OPEN.clear()
    for entry in entries:
        _close(entry)


def _after_fork() -> None:
    """In a forked child: the parent's connections are set aside unused (SQLite's rule: never use a connection across
    fork), and the child opens its own."""
    global _OPEN_LOCK
    _OPEN_LOCK = threading.Lock()
    _INHERITED.extend(entry.connection for entry in _OPEN.values())
    _OPEN.clear()


atexit.register(close_connections)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _limit(connection: sqlite3.Connection, name: str, default: int) -> int:
    """One of SQLite's limits on this connection (Python 3.11 and later say it; before, SQLite's default)."""
    return connection.getlimit(getattr(sqlite3, name)) if hasattr(connection, "getlimit") else default


def _union_all(selects: list[str], most: int) -> str:
    """``selects`` joined by UNION ALL, nested in subqueries of at
    most ``most`` terms (SQLite's limit on a compound SELECT)."""
    while len(selects) > most:
        selects = [
            f"SELECT * FROM ({' UNION ALL '.join(selects[start : start + most])})"
            for start in range(0, len(selects), most)
        ]
    return " UNION ALL ".join(selects)


def _rows_apart(connection: sqlite3.Connection, selects: list[tuple[str, list, list[int]]], width: int) -> list[tuple]:
    """The frame's rows read one solution at a time (each SELECT with that solution's own columns), widened to every
    column and ordered as ``ORDER BY started, run_id`` orders them: for more columns than one SELECT may have."""
    rows = []
    base = len(FRAME_BASE)
    for sql, arguments, own in selects:
        for found in connection.execute(sql, arguments):
            row = [*found[:base], *([None] * width)]
            for index, value in zip(own, found[base:], strict=True):
                row[base + index] = value
            rows.append(tuple(row))
    return sorted(rows, key=lambda row: (_sqlite_order(row[3]), _sqlite_order(row[0])))


def _sqlite_order(value: Any) -> tuple:
    """A key that orders values as SQLite does: NULL, then numbers, then text, then blobs."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, value) if isinstance(value, str) else (3, bytes(value))


def _readable(rows: list[tuple]) -> tuple[list[tuple], list[str]]:
    """The rows whose frame values have their types (text times and status, a number or null duration); and
    the run ids of the others. One pass over types only: the times are parsed later, all at once."""
    skipped = [
        row[0]
        for row in rows
        if type(row[3]) is not str
        or type(row[4]) not in (str, type(None))
        or type(row[2]) is not str
        or type(row[5]) not in (float, int, type(None))
        or type(row[1]) is not str
    ]
    if not skipped:
        return rows, []
    bad = set(skipped)
    return [row for row in rows if row[0] not in bad], skipped


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a run id usable as a file name as it is


def _locked(error: sqlite3.Error) -> bool:
    """Whether SQLite refused because another connection holds a lock (SQLITE_BUSY, SQLITE_LOCKED)."""
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


def store_wait() -> float:
    """Seconds a store waits for another process's lock: ``$REEF_STORE_WAIT``, else 60."""
    text = os.environ.get(WAIT_VARIABLE, "").strip()
    if not text:
        return BUSY_TIMEOUT_MS / 1000
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 86400):
        raise ReefError(f"{WAIT_VARIABLE}: {text[:40]!r} is not a number of seconds (0 to 86400)")
    return value


def default_store() -> Store:
    """The store at ``$REEF_HOME/results.sqlite``.

    Returns
    -------
    Store
        A store of that file (see ``reefnb.reef_home``).
    """
    return Store()
