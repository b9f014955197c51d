"""What an export must find before it writes a package: the files a notebook reads, its local modules,
the kernel it ran on, absolute paths in its parameters and secrets written in its code.

Files are found two ways: statically, by folding the string expressions of the code
(``os.path.join(data_dir, "x.csv")``, ``Path("data") / "x.csv"``, f-strings, ``glob``) with the
values of simple assignments, and by running: the reef engine records every file the kernel opened
for reading (``files_read`` in the run record, see ``reefnb.runs.execute``).
"""

from __future__ import annotations

import ast
import glob as globbing
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ParameterError

log = logging.getLogger(__name__)

_PATH_CALLS = {"join", "Path", "PurePath", "PosixPath", "joinpath", "abspath", "normpath", "expanduser", "realpath"}
_GLOB_CALLS = {"glob", "iglob", "rglob"}
MAX_GLOB_FILES = 1000


@dataclass
class FoundFiles:
    """Files under the solution folder a notebook reads, by how they were found, and those outside it."""

    static: dict[str, Path] = field(default_factory=dict)  # package name -> file
    traced: dict[str, Path] = field(default_factory=dict)
    outside: list[str] = field(default_factory=list)  # read by a run, outside the solution folder
    modules: set[str] = field(default_factory=set)  # top-level names of local modules (not distributions)
    module_imports: dict[str, str] = field(default_factory=dict)  # what the local modules import -> which module


def _code(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def code_trees(notebook) -> list[ast.Module]:
    trees = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            trees.append(ast.parse(_code(cell.source)))
        except SyntaxError:
            continue
    return trees


class _Folder(ast.NodeVisitor):
    """Evaluates string and path expressions with the names assigned so far; collects what they give."""

    def __init__(self, base: Path):
        self.base = base
        self.names: dict[str, str] = {}
        self.strings: set[str] = set()
        self.globs: set[str] = set()

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        value = self.evaluate(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name) and value is not None:
                self.names[target.id] = value

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.generic_visit(node)
        value = self.evaluate(node.value) if node.value is not None else None
        if isinstance(node.target, ast.Name) and value is not None:
            self.names[node.target.id] = value

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name in _GLOB_CALLS:
            pattern = self.evaluate(node.args[0]) if node.args else None
            if isinstance(node.func, ast.Attribute) and name != "iglob" and not _is_module(node.func.value, "glob"):
                folder = self.evaluate(node.func.value)  # Path(folder).glob(pattern)
                pattern = (
                    None
                    if folder is None or pattern is None
                    else os.path.join(folder, ("**/" if name == "rglob" else "") + pattern)
                )
            if pattern is not None:
                self.globs.add(pattern)
        else:
            value = self.evaluate(node)
            if value is not None:
                self.strings.add(value)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.generic_visit(node)
        value = self.evaluate(node)
        if value is not None:
            self.strings.add(value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        value = self.evaluate(node)
        if value is not None:
            self.strings.add(value)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and 0 < len(node.value) < 256 and "\n" not in node.value:
            self.strings.add(node.value)

    def evaluate(self, node: ast.expr | None) -> str | None:
        """The string (or path, as a string) an expression gives, when it is made of constants and known names."""
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Add)):
            left, right = self.evaluate(node.left), self.evaluate(node.right)
            if left is None or right is None:
                return None
            return os.path.join(left, right) if isinstance(node.op, ast.Div) else left + right
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                part = self.evaluate(value.value if isinstance(value, ast.FormattedValue) else value)
                if part is None:
                    return None
                parts.append(part)
            return "".join(parts)
        if isinstance(node, ast.Call):
            return self._call(node)
        return None

    def _call(self, node: ast.Call) -> str | None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in _PATH_CALLS or node.keywords:
            return None
        arguments = [self.evaluate(argument) for argument in node.args]
        if any(argument is None for argument in arguments):
            return None
        if name == "joinpath" and isinstance(func, ast.Attribute):
            start = self.evaluate(func.value)
            return None if start is None else os.path.join(start, *arguments)
        if not arguments:
            return "." if name in ("Path", "PurePath", "PosixPath") else None
        if name == "expanduser":
            return os.path.expanduser(arguments[0])
        return os.path.join(*arguments) if len(arguments) > 1 or name != "abspath" else arguments[0]


