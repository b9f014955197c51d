"""reefnb.provision.detection.registry: the built-ins, then the plugins of the entry-point group reefnb.detectors."""

from __future__ import annotations

import logging
import sys

import pytest

from reefnb.provision.detection import registry
from reefnb.provision.detection.detectors import BUILTIN_DETECTORS

PLUGIN = """
from reefnb.provision.detection import Detector


class Hello(Detector):
    name = "hello"
    on_request_only = True

    def detect(self, context):
        return "hello"


class Cpu(Hello):
    name = "cpu"
"""


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A distribution on sys.path whose entry points name a good detector, one named like a built-in, a missing one."""
    info = tmp_path / "reef_registry_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reef-registry-probe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[reefnb.detectors]\nhello = reef_registry_probe:Hello\ncpu = reef_registry_probe:Cpu\n"
        "gone = reef_registry_probe:Missing\n"
    )
    (tmp_path / "reef_registry_probe.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("reef_registry_probe", None)


def test_without_plugins_the_built_ins_in_their_order():
    assert list(registry.available_detectors())[: len(BUILTIN_DETECTORS)] == list(BUILTIN_DETECTORS)
    assert "modules" not in registry.default_detector_names() and "cpu" in registry.default_detector_names()


def test_a_plugin_is_added_and_a_clash_or_a_missing_one_skipped(plugins, caplog):
    caplog.set_level(logging.WARNING, logger="reefnb.provision.detection.registry")
    found = registry.plugin_detectors()
    assert list(found) == ["hello"] and found["hello"].detect(None) == "hello"
    assert registry.available_detectors()["cpu"] is BUILTIN_DETECTORS["cpu"]
    assert "hello" not in registry.default_detector_names()  # on request only
    assert "a detector named 'cpu' exists already" in caplog.text and "Missing" in caplog.text


def test_the_entry_points_are_cached_beside_the_detection_cache(plugins):
    registry.plugin_detectors()
    cached = registry.cache_path().with_name("entry-points.json")
    assert ["hello", "reef_registry_probe:Hello"] in __import__("json").loads(cached.read_text())["entry_points"]
