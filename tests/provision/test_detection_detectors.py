"""reefnb.provision.detection.detectors: the ten built-in detectors, each run on its own here."""

from __future__ import annotations

import os
import platform
import sys

from reefnb.provision.detection.base import DetectContext
from reefnb.provision.detection.detectors import (
    BUILTIN_DETECTORS,
    EnvironmentDetector,
    MemoryDetector,
    PackagesDetector,
    ToolsDetector,
)


def test_ten_built_ins_two_only_on_request():
    assert list(BUILTIN_DETECTORS) == [
        "os",
        "cpu",
        "memory",
        "gpu",
        "environment",
        "python",
        "packages",
        "modules",
        "tools",
        "tensorflow",
    ]
    assert [name for name, found in BUILTIN_DETECTORS.items() if found.on_request_only] == ["modules", "tensorflow"]


def test_the_environment_detector_names_the_inspected_python():
    found = EnvironmentDetector().detect(DetectContext(name="mine"))
    assert found == {
        "name": "mine",
        "python": sys.executable,
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
    }


def test_memory_is_never_cached_and_packages_depend_on_the_site_folders():
    memory = MemoryDetector()
    found = memory.detect(DetectContext())
    assert 0 < found["available_bytes"] <= found["total_bytes"] and memory.signature(DetectContext()) is None
    packages = PackagesDetector()
    assert packages.detect(DetectContext())["pytest"] == __import__("pytest").__version__
    assert set(packages.signature(DetectContext())) == {"interpreter", "folders"}


def test_the_tools_signature_follows_path(tmp_path, monkeypatch):
    before = ToolsDetector().signature(DetectContext())
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    after = ToolsDetector().signature(DetectContext())
    assert before != after and after["folders"][0][0] == str(tmp_path)
