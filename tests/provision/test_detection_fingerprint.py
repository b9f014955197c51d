"""reefnb.provision.detection.fingerprint: detect() answers from the cache while signatures hold, runs the rest,
and leaves a failing detector out."""

from __future__ import annotations

import json
import logging
import platform

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.provision.detection import fingerprint
from reefnb.provision.detection.base import Detector
from reefnb.provision.detection.cache import cache_path
from reefnb.provision.detection.detectors import BUILTIN_DETECTORS


class Counting(Detector):
    """Counts its runs; cached while its signature (a number the test sets) stays the same."""

    name = "counting"

    def __init__(self):
        self.runs, self.stamp = 0, 1

    def detect(self, context):
        self.runs += 1
        return {"run": self.runs}

    def signature(self, context):
        return self.stamp


class Broken(Detector):
    name = "broken"

    def detect(self, context):
        raise RuntimeError("broken on purpose")


@pytest.fixture
def counting(monkeypatch):
    detector = Counting()
    monkeypatch.setitem(BUILTIN_DETECTORS, "counting", detector)
    monkeypatch.setitem(BUILTIN_DETECTORS, "broken", Broken())
    return detector


def test_a_result_is_cached_until_its_signature_changes(counting):
    assert fingerprint.detect(["counting"]) == {"counting": {"run": 1}}
    assert fingerprint.detect(["counting"]) == {"counting": {"run": 1}}
    kept = json.loads(cache_path().read_text())["detectors"]["counting"]
    assert kept == {"signature": 1, "data": {"run": 1}}
    counting.stamp = 2
    assert fingerprint.detect(["counting"]) == {"counting": {"run": 2}}
    assert fingerprint.detect(["counting"], refresh=True) == {"counting": {"run": 3}}


def test_a_failing_detector_is_left_out_and_logged(counting, caplog):
    caplog.set_level(logging.WARNING, logger="reefnb.provision.detection.fingerprint")
    assert list(fingerprint.detect(["broken", "counting"])) == ["counting"]
    assert "detector broken failed: RuntimeError: broken on purpose" in caplog.text


def test_an_unknown_name_is_a_reef_error_naming_the_known_ones():
    with pytest.raises(ReefError, match=r"unknown detector 'nope' \(known: .*cpu"):
        fingerprint.detect(["nope"])


def test_what_other_stages_ask_of_an_environment():
    assert fingerprint.python_version() == platform.python_version()
    assert fingerprint.environment_packages()["pytest"] == pytest.__version__
    assert "pytest" in fingerprint.environment_modules()["_pytest"]
