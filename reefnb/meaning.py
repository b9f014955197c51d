"""What recorded results mean: the manifest of the solution they name, found by name.

A run record names its solution (name and version). Its metrics' units, goals and formats, the
dashboard's title and axes and the expected results are in that solution's manifest. Given a
folder, the manifest is there; given a name, it is looked up among the solutions initialised here
(``reef init``) and the manifests that came with pulled results (``$REEF_HOME/manifests``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import ReefError
from .store import reef_home

if TYPE_CHECKING:
    import pandas

    from .manifest import Solution

log = logging.getLogger(__name__)

MANIFESTS_FOLDER = "manifests"  # $REEF_HOME/manifests/NAME/VERSION/solution.json, and in a registry


def manifests_home() -> Path:
    return reef_home() / MANIFESTS_FOLDER


def solution_named(name: str, versions: Any = ()) -> Solution | None:
    """The manifest of solution ``name``: initialised here, else kept with pulled results (the newest
    of ``versions`` when given, else the newest there is); None when none is known."""
    from packaging.version import InvalidVersion, Version

    from .local import _read as initialised
    from .manifest import load_solution

    entry = initialised().get(name)
    if entry and (Path(entry.get("path", "")) / "solution.json").is_file():
        try:
            return load_solution(entry["path"])
        except ReefError as error:
            log.warning("%s", error)
    folder = manifests_home() / name
    wanted = {str(version) for version in versions if version}

    def order(path: Path) -> tuple[int, Any]:
        try:
            return (1, Version(path.name))
        except InvalidVersion:
            return (0, path.name)

    candidates = sorted((path for path in folder.glob("*") if (path / "solution.json").is_file()), key=order, reverse=True) if folder.is_dir() else []
    for path in [p for p in candidates if p.name in wanted] or candidates:
        try:
            solution = load_solution(path)
        except ReefError as error:
            log.warning("%s", error)
            continue
        if solution.name == name:
            return solution
    return None


def results_and_solution(argument: str | None) -> tuple[pandas.DataFrame, Solution | None]:
    """The results frame for ``argument`` (a solution's folder or name, None for all runs) and the
    Solution that gives them their meaning, when one is at hand."""
    from .frame import results
    from .manifest import load_solution

    if argument and (Path(argument) / "solution.json").is_file():
        solution = load_solution(argument)
        return results(solution=solution.name), solution
    frame = results(solution=argument)
    solution = solution_named(argument, frame["version"].unique() if "version" in frame else ()) if argument else None
    return frame, solution
