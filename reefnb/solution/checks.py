"""Checks of a manifest's sections that its JSON Schema cannot express: requirement syntax, artifact
sources and fallbacks, action entries. Pure functions of the manifest's data (and its folder), so
``validate_manifest`` runs them without importing the stages that later use those sections.
Each returns (JSON pointer, message) pairs.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from reefnb.common.exceptions import PathOutside, ReefError
from reefnb.common.json_input import pointer_token, read_json
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
            problems.append(
                (f"{pointer}/sha256", "a supplied artifact needs its sha256: the file given for it must be verified")
            )
        if "path" in spec and not is_plain_path(spec["path"]):
            problems.append(
                (f"{pointer}/path", f"'{spec['path']}' must be a relative path without '..' inside the solution folder")
            )
        if urls and "sha256" not in spec:
            problems.append(
                (f"{pointer}/sha256", "a downloaded artifact needs its sha256: every download must be verified")
            )
        for url in urls:
            if urlsplit(url).scheme.lower() not in SCHEMES:
                problems.append(
                    (
                        f"{pointer}/{'url' if 'url' in spec else 'urls'}",
                        f"'{url}': only http, https and file URLs are allowed",
                    )
                )
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
            problems.append(
                (f"/requires/packages/{index}", f"{text!r} is not a PEP 508 requirement: {str(error).splitlines()[0]}")
            )
    for index, tool in enumerate(requires.get("tools", [])):
        try:
            SpecifierSet(tool.get("version", ""))
        except InvalidSpecifier:
            problems.append(
                (f"/requires/tools/{index}/version", f"{tool['version']!r} is not a version range (e.g. >=9)")
            )
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
                problems.append(
                    (
                        f"{pointer}/entry",
                        f"module '{module}' is not a file of the solution ({module.replace('.', '/')}.py in {folder})",
                    )
                )
            else:
                resolve_inside(folder, found.relative_to(folder))
        except PathOutside as error:
            problems.append((f"{pointer}/entry", str(error)))
        for key in ("input", "output"):
            if key in spec:
                try:
                    jsonschema.Draft202012Validator.check_schema(spec[key])
                except jsonschema.SchemaError as error:
                    problems.append(
                        (f"{pointer}/{key}", f"not a valid JSON Schema: {' '.join(error.message.split())[:200]}")
                    )
        if spec.get("input", {}).get("type", "object") != "object":
            problems.append(
                (f"{pointer}/input/type", "an action's input is an object (its fields are the keyword arguments)")
            )
    if "demo" in api:
        try:
            if not resolve_inside(folder, api["demo"]).is_file():
                problems.append(("/api/demo", f"page '{api['demo']}' not found in {folder}"))
        except PathOutside as error:
            problems.append(("/api/demo", str(error)))
    return problems


# --- what a workflow notebook may call of reefnb: what the kernel environments reef creates have ---------------

KERNEL_PART_TEXT = (
    "record, attach, run_folder, fetch_artifact, the LoadGen harness reefnb.kernel.bench and reef's exceptions"
)
_CATCHES_IMPORT_ERROR = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def kernel_call_problems(data: dict, folder: Path) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each ``reefnb`` name or module that a workflow's Python notebook uses and the
    kernel environments reef creates do not carry (``reefnb.kernel.KERNEL_API`` and ``KERNEL_PART``): run where
    ``reef init`` puts it, that notebook fails with an ImportError. A use inside a ``try`` that catches
    ImportError is the author's own fallback and is not reported; so is a cell that does not parse as Python
    (after its IPython magics). Each notebook is reported once, under the first workflow that names it."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, spec in data.get("workflows", {}).items():
        notebook = spec.get("notebook")
        if not isinstance(notebook, str) or notebook in seen:
            continue
        seen.add(notebook)
        try:
            cells = _python_cells(resolve_inside(folder, notebook))
        except (PathOutside, OSError, ValueError, ReefError):  # validate_manifest reports an unreadable notebook
            continue
        shown = json.dumps(notebook, ensure_ascii=False)[1:-1]  # one line, whatever the file is called
        for used, cell, line in _reefnb_uses_not_carried(cells):
            problems.append(
                (
                    f"/workflows/{pointer_token(name)}/notebook",
                    f"{shown}: cell {cell}, line {line}: reefnb.{used} is not in the kernel environments reef "
                    "creates (they carry "
                    f"{KERNEL_PART_TEXT}), so the notebook fails there with an ImportError: call it from "
                    "reef's own python, or catch the ImportError",
                )
            )
    return problems


def _python_cells(path: Path) -> list[tuple[int, str]]:
    """(index, source) of each code cell of a Python notebook, IPython's magics and shell lines made ``pass``;
    [] for a notebook in another language."""
    notebook = read_json(path, expect=dict)
    metadata = notebook.get("metadata") or {}
    language = (
        (metadata.get("kernelspec") or {}).get("language")
        or (metadata.get("language_info") or {}).get("name")
        or "python"
    )
    if str(language).lower() != "python":
        return []
    cells = []
    for index, cell in enumerate(_cells(notebook)):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))  # nbformat 3 calls a code cell's source its input
        text = "".join(source) if isinstance(source, list) else str(source)
        if text.lstrip().startswith("%%"):  # a cell magic: not Python
            continue
        lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in text.splitlines()]
        cells.append((index, "\n".join(lines)))
    return cells


def _cells(notebook: dict) -> list:
    """The cells of a notebook as reef runs it: nbformat 3's
    worksheets one after the other (as nbformat converts them)."""
    if notebook.get("nbformat") == 3 and isinstance(notebook.get("worksheets"), list):
        return [
            cell
            for sheet in notebook["worksheets"]
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
            for cell in sheet["cells"]
        ]
    return notebook.get("cells") or []


def _reefnb_uses_not_carried(cells: list[tuple[int, str]]) -> list[tuple[str, int, int]]:
    """(dotted name after ``reefnb.``, cell index, line) of the first use of each name a kernel environment lacks."""
    from reefnb.kernel import KERNEL_API, KERNEL_PART

    trees = []
    for index, source in cells:
        try:
            trees.append((index, ast.parse(source)))
        except (SyntaxError, ValueError):
            continue
    imported = [
        alias for _, tree in trees for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ]
    # the names bound to reefnb itself: import reefnb [as NAME], and import reefnb.sub (which binds reefnb)
    aliases = {
        alias.asname or "reefnb"
        for alias in imported
        if alias.name == "reefnb" or (alias.name.startswith("reefnb.") and not alias.asname)
    }
    modules = _reefnb_modules()
    found: dict[str, tuple[int, int]] = {}

    def carried(dotted: list[str]) -> str | None:
        """The first part of ``reefnb.<dotted>`` that a kernel environment lacks, or None."""
        for depth in range(1, len(dotted) + 1):
            module = ".".join(["reefnb", *dotted[:depth]])
            if module in KERNEL_PART:
                continue
            if module in modules or depth == 1 and dotted[0] not in KERNEL_API:
                return ".".join(dotted[:depth])
            return None
        return None

    def visit(node: ast.AST, index: int, guarded: bool) -> None:
        if isinstance(node, ast.Try) and any(_catches_import_error(handler) for handler in node.handlers):
            for child in node.body:
                visit(child, index, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, index, guarded)
            return
        lacking = None
        if isinstance(node, ast.Import):
            lacking = next(
                filter(
                    None,
                    (carried(alias.name.split(".")[1:]) for alias in node.names if alias.name.startswith("reefnb.")),
                ),
                None,
            )
        elif (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and node.module
            and (node.module == "reefnb" or node.module.startswith("reefnb."))
        ):
            base = node.module.split(".")[1:]
            lacking = next(filter(None, (carried([*base, alias.name]) for alias in node.names)), None)
        elif isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain and chain[0] in aliases:
                lacking = carried(chain[1:])
                if lacking is None:
                    return  # the inner attributes are part of this chain
        if lacking is not None and not guarded:
            found.setdefault(lacking, (index, getattr(node, "lineno", 0)))
        for child in ast.iter_child_nodes(node):
            visit(child, index, guarded)

    for index, tree in trees:
        visit(tree, index, False)
    return [(name, cell, line) for name, (cell, line) in found.items()]


def _attribute_chain(node: ast.Attribute) -> list[str]:
    """``a.b.c`` as ``["a", "b", "c"]``; [] when it is not rooted at a plain name."""
    parts = []
    current: ast.AST = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    return [current.id, *reversed(parts)] if isinstance(current, ast.Name) else []


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(item, ast.Name) and item.id in _CATCHES_IMPORT_ERROR for item in caught)


def _reefnb_modules() -> set[str]:
    """Every module of this reefnb (the whole package here; only the kernel part inside a kernel environment)."""
    package = Path(__file__).resolve().parent.parent
    return {
        ".".join(["reefnb", *path.relative_to(package).with_suffix("").parts]).removesuffix(".__init__")
        for path in package.rglob("*.py")
    }
