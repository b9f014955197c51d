"""The results store: run records in SQLite (WAL, one transaction per record, versioned schema)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .exceptions import StoreError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 60_000


def reef_home() -> Path:
    """``$REEF_HOME`` or ``~/.reef``."""
    return Path(os.environ.get("REEF_HOME") or Path.home() / ".reef").expanduser()


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


# Migration N brings a store at user_version N-1 to N. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2]


class Store:
    """Run records in one SQLite file; safe for many processes writing at once."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else reef_home() / "results.sqlite"

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"{self.path}: cannot open the results store: {error}") from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._retry(lambda: connection.execute("PRAGMA journal_mode = WAL"))
            connection.execute("PRAGMA synchronous = NORMAL")
            self._migrate(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise StoreError(f"{self.path}: not a usable results store: {error}") from None
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _retry(action: Callable[[], Any], attempts: int = 50) -> Any:
        # Switching to WAL needs a moment without other writers; busy_timeout does not cover it.
        for attempt in range(attempts):
            try:
                return action()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _migrate(self, connection: sqlite3.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == len(MIGRATIONS):
            return
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: results store schema version {version} is newer than this reefnb knows "
                f"({len(MIGRATIONS)}); upgrade reefnb"
            )
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for number in range(version + 1, len(MIGRATIONS) + 1):
                MIGRATIONS[number - 1](connection)
                connection.execute(f"PRAGMA user_version = {number}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def add(self, record: dict) -> None:
        """Store one run record, atomically (its own transaction)."""
        self.add_many([record])

    def add_many(self, records: Iterable[dict]) -> None:
        """Store records in one transaction; an existing run id is replaced."""
        self._insert(records, "REPLACE")

    def merge(self, records: Iterable[dict]) -> int:
        """Store the records whose run id is not here yet (one transaction); returns how many were new.

        Merging the same records again changes nothing, and a run recorded here is never replaced.
        Merged runs (others' runs, from a registry) get no run key, so a sweep here never skips a point for them.
        """
        return self._insert(records, "IGNORE", keyed=False)

    def _insert(self, records: Iterable[dict], conflict: str, keyed: bool = True) -> int:
        rows = [
            (
                record["run_id"],
                record["solution"]["name"],
                record["solution"]["version"],
                record["workflow"],
                record["status"],
                record["started"],
                record["notebook"]["sha256"],
                json.dumps(record, sort_keys=True),
                record.get("run_key") if keyed else None,
            )
            for record in records
        ]
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            before = connection.total_changes
            connection.executemany(
                f"INSERT OR {conflict} INTO runs (run_id, solution, solution_version, workflow, status, started, notebook_sha256, record, run_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            changed = connection.total_changes - before
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot write run record: {error}") from None
        finally:
            connection.close()
        return changed

    def records(self, solution: str | None = None, status: str | None = None) -> list[dict]:
        """Run records, oldest first, optionally of one solution and/or one status."""
        if not self.path.exists():
            return []
        clauses, arguments = [], []
        if solution is not None:
            clauses.append("solution = ?")
            arguments.append(solution)
        if status is not None:
            clauses.append("status = ?")
            arguments.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        connection = self._connect()
        try:
            rows = connection.execute(f"SELECT record FROM runs{where} ORDER BY started, run_id", arguments).fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot read run records: {error}") from None
        finally:
            connection.close()
        return [json.loads(row[0]) for row in rows]

    def get(self, run_id: str) -> dict | None:
        """One run record by id, or None."""
        if not self.path.exists():
            return None
        connection = self._connect()
        try:
            row = connection.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot read run record {run_id}: {error}") from None
        finally:
            connection.close()
        return json.loads(row[0]) if row else None

    def records_by_key(self, keys: list[str], status: str = "ok") -> dict[str, dict]:
        """The newest record of each run key that ended in ``status``."""
        if not keys or not self.path.exists():
            return {}
        connection = self._connect()
        found: dict[str, dict] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT run_key, record FROM runs WHERE status = ? AND run_key IN ({marks}) ORDER BY started, run_id",
                    [status, *chunk],
                ).fetchall()
                found.update({key: json.loads(record) for key, record in rows})
        except sqlite3.Error as error:
            raise StoreError(f"{self.path}: cannot read run records: {error}") from None
        finally:
            connection.close()
        return found

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer ('ok' when the file is sound)."""
        connection = self._connect()
        try:
            return connection.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            connection.close()


def default_store() -> Store:
    """The store at ``$REEF_HOME/results.sqlite``."""
    return Store()
