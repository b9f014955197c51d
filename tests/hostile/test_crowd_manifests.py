"""Manifests shared beside crowd results come from anyone with push access: a pulled one is only
kept when it validates, names itself, and its dashboard reference stays inside its folder."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from helpers.records import flagship_records
from helpers.solutions import FLAGSHIP

from reefnb.runs.store import Store
from reefnb.sharing import registry


@pytest.mark.parametrize(
    "tamper, warning",
    [
        (
            lambda data: data["dashboard"].update(reference="../../../../../etc/passwd"),
            "/dashboard/reference: path leaves the solution folder; skipped",
        ),
        (lambda data: data.update(name="someone-else"), "names someone-else@0.1.0; skipped"),
        (lambda data: data.update(metrics="all of them"), "/metrics: 'all of them' is not of type 'array'"),
    ],
)
def test_a_tampered_shared_manifest_is_not_kept(tmp_path, bare, user, caplog, tamper, warning):
    folder = tmp_path / "work" / "obj-detection-coco-tf"
    shutil.copytree(
        FLAGSHIP, folder, ignore=shutil.ignore_patterns("runs", "models", "__pycache__", "*.reef.zip", "reef.lock.json")
    )
    user("alice")
    registry.add_registry("shared", str(bare))
    Store().add_many(flagship_records(folder, 2))
    registry.push_results()
    clone = tmp_path / "mallory"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(clone)], check=True)
    manifest = clone / "manifests" / "obj-detection-coco-tf" / "0.1.0" / "solution.json"
    data = json.loads(manifest.read_text())
    tamper(data)
    manifest.write_text(json.dumps(data))
    subprocess.run(["git", "-C", str(clone), "commit", "--quiet", "-am", "tamper"], check=True)
    subprocess.run(["git", "-C", str(clone), "push", "--quiet"], check=True)

    carol = user("carol")
    registry.add_registry("shared", str(bare))
    assert registry.pull_results()["new"] == 2  # the runs arrive; the manifest does not
    assert not (carol / "manifests" / "obj-detection-coco-tf").exists()
    assert warning in caplog.text
