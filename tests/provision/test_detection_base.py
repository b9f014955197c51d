"""reefnb.provision.detection.base: the DetectContext a detector gets, and the Detector base class."""

from __future__ import annotations

import platform
import sys

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.provision.detection.base import DetectContext, Detector


def test_this_python_is_the_current_context_and_answers_in_process():
    context = DetectContext()
    assert context.is_current and context.python == sys.executable
    facts = context.facts()
    assert facts["version"] == platform.python_version() and facts["prefix"] == sys.prefix
    assert context.facts() is facts  # asked once


def test_a_link_in_another_folder_is_another_environment(tmp_path):
    (tmp_path / "bin").mkdir()
    link = tmp_path / "bin" / "python"
    link.symlink_to(sys.executable)
    context = DetectContext(str(link), "linked")
    assert not context.is_current and context.identity != DetectContext().identity
    facts = context.facts()  # asked of the interpreter itself, in a subprocess
    assert facts["version"] == platform.python_version() and facts["stamp"][0] == str(link.resolve())


def test_run_script_gives_stdout_or_a_reef_error_with_the_last_line(tmp_path):
    context = DetectContext()
    assert context.run_script("import sys; print(sys.argv[1:])", "a", "b") == "['a', 'b']\n"
    with pytest.raises(ReefError, match="exited with status 1: ValueError: broken"):
        context.run_script("raise ValueError('broken')")
    with pytest.raises(ReefError, match="no such python interpreter"):
        DetectContext(str(tmp_path / "python")).facts()


def test_a_detector_must_detect_and_is_not_cached_by_default():
    with pytest.raises(TypeError):
        Detector()

    class Answer(Detector):
        name = "answer"

        def detect(self, context: DetectContext) -> int:
            return 42

    detector = Answer()
    assert detector.detect(DetectContext()) == 42
    assert detector.signature(DetectContext()) is None and not detector.on_request_only