def _is_module(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def static_files(trees: list[ast.Module], base: Path, folder: Path) -> dict[str, Path]:
    """Files under ``folder`` that the code names (``base``: where the code runs)."""
    visitor = _Folder(base)
    for tree in trees:
        visitor.visit(tree)
    found: dict[str, Path] = {}
    for text in visitor.strings:
        _add(found, base / os.path.expanduser(text), folder)
    for pattern in visitor.globs:
        pattern = os.path.expanduser(pattern)
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        for index, match in enumerate(sorted(globbing.iglob(full, recursive=True))):
            if index >= MAX_GLOB_FILES:
                log.warning("%s: more than %d files; the rest are not packed (use --include)", pattern, MAX_GLOB_FILES)
                break
            _add(found, Path(match), folder)
    return found


def _add(found: dict[str, Path], candidate: Path, folder: Path) -> None:
    try:
        if not candidate.is_file() or candidate.is_symlink():
            return
        resolved = candidate.resolve()
        found[resolved.relative_to(folder.resolve()).as_posix()] = resolved
    except (OSError, ValueError):
        return


MAX_LOCAL_MODULES = 200  # files of local modules followed, at most
MAX_MODULE_BYTES = 1024 * 1024  # a larger local module is packed but not read
MAX_IMPORT_DEPTH = 8  # local modules importing local modules, at most this deep


@dataclass
class LocalModules:
    """The local modules a notebook imports (``helpers.py``, ``utils/``), and what they import in turn."""

    files: dict[str, Path] = field(default_factory=dict)  # package name -> file
    names: set[str] = field(default_factory=set)  # their top-level names
    trees: list[ast.Module] = field(default_factory=list)  # their syntax trees (for the static file scan)
    imports: dict[str, str] = field(default_factory=dict)  # top-level name each imports -> the first module that does


def local_modules(trees: list[ast.Module], base: Path, folder: Path) -> LocalModules:
    """The local modules the code imports, followed through their own imports (up to ``MAX_IMPORT_DEPTH`` deep,
    ``MAX_LOCAL_MODULES`` files, each read up to ``MAX_MODULE_BYTES``)."""
    found = LocalModules()
    pending = [(name, 1) for tree in trees for name in imported_names(tree)]
    while pending:
        name, depth = pending.pop(0)
        if name in found.names or depth > MAX_IMPORT_DEPTH:
            continue
        for candidate in (base / f"{name}.py", base / name / "__init__.py"):
            if not candidate.is_file():
                continue
            found.names.add(name)
            sources = [candidate] if candidate.name != "__init__.py" else sorted(candidate.parent.rglob("*.py"))
            for source in sources:
                if len(found.files) >= MAX_LOCAL_MODULES:
                    log.warning(
                        "%s: more than %d local module files; the rest are not followed", base, MAX_LOCAL_MODULES
                    )
                    return found
                _add(found.files, source, folder)
                tree = _module_tree(source)
                if tree is None:
                    continue
                found.trees.append(tree)
                for imported in imported_names(tree):
                    found.imports.setdefault(imported, source.relative_to(base).as_posix())
                    pending.append((imported, depth + 1))
            break
    for name in found.names:
        found.imports.pop(name, None)
    return found


def _module_tree(source: Path) -> ast.Module | None:
    try:
        if source.stat().st_size > MAX_MODULE_BYTES:
            return None
        return ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def imported_names(tree: ast.Module) -> list[str]:
    """Top-level names of the absolute imports in a tree."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return names


def traced_files(records: list[dict], folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Files the recorded runs read (``files_read``): those in ``folder`` that still exist, and those outside it."""
    inside: dict[str, Path] = {}
    outside: set[str] = set()
    for record in records:
        for path in record.get("files_read") or []:
            if os.path.isabs(path):
                outside.add(path)
                continue
            _add(inside, folder / path, folder)
    return inside, sorted(outside)


MAX_FOLDERS_UP = 2  # a file read outside the solution is named relative to it at most this many folders up


def relative_outside(path: str, folder: Path) -> tuple[str | None, str]:
    """A file read outside ``folder`` named relative to it (``../data/x.csv``), when that names the same place
    on another machine: at most two folders up, below a folder they share that is neither the root nor the
    home folder (or above it). Returns ``(relative name, "")`` or ``(None, why it is left out)``."""
    try:
        where, base = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
        common = Path(os.path.commonpath([where, base]))
        relative = Path(os.path.relpath(where, base))
    except ValueError:  # another drive
        return None, "on another drive"
    home = Path(os.path.abspath(Path.home()))
    if common == Path(common.anchor):
        return None, "it shares no folder with the solution but the root"
    if home.is_relative_to(common):
        return None, "it shares no folder with the solution but the home folder"
    ups = len([part for part in relative.parts if part == ".."])
    if ups > MAX_FOLDERS_UP:
        return None, f"{ups} folders above the solution (at most {MAX_FOLDERS_UP} are named)"
    return relative.as_posix(), ""


def kernel_python(records: list[dict]) -> str | None:
    """The interpreter the last recorded run's kernel ran (None: unknown, ask this python)."""
    for record in reversed(records):
        executable = ((record.get("environment") or {}).get("python") or {}).get("executable")
        if executable and os.path.exists(executable):
            return executable
    return None


def relative_parameter(
    name: str,
    value: Any,
    notebook_folder: Path,
    folder: Path,
    where: str,
    externals: dict[str, str] | None = None,
    used: set[str] | None = None,
) -> Any:
    """A parameter value that is an absolute path inside ``folder``, made relative to the notebook's folder.

    ``externals`` maps the resolved absolute path of each ``--external`` file to where its artifact is
    placed in the solution (relative to ``folder``): a value naming one points there instead (and the
    file's path goes into ``used``). Any other absolute path outside the solution is refused: the
    package could never be rerun elsewhere.
    """
    if not isinstance(value, str) or not value.startswith(("/", "~")) or "\n" in value:
        return value
    path = Path(os.path.expanduser(value))
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = path
    if externals and str(resolved) in externals:
        if used is not None:
            used.add(str(resolved))
        return os.path.relpath(folder.resolve() / externals[str(resolved)], notebook_folder.resolve())
    try:
        resolved.relative_to(folder.resolve())
    except ValueError:
        raise ParameterError(
            f"{where}: parameter '{name}' = {value!r} is an absolute path outside the solution folder {folder}: "
            "move the data into the solution folder (or make the default relative), or declare the file as an "
            f"artifact the evaluator supplies: reef export --external {_artifact_name(value)}={value}"
        ) from None
    return os.path.relpath(resolved, notebook_folder.resolve())


def _artifact_name(path: str) -> str:
    """An artifact name suggested for a file: its name without suffixes, in the manifest's alphabet."""
    stem = Path(path).name.split(".")[0]
    return (
        "".join(character if character.isalnum() or character in "._-" else "-" for character in stem).strip("-._")
        or "data"
    )


def imported_modules(notebook) -> list[str]:
    """The top-level modules the notebook's code cells import (absolute imports only)."""
    names = set()
    for tree in code_trees(notebook):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return sorted(names)
