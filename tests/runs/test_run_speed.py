"""What makes a run cheaper, checked for what it must not change: the kernel's packages taken from the cache only
while its environment is the same, the kernel's processes found through /proc as psutil finds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import papermill  # noqa: F401  # before reefnb.runs.engine, which papermill's entry points load as it loads
from helpers.solutions import write_solution

import reefnb
from reefnb.runs import processes
from reefnb.runs.engine import KERNEL_PACKAGES_FOLDER


def fake_distribution(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_kernel_packages_come_from_the_cache_until_the_environment_changes(tmp_path, monkeypatch):
    site = tmp_path / "site"
    fake_distribution(site, "reef-probe-one", "1.0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    solution = write_solution(
        tmp_path / "probe", {"name": "probe", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    )
    cache = Path(os.environ["REEF_HOME"]).joinpath(*KERNEL_PACKAGES_FOLDER)
    first = reefnb.run(solution, store=False)
    assert first["status"] == "ok" and first["environment"]["packages"]["reef-probe-one"] == "1.0"
    assert len(list(cache.glob("*.json"))) == 1  # the kernel read its packages once, for the runs after it

    [cached] = cache.glob("*.json")
    marked = json.loads(cached.read_text())
    marked["packages"]["reef-cache-marker"] = "9"  # only a run that takes its packages from the cache records it
    cached.write_text(json.dumps(marked))

    second = reefnb.run(solution, store=False)  # the same environment (the run's own files aside): from the cache
    assert second["environment"]["packages"] == {**first["environment"]["packages"], "reef-cache-marker": "9"}
    assert second["environment"]["python"] == first["environment"]["python"]

    fake_distribution(site, "reef-probe-two", "2.0")  # installed since: the folder on the kernel's path changed
    third = reefnb.run(solution, store=False)
    assert len(list(cache.glob("*.json"))) == 2
    assert third["environment"]["packages"]["reef-probe-two"] == "2.0"
    assert "reef-cache-marker" not in third["environment"]["packages"]


def test_descendants_through_proc_are_those_psutil_finds():
    import psutil

    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while len(psutil.Process(parent.pid).children(recursive=True)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        expected = {child.pid for child in psutil.Process(parent.pid).children(recursive=True)}
        assert len(expected) == 1
        assert set(processes._descendants(parent.pid)) == expected
        assert parent.pid in processes._descendants(os.getpid())
        assert set(processes._child_pids()) >= {parent.pid}
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
