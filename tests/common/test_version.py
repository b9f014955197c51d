"""reefnb's version is said in one place (reefnb.common.version) and agrees with the package's metadata."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import reefnb
from reefnb.common.version import __version__

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_version_is_the_one_pyproject_declares_and_the_installed_metadata_says():
    project = PYPROJECT.read_text(encoding="utf-8").split("\n[project]\n", 1)[1]
    declared = re.search(r'^version = "([^"]+)"$', project, re.M).group(1)  # tomllib is not in Python 3.10
    assert __version__ == declared == version("reefnb")


def test_the_version_is_a_release_number_and_the_package_exports_it():
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", __version__)
    assert reefnb.__version__ is __version__
