"""A sweep whose store another process keeps locked runs every point all the same: each finished record is kept
beside the store (``results.sqlite-pending/``), the sweep goes on, and it ends with one line saying how many
records wait there, exit 5 (the store failed). In process (`reef sweep` through ``main``, one job), the lock held
by a second SQLite connection, ``REEF_STORE_WAIT`` 1 s."""

from __future__ import annotations

import json

from helpers.cli import call
from helpers.solutions import write_solution
from helpers.store import write_lock  # a second SQLite connection holding the write lock

import reefnb
from reefnb.runs.store import Store

MANIFEST = {"name": "locked", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}


def test_a_sweep_goes_on_while_the_store_stays_locked_and_ends_saying_how_many_records_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("REEF_STORE_WAIT", "1")
    folder = write_solution(tmp_path / "locked", MANIFEST, "x = 1", "import reefnb\nreefnb.record('double', x * 2)")
    store = Store(reefnb.reef_home() / "results.sqlite")
    assert store.integrity_check() == "ok" and store.records() == []  # the store exists, empty
    with write_lock(store.path):
        code, out, err = call("sweep", str(folder), "-p", "x", "1", "2", "--jobs", "1")
    lines = out.splitlines()
    assert code == 5, err + out  # every point ran ok; the store failed
    assert (
        len(lines) == 3
        and all(" ok " in line for line in lines[:2])
        and lines[2] == "2 runs, 2 ok, 0 not ok, 0 skipped (recorded ok before)"
    )
    pending = store.pending_folder
    kept = sorted(json.loads(path.read_text())["parameters"]["x"] for path in pending.glob("*.json"))
    assert kept == [1, 2], kept  # both points ran, both records kept
    last = err.strip().splitlines()[-1]
    assert (
        last == f"reef: error: {store.path}: could not be written: 2 run records of this sweep wait in {pending}, "
        "added when the store is next opened"
    )
    assert sorted(record["metrics"]["double"]["value"] for record in store.records()) == [
        2,
        4,
    ]  # added on the next open
    assert not pending.exists()
