"""What recorded results mean (reefnb.runs.meaning): the manifest of a solution found by name, shared with results
and kept from a registry's clone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nbformat
import pytest

from reefnb.provision.initialised import remember_solution
from reefnb.runs.meaning import (
    MANIFESTS_FOLDER,
    keep_pulled_manifests,
    manifests_home,
    manifests_to_share,
    solution_named,
    with_declared_meaning,
)
from reefnb.solution.manifest import load_solution

METRICS = [{"name": "time_ms", "unit": "ms", "goal": "min", "format": ".2f"}, {"name": "accuracy", "goal": "max"}]


def manifest(name: str = "demo", version: str = "1.0.0", **more) -> dict:
    return {"name": name, "version": version, "workflows": {"run": {"notebook": "main.ipynb"}}, **more}


def write_folder(folder: Path, data: dict, reference: str | None = None) -> Path:
    """A solution folder: its manifest, an empty notebook and, when the dashboard names one, its reference CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "solution.json").write_text(json.dumps(data), encoding="utf-8")
    nbformat.write(nbformat.v4.new_notebook(), folder / "main.ipynb")
    if reference is not None:
        (folder / data["dashboard"]["reference"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / data["dashboard"]["reference"]).write_text(reference, encoding="utf-8")
    return folder


def record_of(folder: Path, name: str = "demo", version: str = "1.0.0") -> dict:
    return {"solution": {"name": name, "version": version, "path": str(folder)}}


@pytest.fixture
def demo(tmp_path) -> Path:
    data = manifest(metrics=METRICS, dashboard={"reference": "reference/published.csv"})
    return write_folder(tmp_path / "demo", data, f"label,time_ms\npaper,4.2\nmine {Path.home()},3.9\n")


def test_the_manifest_gives_goal_and_format_and_a_unit_only_where_the_notebook_named_none():
    metrics = {"time_ms": {"value": 3.0, "unit": "s"}, "accuracy": {"value": 0.9}, "other": {"value": 1}}
    declared = {entry["name"]: entry for entry in METRICS}
    assert with_declared_meaning(metrics, declared) == {
        "time_ms": {"value": 3.0, "unit": "s", "goal": "min", "format": ".2f"},
        "accuracy": {"value": 0.9, "goal": "max"},
        "other": {"value": 1},
    }
    assert with_declared_meaning({"time_ms": {"value": 1}}, declared)["time_ms"]["unit"] == "ms"


def test_the_manifest_and_its_reference_are_shared_once_scrubbed(demo):
    files = manifests_to_share([record_of(demo), record_of(demo)])
    base = f"{MANIFESTS_FOLDER}/demo/1.0.0"
    assert sorted(files) == [f"{base}/reference/published.csv", f"{base}/solution.json"]
    assert json.loads(files[f"{base}/solution.json"])["metrics"] == METRICS
    reference = files[f"{base}/reference/published.csv"].decode()
    assert "paper,4.2" in reference and str(Path.home()) not in reference


def test_records_of_another_version_or_without_their_folder_share_nothing(demo, tmp_path):
    assert manifests_to_share([record_of(demo, version="0.9.0")]) == {}  # the folder holds 1.0.0 now
    assert manifests_to_share([record_of(tmp_path / "gone"), {"solution": {"name": "demo"}}, {}]) == {}


def clone_with(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def test_pulled_manifests_are_kept_once_and_then_found_by_name(demo, reef_home):
    clone = clone_with(reef_home / "registries" / "team", manifests_to_share([record_of(demo)]))
    assert keep_pulled_manifests(clone, "team") == ["demo@1.0.0"]
    kept = manifests_home() / "demo" / "1.0.0"
    assert (kept / "reference" / "published.csv").read_text().startswith("label,time_ms")
    assert keep_pulled_manifests(clone, "team") == []  # a version already kept is left as it is

    found = solution_named("demo")
    assert (found.name, found.version, found.path) == ("demo", "1.0.0", kept)
    assert found.workflows == {} and found.data["metrics"] == METRICS  # meaning only: nothing of it runs
    assert solution_named("unknown") is None


def test_what_does_not_describe_its_place_or_leaves_its_folder_is_skipped(reef_home, caplog):
    clone = reef_home / "registries" / "team"  # a registry's clone lives in REEF_HOME
    files = {
        "other/1.0.0/solution.json": manifest("renamed"),  # names another solution than its folder
        "invalid/1.0.0/solution.json": {"name": "invalid"},  # no version, no workflows
        "escape/1.0.0/solution.json": manifest("escape", dashboard={"reference": "../../../../etc/passwd"}),
        "Bad Name/1.0.0/solution.json": manifest("bad"),
    }
    clone_with(clone, {f"{MANIFESTS_FOLDER}/{path}": json.dumps(data).encode() for path, data in files.items()})
    with caplog.at_level(logging.WARNING, logger="reefnb.runs.meaning"):
        assert keep_pulled_manifests(clone, "team") == []
    warned = caplog.text
    assert "names renamed@1.0.0; skipped" in warned
    assert "invalid/1.0.0/solution.json" in warned and "escape/1.0.0/solution.json" in warned
    assert not manifests_home().exists() or not any(manifests_home().rglob("solution.json"))


def test_by_name_the_initialised_folder_wins_then_the_wanted_version_then_the_newest(demo, tmp_path):
    for version in ("2.0.0", "10.0.0"):
        write_folder(manifests_home() / "demo" / version, manifest(version=version))
    assert solution_named("demo").version == "10.0.0"  # versions compare as versions, not as text
    assert solution_named("demo", versions=["2.0.0", None]).version == "2.0.0"
    assert solution_named("demo", versions=["3.0.0"]).version == "10.0.0"  # not kept: the newest there is
    remember_solution(load_solution(demo), None)
    assert solution_named("demo").path == demo.resolve()
