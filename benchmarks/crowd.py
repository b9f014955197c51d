"""Crowd results at scale: push and pull of N shared run records, the sharded layout against one JSON file per run.

Records are copies of a real hello-sweep run (benchmarks/store.py's template: a 5.3 KB record with a whole
machine fingerprint), each with its own run id, times, parameters and metrics, all in one month. Measured:
- scrubbing (both layouts share every record through the one scrubber): a fresh Scrubber per record, as the
  first layout's push did, on a sample, against the remembering Scrubber reef uses now, on every record;
- push: reef's `push_results` (store read, scrub, Parquet parts, one commit, git push to a bare repository)
  against the first layout (one RUN_ID.json per run written into a clone, git add, one commit, git push);
- pull: reef's `pull_results` into an empty store (clone, parts, bounded JSON, schema, merge) against the
  first layout's reader (clone, one bounded read and full schema check per file, merge), and a second pull.
Run: .venv/bin/python benchmarks/crowd.py [RECORDS]   (default 100000)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from store import records, template

from reefnb.common.json_input import read_json
from reefnb.common.scrub import Scrubber
from reefnb.runs.store import Store
from reefnb.sharing import registry

GIT = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def git(*arguments: str, folder: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *arguments], check=True, capture_output=True, text=True, env={**os.environ, **GIT}
    ).stdout


def first_layout_push(bare: Path, shared: list[dict], scratch: Path) -> None:
    clone = scratch / "old-push"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(clone)], check=True)
    for record in shared:
        path = clone / "results" / record["solution"]["name"] / f"{record['run_id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    git("add", "results", folder=clone)
    git("commit", "--quiet", "-m", "results", folder=clone)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", folder=clone)


def first_layout_pull(bare: Path, scratch: Path, store: Store) -> int:
    import jsonschema

    from reefnb.solution.manifest import schema

    clone = scratch / "old-pull"
    subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(bare), str(clone)], check=True)
    validator = jsonschema.Draft202012Validator(schema("run-record"))
    found = []
    for path in sorted((clone / "results").glob("*/*.json")):
        record = read_json(path, expect=dict)
        if (
            next(iter(validator.iter_errors(record)), None) is None
            and "origin" in record
            and path.stem == record["run_id"]
        ):
            found.append(record)
    return store.merge(found)


def main(count: int) -> None:
    base = template()
    sample = min(count, 300)
    with tempfile.TemporaryDirectory(prefix="reef-crowd-bench-") as folder:
        scratch = Path(folder)
        os.environ["REEF_HOME"] = str(scratch / "alice")
        os.environ.update(GIT)
        made = list(records(base, count))
        for record in made:
            record["started"] = (
                "2026-03" + record["started"][7:]
            )  # one month: one shard, the hardest case for the new layout
        Store().add_many(made)
        old_scrub, _ = timed(
            lambda: [
                Scrubber(record["solution"]["path"], names=(record["environment"]["hostname"],)).value(record)
                for record in made[:sample]
            ]
        )
        scrubbers: dict = {}
        new_scrub, shared = timed(lambda: [registry.shareable_record(record, False, scrubbers) for record in made])
        print(f"{count} records of {len(json.dumps(shared[0]))} bytes (shared) each")
        print(
            f"scrub: fresh Scrubber per record {old_scrub / sample * 1e3:.2f} ms/record (sample of {sample}) -> "
            f"{old_scrub / sample * count:.0f} s for all; remembering Scrubber {new_scrub:.1f} s for all "
            f"({new_scrub / count * 1e3:.3f} ms/record)"
        )
        made.clear()  # the store holds them; push_results reads them back from there

        bare_old, bare_new = scratch / "old.git", scratch / "new.git"
        for bare in (bare_old, bare_new):
            subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch", "main", str(bare)], check=True)
        old_push, _ = timed(lambda: first_layout_push(bare_old, shared, scratch))
        registry.add_registry("shared", str(bare_new))
        new_push, pushed = timed(registry.push_results)
        assert pushed["pushed"] == count, pushed
        print(
            f"push: one file per run {old_push:.1f} s (+ scrub {old_scrub / sample * count:.0f} s) | "
            f"sharded {new_push:.1f} s including scrub "
            f"({(old_push + old_scrub / sample * count) / new_push:.1f}x faster; "
            f"{(old_push + new_scrub) / new_push:.1f}x with today's scrubber for both); "
            f"commits {git('rev-list', '--count', 'HEAD', folder=bare_new).strip()}, files "
            f"{len(git('ls-tree', '-r', '--name-only', 'HEAD', folder=bare_new).split())} vs "
            f"{len(git('ls-tree', '-r', '--name-only', 'HEAD', folder=bare_old).split())}"
        )
        sizes = [
            sum(path.stat().st_size for path in bare.rglob("*") if path.is_file()) for bare in (bare_old, bare_new)
        ]
        print(f"registry size on disk: one file per run {sizes[0] / 1e6:.1f} MB, sharded {sizes[1] / 1e6:.1f} MB")

        os.environ["REEF_HOME"] = str(scratch / "carol-old")
        old_pull, new_old = timed(lambda: first_layout_pull(bare_old, scratch, Store()))
        os.environ["REEF_HOME"] = str(scratch / "carol")
        registry.add_registry("shared", str(bare_new))
        new_pull, pulled = timed(registry.pull_results)
        again, second = timed(registry.pull_results)
        assert new_old == count and pulled["new"] == count and second["new"] == 0, (new_old, pulled, second)
        print(
            f"pull: one file per run {old_pull:.1f} s | sharded {new_pull:.1f} s ({old_pull / new_pull:.1f}x "
            f"faster); second pull (nothing new) {again:.2f} s"
        )
        print("| what | one file per run | sharded | ratio |")
        print("|---|---|---|---|")
        print(
            f"| push {count:,} (scrub + write + commit + git push) | {old_push + old_scrub / sample * count:.1f} s "
            f"| {new_push:.1f} s | {(old_push + old_scrub / sample * count) / new_push:.1f}x |"
        )
        print(
            f"| pull {count:,} into an empty store | {old_pull:.1f} s | {new_pull:.1f} s | {old_pull / new_pull:.1f}x |"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
