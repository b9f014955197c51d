"""Local solutions, as CodeReef's client had them: the ones initialised on this machine.

The index is ``$REEF_HOME/solutions.json``: name -> folder, version, environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from reefnb.common.exceptions import ReefError
from reefnb.runs.store import reef_home


def index_path() -> Path:
    return reef_home() / "solutions.json"


def _read() -> dict:
    return read_json_object(index_path())


def _write(index: dict) -> None:
    write_json_object(index_path(), index)


def read_json_object(path: Path) -> dict:
    """A JSON object kept under ``$REEF_HOME`` (an index, a list of registries); {} when the file is missing."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ReefError(f"{path}: /: invalid JSON: {error}") from None
    return data if isinstance(data, dict) else {}


def write_json_object(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file renamed)."""
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: readers see the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@contextlib.contextmanager
def locked_file(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) between processes: POSIX ``flock``; where
    there is no ``fcntl`` (Windows), no lock. The one file lock of reefnb (registries, pins, artifact caches).

    Locks are per open file: a process must not take the same lock again while holding it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remember_solution(solution, environment: str | None) -> None:
    """Record that ``solution`` was initialised here (into ``environment``, None for native)."""
    index = _read()
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
    from reefnb.provision.envs import envs_home

    entries = []
    for name, entry in sorted(_read().items()):
        environment = entry.get("environment")
        env_path = envs_home() / environment if environment else None
        entries.append({
            **entry,
            "name": name,
            "exists": Path(entry["path"]).is_dir(),
            "environment_bytes": folder_size(env_path) if env_path else 0,
            "solution_bytes": folder_size(Path(entry["path"])),
        })
    return entries


def find_solution(name: str) -> dict:
    """The index entry of an initialised solution; ReefError naming the known ones otherwise."""
    index = _read()
    if name not in index:
        known = ", ".join(sorted(index)) or "none"
        raise ReefError(f"no initialised solution '{name}' (known: {known}); run `reef init FOLDER` first")
    return {**index[name], "name": name}


def activation(name: str) -> dict:
    """How to enter a solution's environment: the line to source and the variables to set."""
    from reefnb.provision.envs import get_environment

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
    from reefnb.provision.envs import envs_home, remove_environment

    entry = find_solution(name)
    removed = {"name": name, "environment": None, "folder": None}
    environment = entry.get("environment")
    others = [other for key, other in _read().items() if key != name and other.get("environment") == environment]
    if environment and not others and (envs_home() / environment).exists():
        remove_environment(environment)
        removed["environment"] = environment
    folder = Path(entry["path"])
    home = reef_home().resolve()
    if folder.is_dir() and home in folder.resolve().parents and "cache" not in folder.resolve().relative_to(home).parts[:1]:
        shutil.rmtree(folder)
        removed["folder"] = str(folder)
    index = _read()
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
