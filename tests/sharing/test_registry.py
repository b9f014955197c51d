"""Registries: bare git repositories in temporary folders, real git, several users (each its own REEF_HOME)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow
import pyarrow.parquet as parquet
import pytest
from helpers.cli import call as reef
from helpers.records import make_record
from helpers.registry import git_clone, git_push_all, make_package
from helpers.solutions import write_solution

import reefnb
from reefnb.common.exceptions import ManifestError
from reefnb.common.paths import solutions_home
from reefnb.runs.store import Store
from reefnb.sharing import registry
from reefnb.sharing.package import PackageError, export_package

pytestmark = pytest.mark.usefixtures("git_identity")  # commits name a test identity

# --- components of a manifest (ranges and resolution: tests/solution/test_versions.py) -----------


def test_manifest_components_are_checked(tmp_path):
    folder = write_solution(
        tmp_path / "s",
        {
            "name": "s",
            "version": "1.0.0",
            "workflows": {"run": {"notebook": "main.ipynb"}},
            "components": {"data": "^1", "s": "*", "model": ">=banana"},
        },
    )
    with pytest.raises(ManifestError) as caught:
        reefnb.load_solution(folder)
    assert sorted(line.split(": ")[1] for line in caught.value.problems) == ["/components/model", "/components/s"]


# --- publish, search, pull --------------------------------------------------------------------------


def test_two_users_publish_versions_and_a_third_pulls_by_range(tmp_path, bare, user):
    user("bob")
    assert reef("registry", "add", "shared", str(bare))[0] == 0  # bob's clone predates alice's work: he must fetch
    user("alice")
    code, out, err = reef("registry", "add", "shared", str(bare))
    assert code == 0, err
    started = time.perf_counter()
    for version in ("1.0.0", "1.2.0"):
        code, out, err = reef("publish", str(make_package(tmp_path, "demo", version, description="pi by sampling")))
        assert code == 0 and "published" in out, err
    publish_seconds = (time.perf_counter() - started) / 2
    user("bob")
    for version in ("1.3.0", "2.0.0"):
        result = registry.publish(make_package(tmp_path, "demo", version, description="pi by sampling, faster"))
        assert result["published"] and result["registry"] == "shared"
    registry.publish(make_package(tmp_path, "coco-mini", "1.0.0", kind="dataset", description="eight COCO images"))

    carol = user("carol")
    reef("registry", "add", "shared", str(bare))
    code, out, _ = reef("search", "pi sampling", "--json")
    [found] = json.loads(out)
    assert (
        found["name"] == "demo"
        and found["versions"] == ["1.0.0", "1.2.0", "1.3.0", "2.0.0"]
        and found["latest"] == "2.0.0"
    )
    assert [entry["name"] for entry in registry.search("dataset")] == ["coco-mini"]
    assert "nothing found" in reef("search", "tensorflow")[1]

    started = time.perf_counter()
    code, out, err = reef("pull", "demo@^1.2", "--json")
    pull_seconds = time.perf_counter() - started
    assert code == 0, err
    pulled = json.loads(out)
    assert pulled["version"] == "1.3.0"
    folder = Path(pulled["folder"])
    assert folder == carol / "solutions" / "demo-1.3.0"
    assert reefnb.load_solution(folder).version == "1.3.0"
    assert registry.pull("demo@~1.2")["version"] == "1.2.0"
    assert registry.pull("demo@>=1,<2")["version"] == "1.3.0"
    assert registry.pull("demo@1.0.0", target=tmp_path / "mine")["folder"] == str(tmp_path / "mine")
    assert registry.pull("demo")["version"] == "2.0.0"
    again = registry.pull("demo@^1.2")  # already imported: the same folder is reused
    assert again["folder"] == str(folder)
    assert registry.component_folder("demo", "^1") == folder
    assert registry.pull("demo@^2", dry_run=True)["folder"] is None
    code, _, err = reef("pull", "demo@^3")
    assert code == 2 and "demo@^3: no published version matches (published: 1.0.0, 1.2.0, 1.3.0, 2.0.0)" in err
    print(f"publish {publish_seconds:.2f} s per version, pull {pull_seconds:.2f} s")

    code, out, _ = reef("registry", "list", "--json")
    assert json.loads(out) == [
        {"name": "shared", "url": str(bare), "path": str(carol / "registries" / "shared"), "components": 2}
    ]
    assert reef("registry", "remove", "shared")[0] == 0
    assert not (carol / "registries" / "shared").exists()
    code, _, err = reef("pull", "demo")
    assert code == 2 and "no registry added" in err


def test_a_version_is_immutable(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    package = make_package(tmp_path, "demo", "1.0.0")
    assert registry.publish(package)["published"]
    head = subprocess.run(["git", "-C", str(bare), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    code, out, _ = reef("publish", str(package))  # same bytes: nothing to do, nothing committed
    assert code == 0 and "already published with the same bytes" in out
    other = make_package(tmp_path, "demo", "1.0.0", salt="changed")
    code, _, err = reef("publish", str(other))
    assert code == 2
    assert (
        "demo@1.0.0 is already published in registry shared with other bytes" in err and "versions are immutable" in err
    )
    assert subprocess.run(["git", "-C", str(bare), "rev-parse", "HEAD"], capture_output=True, text=True).stdout == head
    with pytest.raises(PackageError, match="not a package file"):
        registry.publish(tmp_path / "sources")


def test_a_package_tampered_in_the_registry_is_refused(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(make_package(tmp_path, "demo", "1.0.0"))
    registry.publish(make_package(tmp_path, "demo", "1.1.0"))
    attacker = git_clone(bare, tmp_path / "attacker")
    package = attacker / "packages" / "demo" / "1.0.0" / "demo-1.0.0.reef.zip"
    package.write_bytes(package.read_bytes() + b"\0")  # still a readable zip; other bytes
    version_folder = attacker / "packages" / "demo" / "1.1.0"
    archive = version_folder / "demo-1.1.0.reef.zip"
    with zipfile.ZipFile(archive) as source:  # a member changed, and the registry's checksums updated to match
        members = {name: source.read(name) for name in source.namelist()}
    members["main.ipynb"] = members["main.ipynb"].replace(b"x + 1", b"x + 2")
    with zipfile.ZipFile(archive, "w") as target:
        for name, content in members.items():
            target.writestr(name, content)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    published = json.loads((version_folder / "meta.json").read_text())["sha256"]
    for path in (version_folder / "meta.json", attacker / "index.json"):
        path.write_text(path.read_text().replace(published, digest))
    git_push_all(attacker, "tamper")

    home = user("carol")
    registry.add_registry("shared", str(bare))
    code, _, err = reef("pull", "demo@1.0.0")
    assert code == 2
    assert "packages/demo/1.0.0/demo-1.0.0.reef.zip: sha256" in err and "refusing a tampered package" in err
    code, _, err = reef("pull", "demo@1.1.0")
    assert code == 2 and "member 'main.ipynb': sha256" in err and "does not match SHA256SUMS" in err
    assert not (home / "solutions").exists() or not any((home / "solutions").iterdir())


def test_dependencies_are_pulled_transitively_and_a_cycle_is_reported(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    for name, version, components in [
        ("coco-mini", "1.0.0", None),
        ("coco-mini", "1.4.0", None),
        ("coco-mini", "2.0.0", None),
        ("ssd", "2.1.0", {"coco-mini": "^1.2"}),
        ("detector", "1.0.0", {"ssd": "~2.1", "coco-mini": "^1"}),
        ("ring-a", "1.0.0", {"ring-b": "^1"}),
        ("ring-b", "1.0.0", {"ring-a": "^1"}),
        ("clash", "1.0.0", {"ssd": "*", "coco-mini": "^2.0"}),
    ]:
        registry.publish(make_package(tmp_path, name, version, components))

    home = user("carol")
    registry.add_registry("shared", str(bare))
    code, out, err = reef("init", "detector@^1", "--native", "--dry-run")  # resolves all, imports nothing here
    assert code == 0 and "dry run: nothing changed" in out, err
    assert not (home / "solutions").exists()
    pulled = registry.pull("detector")
    assert {entry["name"]: entry["version"] for entry in pulled["components"]} == {
        "detector": "1.0.0",
        "coco-mini": "1.4.0",
        "ssd": "2.1.0",
    }
    assert sorted(path.name for path in solutions_home().iterdir()) == [
        "coco-mini-1.4.0",
        "detector-1.0.0",
        "ssd-2.1.0",
    ]
    code, _, err = reef("pull", "ring-a")
    assert code == 2 and "dependency cycle: ring-a@1.0.0 -> ring-b@1.0.0 -> ring-a@1.0.0" in err
    code, _, err = reef("pull", "clash")
    assert code == 2 and "version conflict on coco-mini: clash@1.0.0 needs ^2.0, ssd@2.1.0 needs ^1.2" in err
    assert sorted(path.name for path in (home / "solutions").iterdir()) == [
        "coco-mini-1.4.0",
        "detector-1.0.0",
        "ssd-2.1.0",
    ]


def test_init_takes_a_registry_name_and_range(tmp_path, bare, user):
    from reefnb.sharing.sources import resolve_source

    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(make_package(tmp_path, "demo", "1.0.0"))
    registry.publish(make_package(tmp_path, "demo", "1.1.0"))
    home = user("carol")
    registry.add_registry("shared", str(bare))
    assert Path(resolve_source("demo@~1.0")) == home / "solutions" / "demo-1.0.0"
    assert Path(resolve_source("demo")) == home / "solutions" / "demo-1.1.0"


def test_init_from_a_registry_runs_no_package_code_without_trust(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    folder = write_solution(
        tmp_path / "gen",
        {
            "name": "gen",
            "version": "0.1.0",
            "workflows": {"run": {"notebook": "main.ipynb"}},
            "artifacts": {"labels": {"kind": "other", "generate": "reef_gen_reg:labels"}},
        },
        "x = 1",
    )
    marker = tmp_path / "ran"
    (folder / "reef_gen_reg.py").write_text(
        f"from pathlib import Path\ndef labels(target):\n    Path({str(marker)!r}).write_text('ran')\n"
    )
    registry.publish(
        Path(export_package(folder, tmp_path / "gen.reef.zip", include=[str(folder / "reef_gen_reg.py")])["package"])
    )
    user("carol")
    registry.add_registry("shared", str(bare))
    code, _, err = reef("init", "gen@^0.1", "--native")
    assert code == 2 and "made by the package's own code (reef_gen_reg:labels)" in err and "--trust" in err
    assert not marker.exists()


# --- crowd results --------------------------------------------------------------------------------


def _records(prefix: str, count: int, hostname: str) -> list[dict]:
    records = []
    for index in range(count):
        record = make_record(
            f"20260101T00000{index}Z-{prefix}{index:06x}",
            parameters={"samples": 10 ** (index + 2), "method": "random"},
            metrics={
                "abs_error": {"value": 0.1 / (index + 1), "unit": None},
                "time_ms": {"value": 5.0 * (index + 1), "unit": "ms"},
            },
        )
        record["solution"]["name"] = "hello-sweep"
        record["environment"]["hostname"] = hostname
        record["run_key"] = hashlib.sha256(
            f"key-{index}".encode()
        ).hexdigest()  # the same notebook, parameters and environment name on every machine
        record["environment"]["os"]["platform"] = f"Linux-{prefix}"
        records.append(record)
    return records


def test_two_clones_push_results_at_once_and_both_sets_arrive(tmp_path, bare, user):
    homes = {}
    for name, prefix in (("alice", "aa"), ("bob", "bb")):
        homes[name] = user(name)
        registry.add_registry("shared", str(bare))
        Store().add_many(_records(prefix, 4, hostname=f"{name}-workstation"))
    environment = {**os.environ}
    pushes = []
    for name in homes:  # two processes, started together, racing for the same branch
        environment = {**os.environ, "REEF_HOME": str(homes[name])}
        pushes.append(
            subprocess.Popen(
                [sys.executable, "-m", "reefnb", "results", "push", "--json"],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outcomes = [(process.wait(timeout=120), *process.communicate()) for process in pushes]
    assert all(code == 0 for code, _, _ in outcomes), outcomes
    assert sorted(json.loads(out)["pushed"] for _, out, _ in outcomes) == [4, 4]

    files = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "HEAD", "results"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(files) == 2 and all(
        path.startswith("results/hello-sweep/2026-01/part-") for path in files
    )  # one part per push, one shard
    for path in files:
        shared = subprocess.run(
            ["git", "-C", str(bare), "show", f"HEAD:{path}"], capture_output=True, check=True
        ).stdout
        table = parquet.read_table(pyarrow.BufferReader(shared))
        assert table.num_rows == 4 and b"workstation" not in shared
        for text, environment in zip(
            table.column("record").to_pylist(), table.column("environment").to_pylist(), strict=True
        ):
            assert '"hostname"' not in environment and json.loads(text)["origin"]["contributor"].startswith("anon-")
    log = subprocess.run(
        ["git", "-C", str(bare), "log", "--format=%an %ae"], capture_output=True, text=True, check=True
    ).stdout
    assert "Test" not in log.split("\n")[0]  # anonymous pushes are committed under the anonymous id

    user("alice")
    assert registry.push_results()["pushed"] == 0  # already shared
    carol = user("carol")
    registry.add_registry("shared", str(bare))
    code, out, _ = reef("results", "pull", "--json")
    assert code == 0 and json.loads(out) == {"records": 8, "new": 8, "refused": []}
    assert reef("results", "pull", "--json")[1].count('"new": 0') == 1  # idempotent
    keys = [hashlib.sha256(f"key-{index}".encode()).hexdigest() for index in range(4)]
    assert (
        Store(carol / "results.sqlite").records_by_key(keys) == {}
    )  # others' runs never make a sweep here skip a point
    Store().add(
        _records("cc", 1, hostname="carol-laptop")[0] | {"run_id": "20260102T000000Z-cc000000"}
    )  # carol's own run
    frame = reefnb.results(solution="hello-sweep")
    assert len(frame) == 9 and frame["env.contributor"].nunique() == 2 and frame["env.contributor"].isna().sum() == 1

    from reefnb.analysis.dashboard import environment_summary

    summary = environment_summary(frame, {"metric.abs_error": "min"}, {})  # every contributor's platform side by side
    assert list(summary.columns[:3]) == ["contributor", "environment", "runs"]
    assert sorted(zip(summary["os"], summary["runs"], strict=True)) == [
        ("Linux-aa", 4),
        ("Linux-bb", 4),
        ("Linux-cc", 1),
    ]
    assert "this machine" in set(summary["contributor"])
    code, out, _ = reef("results", "--solution", "hello-sweep", "--format", "json")  # plain `reef results` is unchanged
    assert code == 0 and len(json.loads(out)) == 9


def test_merging_records_is_idempotent_and_never_replaces_a_local_run():
    store = Store()
    local = make_record("20260101T000000Z-0000000a")
    store.add(local)
    shared = [make_record("20260101T000000Z-0000000a") | {"status": "failed"}, make_record("20260101T000000Z-0000000b")]
    assert store.merge(shared) == 1
    assert store.merge(shared) == 0
    assert store.get(local["run_id"])["status"] == "ok"


def test_a_push_refused_because_someone_pushed_first_is_fetched_reapplied_and_retried(
    tmp_path, bare, user, monkeypatch
):
    user("alice")
    registry.add_registry("shared", str(bare))
    registry.publish(make_package(tmp_path, "demo", "1.0.0"))
    other = git_clone(bare, tmp_path / "other")
    identity = registry._identity
    calls = []

    def someone_pushes_first(repository, anonymous):  # between alice's fetch and her push, bob's commit lands
        if not calls:
            (other / "results" / "demo").mkdir(parents=True)
            (other / "results" / "demo" / "bob.json").write_text("{}")
            git_push_all(other, "bob was faster")
        calls.append(anonymous)
        return identity(repository, anonymous)

    monkeypatch.setattr(registry, "_identity", someone_pushes_first)
    assert registry.publish(make_package(tmp_path, "demo", "1.1.0"))["published"]
    assert len(calls) == 2
    files = subprocess.run(
        ["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True
    ).stdout.split()
    assert "results/demo/bob.json" in files and "packages/demo/1.1.0/demo-1.1.0.reef.zip" in files
    index = json.loads(
        subprocess.run(["git", "-C", str(bare), "show", "HEAD:index.json"], capture_output=True, text=True).stdout
    )
    assert sorted(index["components"]["demo"]["versions"]) == ["1.0.0", "1.1.0"]


def test_identified_push_keeps_the_names_and_a_bad_shared_file_is_skipped(tmp_path, bare, user):
    user("alice")
    registry.add_registry("shared", str(bare))
    Store().add_many(_records("cc", 1, hostname="alice-box"))
    code, out, _ = reef("results", "push", "--identify", "--solution", "hello-sweep", "--json")
    assert code == 0 and json.loads(out)["contributor"].count("@") == 1
    attacker = git_clone(bare, tmp_path / "attacker")
    (attacker / "results" / "hello-sweep" / "20260101T000000Z-bad.json").write_text('{"run_id": "x"}')
    git_push_all(attacker, "junk")
    user("bob")
    registry.add_registry("shared", str(bare))
    result = registry.pull_results()
    assert result["new"] == 1 and result["refused"] == ["results/hello-sweep/20260101T000000Z-bad.json"]
    [record] = Store().records()
    assert record["environment"]["hostname"] == "alice-box" and record["origin"]["identified"] is True
    assert record["origin"]["registry"] == "shared"


def test_a_registry_that_cannot_be_cloned_is_one_clear_line(tmp_path, user):
    user("alice")
    code, _, err = reef("registry", "add", "other", str(tmp_path / "nowhere.git"))
    assert code == 4 and err.strip().endswith(  # a registry not reached: a network failure, not wrong input
        f"cannot clone {tmp_path / 'nowhere.git'}: fatal: repository '{tmp_path / 'nowhere.git'}' does not exist"
    )
    assert len(err.strip().splitlines()) == 1 and registry.list_registries() == []
