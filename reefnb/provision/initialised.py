"""Local solutions, as CodeReef's client had them: the ones initialised on this machine, and where each came from.

The index is ``$REEF_HOME/solutions.json``: name -> folder, version, environment.

A folder made from a package (``reef import``, ``reef init PACKAGE``, ``reef pull``, ``reef reproduce PACKAGE``)
carries its origin: ``.reef-origin.json``, written by the import, never taken from the package (a member of that
name is refused). Its code is not the user's own: every verb that runs it (``run``, ``sweep``, ``benchmark``,
``reproduce``, ``serve``, ``reefnb.use``, the JupyterLab panel) refuses it without ``--trust``, unless the trust
was recorded once, by ``reef init FOLDER --trust`` (``trusted`` in the marker; ``reef ls`` shows it). Folders under
``solutions_home()`` count as imported with or without a marker; a folder without one elsewhere is the user's own.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from reefnb.common.exceptions import ReefError
from reefnb.common.files import read_json_object, write_json_object
from reefnb.common.json_input import read_json
from reefnb.common.paths import envs_home, reef_home, solutions_home
from reefnb.provision.envs import get_environment, remove_environment
from reefnb.solution.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES, Solution

ORIGIN_NAME = ".reef-origin.json"  # in a folder made from a package: where it came from, and the trust decision
_MAX_ORIGIN_BYTES = 64 * 1024


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
    """The initialised solutions, with their environment's and folder's sizes in bytes and whether they are trusted
    (``trust``: ``own``, ``trusted`` or ``not trusted``, see ``trust_decision``)."""
    entries = []
    for name, entry in sorted(read_index().items()):
        environment = entry.get("environment")
        env_path = envs_home() / environment if environment else None
        entries.append(
            {
                **entry,
                "name": name,
                "exists": Path(entry["path"]).is_dir(),
                **trust_decision(entry["path"]),
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
        "variables": {
            "VIRTUAL_ENV": environment.path,
            "PATH": f"{environment.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        },
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
    if (
        folder.is_dir()
        and home in folder.resolve().parents
        and "cache" not in folder.resolve().relative_to(home).parts[:1]
    ):
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


# --- origin and trust ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_origin(folder: Path, source: str | Path) -> None:
    """Mark ``folder`` as made from the package ``source`` (not trusted: see ``record_trust``)."""
    write_json_object(
        Path(folder) / ORIGIN_NAME, {"origin": "package", "source": str(source), "imported": _now(), "trusted": None}
    )


def _read_origin(marker: Path) -> dict:
    """The marker's content; an unreadable or foreign one is an origin without trust (it fails closed)."""
    try:
        return read_json(marker, max_bytes=_MAX_ORIGIN_BYTES, expect=dict)
    except (ReefError, OSError):
        return {"trusted": None}


def package_origin(path: str | Path) -> Path | None:
    """The folder made from a package that ``path`` (symbolic links followed) lies in, None for the user's own.

    That is the nearest folder, ``path`` or a parent, holding ``ORIGIN_NAME``, else the folder under
    ``solutions_home()`` it lies in (imported there before markers were written)."""
    try:
        resolved = Path(path).resolve()
        for folder in (resolved, *resolved.parents):
            if (folder / ORIGIN_NAME).is_file():
                return folder
        home = solutions_home().resolve()
        inside = resolved.relative_to(home).parts
    except (OSError, ValueError, RuntimeError):
        return None
    return home / inside[0] if inside else None


def trusted_at(folder: Path) -> str | None:
    """When the trust in package folder ``folder`` was recorded (``reef init FOLDER --trust``), None if never."""
    marker = Path(folder) / ORIGIN_NAME
    trusted = _read_origin(marker).get("trusted") if marker.is_file() else None
    return trusted.get("at") if isinstance(trusted, dict) and isinstance(trusted.get("at"), str) else None


def untrusted_origin(path: str | Path) -> Path | None:
    """The package folder ``path`` lies in when no trust in it was recorded; None when it may run."""
    folder = package_origin(path)
    return folder if folder is not None and trusted_at(folder) is None else None


def trust_decision(path: str | Path) -> dict:
    """What ``reef ls`` says of a folder: ``trust`` is ``own`` (no package made it), ``trusted`` (recorded at
    ``trusted_at``) or ``not trusted``."""
    folder = package_origin(path)
    at = trusted_at(folder) if folder is not None else None
    return {"trust": "own" if folder is None else "trusted" if at else "not trusted", "trusted_at": at}


def record_trust(path: str | Path) -> Path | None:
    """Record that the user trusts the package folder ``path`` lies in (``reef init FOLDER --trust``); the folder,
    None when ``path`` is the user's own (nothing to record)."""
    folder = package_origin(path)
    if folder is None:
        return None
    marker = folder / ORIGIN_NAME
    data = _read_origin(marker) if marker.is_file() else {"origin": "package", "source": str(folder)}
    write_json_object(marker, {**data, "trusted": {"at": _now(), "by": "reef init --trust"}})
    return folder


def untrusted_source(source: str | Path | Solution | None) -> Path | None:
    """The package folder without recorded trust that ``source`` (a solution, its folder or manifest, a notebook;
    symbolic links followed) or one of its workflows' notebooks lies in; None when it may run."""
    if not source:
        return None
    if isinstance(source, Solution):
        paths = [source.path, *(flow.notebook for flow in source.workflows.values())]
    else:
        paths = [Path(source), *_workflow_notebooks(Path(source))]
    return next((folder for folder in map(untrusted_origin, paths) if folder is not None), None)


def _workflow_notebooks(source: Path) -> list[Path]:
    """The notebooks a folder's or manifest's workflows name, read as ``load_solution`` reads them but not validated
    (a few ms instead of a validation's 100 ms; a manifest that does not load is the verb's to report)."""
    manifest = source / MANIFEST_NAME if source.is_dir() else source
    if manifest.suffix == ".ipynb" or not manifest.is_file():
        return []
    try:
        data = read_json(manifest, max_bytes=MAX_MANIFEST_BYTES)
    except (ReefError, OSError):
        return []
    workflows = data.get("workflows") if isinstance(data, dict) else None
    specs = workflows.values() if isinstance(workflows, dict) else []
    return [
        manifest.parent / spec["notebook"]
        for spec in specs
        if isinstance(spec, dict) and isinstance(spec.get("notebook"), str)
    ]


def refuse_untrusted(source: str | Path | Solution | None, what: str = "notebooks") -> None:
    """ReefError (exit 2) when ``source`` lies in a package folder not trusted (``untrusted_source``): one line
    naming the folder and how to trust it. ``what`` is what would run (``notebooks``, ``actions``)."""
    folder = untrusted_source(source)
    if folder is not None:
        raise ReefError(
            f"{folder}: a folder made from a package: its {what} are code from elsewhere: read it, then pass --trust "
            f"to run them (or trust the folder once: reef init {folder} --trust)"
        )
