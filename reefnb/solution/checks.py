"""Checks of a manifest's sections that its JSON Schema cannot express: requirement syntax, artifact
sources and fallbacks, action entries. Pure functions of the manifest's data (and its folder), so
``validate_manifest`` runs them without importing the stages that later use those sections.
Each returns (JSON pointer, message) pairs.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from reefnb.common.exceptions import PathOutside
from reefnb.common.json_input import pointer_token
from reefnb.solution.confinement import resolve_inside

SCHEMES = ("http", "https", "file")


def artifact_problems(artifacts: dict[str, dict]) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each problem of an ``artifacts`` section that the schema cannot see:
    no source, a download without sha256, a URL scheme other than http(s)/file, a malformed
    ``generate``, an unknown ``fallback`` or a fallback cycle."""
    problems: list[tuple[str, str]] = []
    for name, spec in artifacts.items():
        pointer = f"/artifacts/{pointer_token(name)}"
        urls = spec_urls(spec)
        if not urls and "generate" not in spec and not spec.get("supplied"):
            problems.append((pointer, "needs 'url', 'urls', 'generate' or 'supplied'"))
        if spec.get("supplied") and "sha256" not in spec:
            problems.append((f"{pointer}/sha256", "a supplied artifact needs its sha256: the file given for it must be verified"))
        if "path" in spec and not is_plain_path(spec["path"]):
            problems.append((f"{pointer}/path", f"'{spec['path']}' must be a relative path without '..' inside the solution folder"))
        if urls and "sha256" not in spec:
            problems.append((f"{pointer}/sha256", "a downloaded artifact needs its sha256: every download must be verified"))
        for url in urls:
            if urlsplit(url).scheme.lower() not in SCHEMES:
                problems.append((f"{pointer}/{'url' if 'url' in spec else 'urls'}", f"'{url}': only http, https and file URLs are allowed"))
        if "generate" in spec and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", spec["generate"]):
            problems.append((f"{pointer}/generate", f"'{spec['generate']}' is not 'module:function'"))
        if "fallback" in spec:
            cycle = _fallback_cycle(name, artifacts)
            if spec["fallback"] not in artifacts:
                problems.append((f"{pointer}/fallback", f"no artifact '{spec['fallback']}' in /artifacts"))
            elif cycle:
                problems.append((f"{pointer}/fallback", f"fallback cycle: {' -> '.join(cycle)}"))
    return problems


def spec_urls(spec: dict) -> list[str]:
    urls = list(spec.get("urls", []))
    if "url" in spec:
        urls.insert(0, spec["url"])
    return urls


def _fallback_cycle(name: str, artifacts: dict[str, dict]) -> list[str]:
    """The fallback chain from ``name`` ending where it loops, or [] when it does not."""
    chain = [name]
    current = artifacts.get(name, {}).get("fallback")
    while current is not None and current in artifacts:
        if current in chain:
            return [*chain, current]
        chain.append(current)
        current = artifacts[current].get("fallback")
    return []


def is_plain_path(text: str) -> bool:
    """A relative path without ``..``, ``~`` or empty parts (what a spec's ``path`` may be)."""
    return (
        isinstance(text, str)
        and bool(text)
        and not text.startswith(("/", "~", "\\"))
        and "\0" not in text
        and all(part not in ("", ".", "..") for part in text.split("/"))
    )


def syntax_problems(requires: dict) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each requirement string that does not parse."""
    problems = []
    if "python" in requires:
        try:
            SpecifierSet(requires["python"])
        except InvalidSpecifier:
            problems.append(("/requires/python", f"{requires['python']!r} is not a version range (e.g. >=3.10,<3.13)"))
    for index, text in enumerate(requires.get("packages", [])):
        try:
            Requirement(text)
        except InvalidRequirement as error:
            problems.append((f"/requires/packages/{index}", f"{text!r} is not a PEP 508 requirement: {str(error).splitlines()[0]}"))
    for index, tool in enumerate(requires.get("tools", [])):
        try:
            SpecifierSet(tool.get("version", ""))
        except InvalidSpecifier:
            problems.append((f"/requires/tools/{index}/version", f"{tool['version']!r} is not a version range (e.g. >=9)"))
    return problems


RESERVED_NAMES = frozenset({"call", "close", "describe", "names", "solution", "python", "workers"})


def module_file(folder: Path, module: str) -> Path | None:
    """The file of ``module`` (dotted) under ``folder``: ``a/b.py`` or ``a/b/__init__.py``; None when neither exists."""
    base = Path(folder, *module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def api_problems(api: dict, folder: Path) -> list[tuple[str, str]]:
    """(pointer, message) for the manifest's ``api`` section beyond its schema: each entry's module is a file
    inside the solution folder, input and output are valid JSON Schemas (the input an object), no name is one
    of the handle's own attributes, and the demo page is a file inside the folder."""
    import jsonschema

    problems = []
    for name, spec in api.get("actions", {}).items():
        pointer = f"/api/actions/{name}"
        if name in RESERVED_NAMES:
            problems.append((pointer, f"'{name}' is reserved (reserved: {', '.join(sorted(RESERVED_NAMES))})"))
        module = spec["entry"].partition(":")[0]
        found = module_file(folder, module)
        try:
            if found is None:
                problems.append((f"{pointer}/entry", f"module '{module}' is not a file of the solution ({module.replace('.', '/')}.py in {folder})"))
            else:
                resolve_inside(folder, found.relative_to(folder))
        except PathOutside as error:
            problems.append((f"{pointer}/entry", str(error)))
        for key in ("input", "output"):
            if key in spec:
                try:
                    jsonschema.Draft202012Validator.check_schema(spec[key])
                except jsonschema.SchemaError as error:
                    problems.append((f"{pointer}/{key}", f"not a valid JSON Schema: {' '.join(error.message.split())[:200]}"))
        if spec.get("input", {}).get("type", "object") != "object":
            problems.append((f"{pointer}/input/type", "an action's input is an object (its fields are the keyword arguments)"))
    if "demo" in api:
        try:
            if not resolve_inside(folder, api["demo"]).is_file():
                problems.append(("/api/demo", f"page '{api['demo']}' not found in {folder}"))
        except PathOutside as error:
            problems.append(("/api/demo", str(error)))
    return problems
