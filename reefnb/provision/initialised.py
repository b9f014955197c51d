"""Local solutions, as CodeReef's client had them: the ones initialised on this machine.

The index is ``$REEF_HOME/solutions.json``: name -> folder, version, environment.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from reefnb.common.exceptions import ReefError
from reefnb.common.files import read_json_object, write_json_object
from reefnb.common.paths import envs_home, reef_home
from reefnb.provision.envs import get_environment, remove_environment


def index_path() -> Path:
    return reef_home() / "solutions.json"


def read_index() -> dict:
    """The index of initialised solutions: name -> folder, version, environment."""
    return read_json_object(index_path())


def _write(index: dict) -> None:
    write_json_object(index_path(), index)


def remember_solution(solution, environment: str | None) -> None:
    """Record that ``solution`` was initialised here (into ``environment``, None for native)."""
    index = read_index()
    index[solution.name] = {
        "name": solution.name,
        "version": solution.version,
        "path": str(solution.path.resolve()),
        "environment": environment,
        "initialised": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write(index)


def list_solutions() -> list[dict]:
    """The initialised solutions, with their environment's and folder's sizes in bytes."""
    entries = []
    for name, entry in sorted(read_index().items()):
        environment = entry.get("environment")
        env_path = envs_home() / environment if environment else None
        entries.append(
            {
                **entry,
                "name": name,
                "exists": Path(entry["path"]).is_dir(),
                "environment_bytes": folder_size(env_path) if env_path else 0,
                "solution_bytes": folder_size(Path(entry["path"])),
            }
        )
    return entries


def find_solution(name: str) -> dict:
    """The index entry of an initialised solution; ReefError naming the known ones otherwise."""
    index = read_index()
    if name not in index:
        known = ", ".join(sorted(index)) or "none"
        raise ReefError(f"no initialised solution '{name}' (known: {known}); run `reef init FOLDER` first")
    return {**index[name], "name": name}


def activation(name: str) -> dict:
    """How to enter a solution's environment: the line to source and the variables to set."""
    entry = find_solution(name)
    if not entry.get("environment"):
        raise ReefError(f"solution '{name}' was initialised into the current python (--native): nothing to activate")
    environment = get_environment(entry["environment"])
    return {
        "source": f"source {environment.bin / 'activate'}",
        "variables": {"VIRTUAL_ENV": environment.path, "PATH": f"{environment.bin}{os.pathsep}{os.environ.get('PATH', '')}"},
        "environment": environment.name,
    }


def remove_solution(name: str) -> dict:
    """Forget a solution and remove its environment; the shared download cache is never touched.

    The solution's folder is deleted only when it lives under ``$REEF_HOME`` (pulled there by
    reef); a folder of the user's own is left in place.
    """
    entry = find_solution(name)
    removed = {"name": name, "environment": None, "folder": None}
    environment = entry.get("environment")
    others = [other for key, other in read_index().items() if key != name and other.get("environment") == environment]
    if environment and not others and (envs_home() / environment).exists():
        remove_environment(environment)
        removed["environment"] = environment
    folder = Path(entry["path"])
    home = reef_home().resolve()
    if folder.is_dir() and home in folder.resolve().parents and "cache" not in folder.resolve().relative_to(home).parts[:1]:
        shutil.rmtree(folder)
        removed["folder"] = str(folder)
    index = read_index()
    index.pop(name, None)
    _write(index)
    return removed


def folder_size(path: Path | None) -> int:
    total = 0
    if path is None or not path.exists():
        return 0
    for root, _, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(root, file)).st_size
            except OSError:
                pass
    return total
