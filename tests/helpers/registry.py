"""Registries: bare git repositories made in the test's folder, users with their own REEF_HOME, packages.

Its fixtures serve the whole suite (conftest registers this module as a plugin): ``bare`` (a registry), ``user``
(switch REEF_HOME to a user's) and ``git_identity`` (asked by both; a module whose other tests commit too marks
itself ``pytestmark = pytest.mark.usefixtures("git_identity")``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.solutions import write_solution
from reefnb.sharing.package import export_package

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture
def git_identity(monkeypatch):
    """No global git config on a fresh CI machine: every commit here names this identity."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def bare(tmp_path, git_identity) -> Path:
    """An empty bare git repository: a registry."""
    path = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


@pytest.fixture
def user(tmp_path, monkeypatch, git_identity):
    """Switch to a user: their own REEF_HOME (the registry clones, the results store, pulled solutions)."""

    def switch(name: str) -> Path:
        home = tmp_path / "homes" / name
        monkeypatch.setenv("REEF_HOME", str(home))
        return home

    return switch


def make_package(
    tmp_path: Path,
    name: str,
    version: str,
    components: dict | None = None,
    description: str = "",
    kind: str | None = None,
    salt: str = "",
) -> Path:
    """A package of a one-notebook solution ``name``@``version`` exported under ``tmp_path/packages``."""
    manifest = {
        "name": name,
        "version": version,
        "description": description or f"{name} for tests",
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    if components:
        manifest["components"] = components
    if kind:
        manifest["kind"] = kind
    folder = write_solution(tmp_path / "sources" / f"{name}-{version}{salt}", manifest, "x = 1", f"y = x + 1  # {salt}")
    return Path(export_package(folder, tmp_path / "packages" / f"{name}-{version}{salt}.reef.zip")["package"])


def git_clone(bare: Path, target: Path) -> Path:
    """A clone of ``bare`` in ``target``."""
    subprocess.run(["git", "clone", "--quiet", str(bare), str(target)], check=True)
    return target


def git_push_all(clone: Path, message: str) -> None:
    """Commit everything in ``clone`` and push it."""
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(clone), "commit", "--quiet", "-m", message], check=True)
    subprocess.run(["git", "-C", str(clone), "push", "--quiet", "origin", "HEAD"], check=True)
