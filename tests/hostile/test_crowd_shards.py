"""Hostile results shards in a registry (a bare git repository made here): each bad part, or bad record in a
part, is skipped with a warning naming it, and everything else still pulls."""

from __future__ import annotations

import json

import pyarrow
import pyarrow.parquet as parquet
from helpers.records import monthly_records as runs
from helpers.registry import git_clone, git_push_all

from reefnb.runs.store import Store
from reefnb.sharing import registry
from reefnb.sharing.registry import shareable_record


def write_part(path, rows: list[tuple[str, str, str]], names=("run_id", "record", "environment")) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet.write_table(pyarrow.table({name: [row[index] for row in rows] for index, name in enumerate(names)}), path)


def row(record: dict) -> tuple[str, str, str]:
    shared = shareable_record(record)
    return shared["run_id"], json.dumps({**shared, "environment": None}), json.dumps(shared["environment"])


def test_bad_parts_and_bad_records_are_skipped_with_a_warning_naming_them(tmp_path, bare, user, caplog):
    user("alice")
    registry.add_registry("shared", str(bare))
    Store().add_many(runs(3))
    registry.push_results()
    mallory = git_clone(bare, tmp_path / "mallory")
    shard = mallory / "results" / "hello-sweep" / "2026-03"
    (shard / "part-garbage.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    write_part(shard / "part-columns.parquet", [("x", "{}")], names=("run_id", "record"))
    good, deep, misplaced, renamed, no_origin, bad_environment = (row(record) for record in runs(6, prefix="ee"))
    deep = (deep[0], deep[1][:-1] + ', "x": ' + "[" * 100 + "]" * 100 + "}", deep[2])
    misplaced = (misplaced[0], misplaced[1].replace('"hello-sweep"', '"other"'), misplaced[2])
    renamed = ("20260301T000000Z-ffffffff", renamed[1], renamed[2])
    no_origin = (
        no_origin[0],
        json.dumps({key: value for key, value in json.loads(no_origin[1]).items() if key != "origin"}),
        no_origin[2],
    )
    bad_environment = (bad_environment[0], bad_environment[1], json.dumps({"kernel": 3}))
    write_part(shard / "part-mixed.parquet", [good, deep, misplaced, renamed, no_origin, bad_environment])
    git_push_all(mallory, "attack")

    carol = user("carol")
    registry.add_registry("shared", str(bare))
    result = registry.pull_results()
    base = "results/hello-sweep/2026-03/"
    assert sorted(result["refused"]) == sorted(
        [
            f"{base}part-columns.parquet",
            f"{base}part-garbage.parquet",
            *(f"{base}part-mixed.parquet#{bad[0]}" for bad in (deep, misplaced, renamed, no_origin, bad_environment)),
        ]
    )
    assert result["new"] == 4  # alice's three and the one good row
    assert good[0] in {record["run_id"] for record in Store(carol / "results.sqlite").records()}
    for path in result["refused"]:
        assert path.split("#")[0] in caplog.text
    assert (
        "nested deeper than" in caplog.text
        and "/environment: required 'os'" in caplog.text
        and "columns are not" in caplog.text
    )
