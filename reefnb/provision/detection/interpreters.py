"""The python interpreters of this machine: on PATH (pyenv's shims skipped), in pyenv and in conda, and their
versions (asked of each interpreter, ``-S`` so that nothing of its site runs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reefnb.provision.detection.machine import run_quietly
from reefnb.provision.detection.stamps import path_folders

PYTHON_VERSION_TIMEOUT_S = 5


_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?(\.exe)?", re.IGNORECASE)
_VERSION_SCRIPT = "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def conda_roots() -> list[Path]:
    home = Path.home()
    roots = [Path(os.environ["CONDA_PREFIX"])] if os.environ.get("CONDA_PREFIX") else []
    return roots + [home / name for name in ("miniconda3", "anaconda3", "miniforge3", "mambaforge")]


def _prefix_interpreter(prefix: Path) -> Path | None:
    for candidate in (prefix / "bin" / "python", prefix / "bin" / "python3", prefix / "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def python_folders() -> list[str]:
    """Folders whose listing tells whether interpreters came or went."""
    folders = [folder for folder in path_folders() if Path(folder).name != "shims"]
    folders.append(str(pyenv_root() / "versions"))
    for root in conda_roots():
        folders += [str(root), str(root / "envs")]
    return folders


def python_candidates() -> list[tuple[str, str]]:
    """(path, source) of every interpreter on PATH, in pyenv and in conda, not run yet.

    pyenv's shims are skipped: they are shell scripts in front of the versions listed directly.
    """
    candidates: list[tuple[str, str]] = []
    for folder in path_folders():
        if Path(folder).name == "shims":
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if _PYTHON_NAME.fullmatch(name) and os.access(path, os.X_OK) and os.path.isfile(path):
                candidates.append((path, "path"))
    versions = pyenv_root() / "versions"
    try:
        for version in sorted(versions.iterdir(), key=_natural_key):
            interpreter = _prefix_interpreter(version)
            if interpreter is not None:
                candidates.append((str(interpreter), "pyenv"))
    except OSError:
        pass
    for root in conda_roots():
        prefixes = [root]
        try:
            prefixes += sorted((root / "envs").iterdir())
        except OSError:
            pass
        for prefix in prefixes:
            interpreter = _prefix_interpreter(prefix)
            if interpreter is not None:
                candidates.append((str(interpreter), "conda"))
    return candidates


def _natural_key(path: Path) -> list:
    """Sorts 3.9.18 before 3.10.13."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name)]


def python_version_of(path: str) -> str | None:
    output = run_quietly([path, "-S", "-c", _VERSION_SCRIPT], PYTHON_VERSION_TIMEOUT_S)
    if output is None:
        return None
    match = re.search(r"\d+\.\d+\.\d+", output)
    return match.group(0) if match else None
