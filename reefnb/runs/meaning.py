"""What recorded results mean: the manifest of the solution they name, found by name.

A run record names its solution (name and version). Its metrics' units, goals and formats, the
dashboard's title and axes and the expected results are in that solution's manifest. Given a
folder, the manifest is there; given a name, it is looked up among the solutions initialised here
(``reef init``) and the manifests that came with pulled results (``$REEF_HOME/manifests``).
Each record also keeps its metrics' unit, goal and format from the manifest at record time, so that
results with no manifest at hand still say which way is better (``reefnb.analysis.frame.metric_meaning``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reefnb.common.exceptions import PathOutside, ReefError
from reefnb.common.files import write_text_atomically
from reefnb.common.json_input import read_json
from reefnb.common.paths import reef_home
from reefnb.common.scrub import Scrubber
from reefnb.provision.initialised import read_index
from reefnb.solution.confinement import resolve_inside
from reefnb.solution.manifest import Solution, load_solution, schema

if TYPE_CHECKING:
    from reefnb.solution.manifest import Solution

log = logging.getLogger(__name__)

MANIFESTS_FOLDER = "manifests"  # $REEF_HOME/manifests/NAME/VERSION/solution.json, and in a registry


def manifests_home() -> Path:
    return reef_home() / MANIFESTS_FOLDER


def solution_named(name: str, versions: Any = ()) -> Solution | None:
    """The manifest of solution ``name``: initialised here, else kept with pulled results (the newest
    of ``versions`` when given, else the newest there is); None when none is known."""
    from packaging.version import InvalidVersion, Version

    entry = read_index().get(name)
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

    candidates = (
        sorted((path for path in folder.glob("*") if (path / "solution.json").is_file()), key=order, reverse=True)
        if folder.is_dir()
        else []
    )
    for path in [p for p in candidates if p.name in wanted] or candidates:
        try:
            solution = meaning_only(path / "solution.json")
        except ReefError as error:
            log.warning("%s", error)
            continue
        if solution.name == name:
            return solution
    return None


def meaning_only(manifest_path: Path) -> Solution:
    """A manifest kept without its solution's files (pulled with results): checked against the schema
    and its dashboard reference confined to its folder, not for notebooks or modules; no workflow
    of it can run (it has none here)."""
    import jsonschema

    try:
        data = read_json(manifest_path, max_bytes=MAX_SHARED_FILE, expect=dict)
    except ReefError as error:
        raise ReefError(f"{manifest_path}: {error}") from None
    problem = next(iter(jsonschema.Draft202012Validator(schema("solution")).iter_errors(data)), None)
    if problem is not None:
        pointer = "/" + "/".join(str(part) for part in problem.absolute_path)
        raise ReefError(f"{manifest_path}: {pointer}: {problem.message[:200]}")
    reference = data.get("dashboard", {}).get("reference")
    if reference:
        try:
            resolve_inside(manifest_path.parent, reference)
        except PathOutside as error:
            raise ReefError(f"{manifest_path}: /dashboard/reference: {error}") from None
    return Solution(path=manifest_path.parent, manifest_path=manifest_path, data=data, workflows={})


def with_declared_meaning(metrics: dict[str, dict], declared: dict[str, dict]) -> dict[str, dict]:
    """The metrics a run recorded (name -> entry), each given the manifest's goal and format and, where
    the notebook named none, its unit (``declared``: the manifest's metrics by name)."""
    for name, entry in metrics.items():
        spec = declared.get(name) or {}
        if spec.get("unit") and not entry.get("unit"):
            entry["unit"] = spec["unit"]
        entry.update({key: spec[key] for key in ("goal", "format") if spec.get(key)})
    return metrics


MAX_SHARED_FILE = 5 * 2**20  # a manifest or reference CSV kept with pulled results


def manifests_to_share(records: list[dict]) -> dict[str, bytes]:
    """``manifests/NAME/VERSION/solution.json`` (and the reference CSV its dashboard names) of each
    solution version the records name whose folder is here, scrubbed as shared results are."""
    files: dict[str, bytes] = {}
    seen = set()
    for record in records:
        named = record.get("solution") or {}
        key = (named.get("name"), named.get("version"))
        folder = Path(named.get("path") or "")
        if key in seen or not named.get("path") or not (folder / "solution.json").is_file():
            continue
        seen.add(key)
        try:
            solution = load_solution(folder)
        except ReefError as error:
            log.warning("%s: not shared with the results", error)
            continue
        if (solution.name, solution.version) != key:
            continue  # the folder holds another version now: its manifest does not describe these runs
        scrubber = Scrubber(folder)
        base = f"{MANIFESTS_FOLDER}/{solution.name}/{solution.version}"
        files[f"{base}/solution.json"] = scrubber.json_bytes(solution.data)
        reference = solution.data.get("dashboard", {}).get("reference")
        if reference:
            try:
                path = resolve_inside(folder, reference)
            except PathOutside:
                continue
            if path.is_file() and path.stat().st_size <= MAX_SHARED_FILE:
                files[f"{base}/{Path(reference).as_posix()}"] = scrubber.text(
                    path.read_text(encoding="utf-8", errors="replace")
                ).encode()
    return files


def keep_pulled_manifests(registry_folder: Path, registry: str) -> list[str]:
    """Copy the manifests shared with results in a registry's clone into ``$REEF_HOME/manifests``
    (a version already kept is left as it is); a manifest that does not validate is skipped with a
    warning. Only the manifest and the reference CSV it names are copied: nothing there runs."""
    import re
    import shutil
    import tempfile

    pattern = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}|[0-9A-Za-z.+_-]{1,64}")
    kept = []
    for source in sorted((registry_folder / MANIFESTS_FOLDER).glob("*/*/solution.json")):
        name, version = source.parent.parent.name, source.parent.name
        target = manifests_home() / name / version
        if not (pattern.fullmatch(name) and pattern.fullmatch(version)) or (target / "solution.json").is_file():
            continue
        if source.is_symlink() or source.stat().st_size > MAX_SHARED_FILE:
            log.warning(
                "registry %s: %s: not a plain manifest of at most %d bytes; skipped",
                registry,
                source.relative_to(registry_folder),
                MAX_SHARED_FILE,
            )
            continue
        with tempfile.TemporaryDirectory(dir=reef_home()) as scratch:
            copy = Path(scratch)
            shutil.copyfile(source, copy / "solution.json")
            try:
                solution = meaning_only(copy / "solution.json")
                reference = solution.data.get("dashboard", {}).get("reference")
                if reference:
                    found = resolve_inside(source.parent, reference)
                    if found.is_file() and found.stat().st_size <= MAX_SHARED_FILE:
                        (copy / reference).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(found, copy / reference)
            except (ReefError, PathOutside) as error:
                log.warning(
                    "registry %s: %s: %s; skipped",
                    registry,
                    source.relative_to(registry_folder),
                    str(error).replace(str(copy), "manifest"),
                )
                continue
            if solution.name != name or solution.version != version:
                log.warning(
                    "registry %s: %s names %s@%s; skipped",
                    registry,
                    source.relative_to(registry_folder),
                    solution.name,
                    solution.version,
                )
                continue
            for path in sorted(p for p in copy.rglob("*") if p.is_file()):
                write_text_atomically(
                    target / path.relative_to(copy), path.read_text(encoding="utf-8", errors="replace")
                )
        kept.append(f"{name}@{version}")
    return kept
