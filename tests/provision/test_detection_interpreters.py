"""reefnb.provision.detection.interpreters: the pythons on PATH, in pyenv and in conda, and their versions."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from reefnb.provision.detection import interpreters


def _fake_python(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_pythons_on_path_by_name_without_shims(tmp_path, monkeypatch):
    found = _fake_python(tmp_path / "bin" / "python3.99", "3.99.1")
    _fake_python(tmp_path / "bin" / "pythonista", "0.0.1")  # not a python's name
    _fake_python(tmp_path / "shims" / "python", "9.9.9")  # pyenv's shims stand in front of its versions
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path / "shims"), str(tmp_path / "bin")]))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    assert interpreters.python_candidates() == [(str(found), "path")]
    assert interpreters.python_version_of(str(found)) == "3.99.1"
    assert str(tmp_path / "shims") not in interpreters.python_folders()


def test_pyenv_versions_in_natural_order_and_conda_environments(tmp_path, monkeypatch):
    root = tmp_path / "pyenv"
    for version in ("3.10.13", "3.9.18"):
        _fake_python(root / "versions" / version / "bin" / "python", version)
    conda = tmp_path / "home" / "miniforge3"
    _fake_python(conda / "envs" / "work" / "bin" / "python3", "3.12.1")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    assert interpreters.python_candidates() == [
        (str(root / "versions" / "3.9.18" / "bin" / "python"), "pyenv"),
        (str(root / "versions" / "3.10.13" / "bin" / "python"), "pyenv"),
        (str(conda / "envs" / "work" / "bin" / "python3"), "conda"),
    ]
    assert {str(root / "versions"), str(conda / "envs")} <= set(interpreters.python_folders())


def test_the_version_of_a_real_python_and_of_no_python(tmp_path):
    assert interpreters.python_version_of(sys.executable) == platform.python_version()
    assert interpreters.python_version_of(str(tmp_path / "python")) is None
