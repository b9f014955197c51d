"""Crowd results at scale: shared records sharded per solution and month in Parquet parts, in bare git repositories
made here; the first layout (one JSON file per run) still pulls; merges are idempotent by run id."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as parquet
from helpers.records import monthly_records as runs
from helpers.registry import git_clone, git_push_all

from reefnb.runs.store import Store
from reefnb.sharing import crowd, registry
from reefnb.sharing.registry import shareable_record


def commits(repository: Path) -> int:
    return int(
        subprocess.run(
            ["git", "-C", str(repository), "rev-list", "--count", "HEAD"], capture_output=True, text=True, check=True
        ).stdout
    )


def tree(repository: Path) -> list[str]:
    return subprocess.run(
        ["git", "-C", str(repository), "ls-tree", "-r", "--name-only", "HEAD", "results"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_a_thousand_results_are_one_commit_sharded_by_solution_and_month_and_pull_once(bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    Store().add_many(runs(1000) + runs(3, "bb", month="2026-04") + runs(2, "cc", solution="other-solution"))
    assert registry.push_results() == {
        "registry": "shared",
        "contributor": registry.contributor(),
        "pushed": 1005,
        "already": 0,
    }
    assert commits(bare) == 1
    shards = sorted({path.rsplit("/", 1)[0] for path in tree(bare)})
    assert shards == ["results/hello-sweep/2026-03", "results/hello-sweep/2026-04", "results/other-solution/2026-03"]
    assert len(tree(bare)) == 3  # one part each: no file per run

    carol = user("carol")
    registry.add_registry("shared", str(bare))
    assert registry.pull_results() == {"records": 1005, "new": 1005, "refused": []}
    mine, theirs = Store(carol / "results.sqlite").get("20260301T000000Z-aa000007"), runs(8)[7]
    assert mine["parameters"] == theirs["parameters"] and mine["metrics"] == theirs["metrics"]
    assert mine["environment"] == {
        key: value for key, value in theirs["environment"].items() if key != "hostname"
    }  # anonymous: no host
    assert mine["origin"]["registry"] == "shared" and mine["solution"]["path"] == "."
    assert list(mine) == [
        *(key for key in theirs if key != "run_key"),
        "origin",
    ]  # the record's own key order survives the columns
    assert registry.pull_results() == {"records": 1005, "new": 0, "refused": []}  # idempotent by run id
    assert registry.pull_results(solution="other-solution")["records"] == 2

    user("alice")
    assert registry.push_results()["pushed"] == 0 and commits(bare) == 1  # nothing new: no commit


def test_shards_are_compacted_and_pushes_from_two_users_both_arrive(bare, user, monkeypatch):
    monkeypatch.setattr(crowd, "MAX_PARTS", 3)
    for name in ("alice", "bob"):
        user(name)
        registry.add_registry("shared", str(bare))
    for step in range(5):  # alternate pushers, each adding two runs to the same shard
        user(("alice", "bob")[step % 2])
        Store().add_many(runs(2, prefix=f"{step:02x}"))
        assert registry.push_results()["pushed"] == 2
        assert (
            len(tree(bare)) == [1, 2, 3, 1, 2][step]
        )  # the fourth push folds the shard's three parts and its own into one
    user("carol")
    registry.add_registry("shared", str(bare))
    assert registry.pull_results() == {"records": 10, "new": 10, "refused": []}


def test_a_registry_of_the_first_layout_still_pulls_and_a_run_in_both_layouts_merges_once(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    records = runs(3)
    Store().add_many(records[:2])
    registry.push_results()
    old = git_clone(
        bare, tmp_path / "old-client"
    )  # an older reef pushed one file per run, one of them a run also in a part
    for record in records[1:]:
        shared = shareable_record(record)
        path = old / "results" / "hello-sweep" / f"{record['run_id']}.json"
        path.write_text(json.dumps(shared))
    git_push_all(old, "results the old way")

    carol = user("carol")
    registry.add_registry("shared", str(bare))
    result = registry.pull_results()
    assert result["new"] == 3 and result["refused"] == []
    assert sorted(record["run_id"] for record in Store(carol / "results.sqlite").records()) == sorted(
        record["run_id"] for record in records
    )
    user("alice")
    Store().add(records[2])
    assert registry.push_results() == {
        "registry": "shared",
        "contributor": registry.contributor(),
        "pushed": 0,
        "already": 3,
    }


def test_what_is_pushed_is_scrubbed(bare, user):
    home = str(Path.home())
    user("alice")
    registry.add_registry("shared", str(bare))
    [record] = runs(1)
    record["parameters"] = {"data": f"{home}/datasets/coco", "key": "AKIAIOSFODNN7EXAMPLE"}
    record["environment"]["hostname"] = "alice-secret-box"
    record["environment"]["packages"] = {"numpy": "2.4.6", "local-thing": f"0.1 @ file://{home}/src/local-thing"}
    Store().add(record)
    registry.push_results()
    [path] = tree(bare)
    content = subprocess.run(["git", "-C", str(bare), "show", f"HEAD:{path}"], capture_output=True, check=True).stdout
    import pyarrow

    table = parquet.read_table(pyarrow.BufferReader(content))
    text = json.dumps(table.to_pylist())
    assert home not in text and "AKIAIOSFODNN7EXAMPLE" not in text and "alice-secret-box" not in text
    assert "~/datasets/coco" in text and "numpy" in text
