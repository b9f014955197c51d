"""Declaring what a notebook needs, from the notebook itself: packages, tools and artifacts.

A declaration is checked at once against the kernel's own environment (or, for an artifact,
validated) and stored where export and ``reef init`` find it later:

- in the notebook's metadata, ``metadata.reef`` with the shapes of ``solution.json``
  (``requires.packages``, ``requires.tools``, ``artifacts``);
- in ``solution.json`` when the notebook belongs to a solution (that manifest, in the notebook's
  folder or a parent, names the notebook in one of its workflows).

Both files are read, changed and replaced atomically; the manifest is validated before anything is
written, so a declaration that would make it invalid changes nothing. Declaring the same package,
tool or artifact again replaces the earlier declaration.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import platform
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reefnb.common.exceptions import ManifestError, ReefError
from reefnb.common.files import write_text_atomically
from reefnb.common.json_input import schema_validator
from reefnb.provision.artifacts import artifact_status
from reefnb.provision.requirements import CONFLICT, MISSING, ON_DEMAND, UNMET, Check, Facts, check_requirements
from reefnb.provision.tools import TOOLS, find_tool
from reefnb.solution.checks import artifact_problems, syntax_problems
from reefnb.solution.manifest import MANIFEST_NAME, schema, validate_manifest

log = logging.getLogger(__name__)

METADATA_KEY = "reef"
# Where a notebook's own path may be found in the kernel: JupyterLab (through ipykernel) and VS Code.
SESSION_VARIABLES = ("__session__", "__vsc_ipynb_file__")
SESSION_ENVIRONMENT = "JPY_SESSION_NAME"


class NotebookEditor(Protocol):
    """A front end holding a notebook open (JupyterLab with the Reef extension): it takes the notebook's
    ``metadata.reef`` into its own model, which its next save writes, instead of reef rewriting the file."""

    def held(self, notebook: Path) -> dict | None:
        """The ``metadata.reef`` the editor holds for ``notebook`` as far as reef knows (None: read the file)."""

    def deliver(self, notebook: Path, before: dict, after: dict) -> bool:
        """Hand ``after`` to the editor of ``notebook``; False when no editor of it takes it."""


# Set by a front end (the %reef magic in JupyterLab) around a declaration; None: the notebook file is rewritten.
NOTEBOOK_EDITOR: contextvars.ContextVar[NotebookEditor | None] = contextvars.ContextVar(
    "reef_notebook_editor", default=None
)

_TOOL = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9_.+-]*?)\s*((?:===|~=|==|!=|<=|>=|<|>)\s*\S.*)?\s*")


@dataclass
class Declaration:
    """What was declared, where it was stored, and how it checks out here."""

    section: str  # packages | tools | artifacts
    entries: list  # as stored: requirement strings, tool dicts, or {name: spec} of one artifact
    notebook: Path | None  # the notebook whose metadata holds it
    manifest: Path | None  # the solution.json that holds it too
    checks: list[Check] = field(default_factory=list)
    removed: bool = False
    changed: list[str] = field(default_factory=list)  # the files actually rewritten
    in_editor: bool = False  # the notebook's change went to the editor that holds it open, not to its file

    @property
    def unmet(self) -> list[Check]:
        """The checks that are not met here (missing, conflicting, impossible); an artifact not downloaded yet is
        ``missing`` too, but reef init or its first run fetches it: not a warning."""
        return [
            check
            for check in self.checks
            if check.status in (MISSING, CONFLICT, UNMET) and not (check.kind == "artifact" and check.status == MISSING)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "entries": self.entries,
            "removed": self.removed,
            "notebook": str(self.notebook) if self.notebook else None,
            "solution": str(self.manifest) if self.manifest else None,
            "changed": self.changed,
            "in_editor": self.in_editor,
            "checks": [check.as_dict() for check in self.checks],
            "warnings": warnings(self),
        }


# ---------------------------------------------------------------------------------------------
# Public API


def declare_packages(
    specs: list[str], notebook: str | Path | None = None, solution: str | Path | None = None, remove: bool = False
) -> Declaration:
    """Declare PEP 508 requirements (or, with ``remove``, drop them by name) and check them in this python."""
    from packaging.requirements import Requirement

    specs = [spec.strip() for spec in specs]
    problems = [message for _, message in syntax_problems({"packages": specs})]
    if problems:
        raise ReefError(f"reef require: {problems[0]}")
    names = {_canonical(Requirement(spec).name) for spec in specs}

    def apply(target: dict) -> None:
        requires = target.setdefault("requires", {})
        if remove:
            requires["packages"] = [text for text in requires.get("packages", []) if _package_key(text) not in names]
        else:
            requires["packages"] = _replace(requires.get("packages", []), specs, _package_key)
        _prune(target, "packages")

    declaration = _declare("packages", specs, apply, notebook, solution, remove)
    if not remove:
        declaration.checks = check_requirements({"packages": specs}, kernel_facts())
    return declaration


def declare_tools(
    specs: list[str], notebook: str | Path | None = None, solution: str | Path | None = None, remove: bool = False
) -> Declaration:
    """Declare command-line tools as ``NAME[SPEC]`` (``gcc>=9``, ``git``) and look for them on PATH."""
    tools = [parse_tool(spec) for spec in specs]
    names = {tool["name"] for tool in tools}
    unknown = sorted(names - set(TOOLS))
    if unknown and not remove:  # it could never be met: `reef init` would refuse the solution
        raise ReefError(f"reef tool: reef knows no tool '{unknown[0]}' (known: {', '.join(sorted(TOOLS))})")

    def apply(target: dict) -> None:
        requires = target.setdefault("requires", {})
        if remove:
            requires["tools"] = [tool for tool in requires.get("tools", []) if tool.get("name") not in names]
        else:
            requires["tools"] = _replace(requires.get("tools", []), tools, lambda tool: tool.get("name"))
        _prune(target, "tools")

    declaration = _declare("tools", tools, apply, notebook, solution, remove)
    if not remove:
        declaration.checks = check_requirements({"tools": tools}, kernel_facts())
    return declaration


def declare_artifact(
    name: str, spec: dict, notebook: str | Path | None = None, solution: str | Path | None = None, remove: bool = False
) -> Declaration:
    """Declare a dataset or model (an ``artifacts`` entry of the manifest: url(s), sha256, size...).

    The spec is validated (schema and the rules every download follows: a sha256, http(s) or file
    URLs) and stored; nothing is downloaded: ``reef init`` fetches and verifies it.
    """
    spec = {key: value for key, value in spec.items() if value is not None and value is not False}
    if not remove:
        problems = artifact_spec_problems(name, spec)
        if problems:
            raise ReefError(f"reef artifact: {'; '.join(problems)}")

    def apply(target: dict) -> None:
        artifacts = target.setdefault("artifacts", {})
        if remove:
            artifacts.pop(name, None)
        else:
            artifacts[name] = spec
        if not artifacts:
            target.pop("artifacts")

    declaration = _declare("artifacts", [{name: spec}], apply, notebook, solution, remove)
    if not remove:
        declaration.checks = [_artifact_check(name, spec, declaration.manifest or declaration.notebook)]
    return declaration


def artifact_spec(
    urls: list[str],
    sha256: str,
    size: int | None = None,
    unpack: bool = False,
    license: str | None = None,
    kind: str = "dataset",
    description: str | None = None,
) -> dict:
    """An ``artifacts`` entry as the manifest holds it (one URL as ``url``, mirrors as ``urls``)."""
    spec: dict[str, Any] = {"kind": kind}
    if description:
        spec["description"] = description
    if len(urls) == 1:
        spec["url"] = urls[0]
    else:
        spec["urls"] = list(urls)
    spec["sha256"] = sha256.strip().lower()
    if size is not None:
        spec["size"] = size
    if unpack:
        spec["unpack"] = True
    if license:
        spec["license"] = license
    return spec


def artifact_spec_problems(name: str, spec: dict) -> list[str]:
    """Every problem of one artifact entry, as ``/artifacts/NAME/...: message``."""
    definitions = schema()["$defs"]
    validator = schema_validator({"$ref": "#/$defs/artifact", "$defs": definitions})
    pointer = f"/artifacts/{name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        return [f"{pointer}: '{name}' is not a valid artifact name (letters, digits, '.', '_' and '-')"]
    problems = []
    for error in sorted(
        validator.iter_errors(spec), key=lambda error: list(map(str, error.absolute_path))
    ):  # schema first
        where = "/".join(map(str, error.absolute_path))
        message = error.message
        if error.validator == "pattern" and where == "sha256":
            message = f"{error.instance!r} is not a sha256 (64 hexadecimal digits)"
        problems.append(f"{pointer}{'/' + where if where else ''}: {message}")
    problems += [f"{where}: {message}" for where, message in artifact_problems({name: spec})]
    return problems


def parse_tool(text: str) -> dict:
    """``gcc>=9`` -> ``{"name": "gcc", "version": ">=9"}``; ``git`` -> ``{"name": "git"}``."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    match = _TOOL.fullmatch(text)
    if not match:
        raise ReefError(f"reef tool: {text!r} is not NAME[SPEC] (e.g. gcc>=9, cmake>=3.20,<4, git)")
    name, version = match.group(1), (match.group(2) or "").replace(" ", "")
    if version:
        try:
            SpecifierSet(version)
        except InvalidSpecifier:
            raise ReefError(f"reef tool: {version!r} is not a version range (e.g. >=9)") from None
    return {"name": name, "version": version} if version else {"name": name}


def write_notebook_declarations(notebook: str | Path, declarations: dict) -> None:
    """Replace a notebook file's ``metadata.reef`` (removed when empty), atomically."""
    import nbformat

    path = Path(notebook)
    document = _read_notebook(path)
    if declarations:
        document.metadata[METADATA_KEY] = declarations
    else:
        document.metadata.pop(METADATA_KEY, None)
    write_text_atomically(path, nbformat.writes(document, version=nbformat.NO_CONVERT))


def notebook_declarations(notebook: str | Path) -> dict:
    """A notebook's ``metadata.reef`` (``{}`` when it declares nothing)."""
    return dict(_read_notebook(Path(notebook)).metadata.get(METADATA_KEY, {}))


def running_notebook(
    user_namespace: Mapping | None = None, environ: Mapping | None = None, cwd: str | Path | None = None
) -> Path | None:
    """The path of the notebook this kernel runs, when the front end told the kernel.

    JupyterLab starts the kernel with ``JPY_SESSION_NAME`` set to the notebook's path (ipykernel
    copies it to ``__session__``); VS Code sets ``__vsc_ipynb_file__``. A relative path is taken
    from the kernel's working folder (the notebook's folder) and the folders above it.
    """
    user_namespace = user_namespace or {}
    environ = os.environ if environ is None else environ
    candidates = [user_namespace.get(name) for name in SESSION_VARIABLES] + [environ.get(SESSION_ENVIRONMENT)]
    folder = Path(cwd or os.getcwd())
    for text in candidates:
        if not text or not isinstance(text, str) or not text.endswith(".ipynb"):
            continue
        path = Path(text).expanduser()
        if path.is_absolute():
            if path.is_file():
                return path
            continue
        for base in (folder, *folder.parents):  # the server's root is the working folder or above it
            if (base / path).is_file():
                return (base / path).resolve()
        if (folder / path.name).is_file():
            return (folder / path.name).resolve()
    return None


def solution_of(notebook: str | Path) -> Path | None:
    """The ``solution.json`` (in the notebook's folder or a parent) whose workflows use ``notebook``."""
    notebook = Path(notebook).resolve()
    for folder in notebook.parents:
        manifest = folder / MANIFEST_NAME
        if not manifest.is_file():
            continue
        data = _read_manifest(manifest)
        workflows = data.get("workflows") if isinstance(data, dict) else None
        for spec in (workflows or {}).values():
            if isinstance(spec, dict) and isinstance(spec.get("notebook"), str):
                try:
                    if (folder / spec["notebook"]).resolve() == notebook:
                        return manifest
                except (OSError, ValueError):
                    continue
    return None


def kernel_facts() -> Facts:
    """What this python has (the kernel's environment): its version, its packages, the tools on PATH."""
    from importlib.metadata import distributions

    packages = {}
    for distribution in distributions():
        name = distribution.metadata.get("Name") if distribution.metadata else None
        if name:
            packages.setdefault(_canonical(name), distribution.version)
    return Facts(python_version=platform.python_version(), packages=packages, find_tool=find_tool)


def warnings(declaration: Declaration) -> list[str]:
    """One line for each declaration that is not met here, saying what to do."""
    lines = []
    for check in declaration.unmet:
        if check.kind == "package":
            wanted = check.name + ("" if check.required == "any" else check.required)
            if check.status == MISSING:
                lines.append(
                    f"{wanted}: not installed in this python ({sys.executable}); `reef init` installs it, or "
                    f"`%pip install '{wanted}'` here"
                )
            else:
                lines.append(
                    f"{wanted}: {check.found} is installed in this python; `reef init` makes an environment "
                    f"with {wanted}"
                )
        elif check.kind == "artifact":
            lines.append(f"artifact {check.name}: {check.reason}")
        else:
            lines.append(f"{check.kind} {check.name}: {check.reason}")
    return lines


def _declare(
    section: str,
    entries: list,
    apply: Callable[[dict], None],
    notebook: str | Path | None,
    solution: str | Path | None,
    remove: bool,
) -> Declaration:
    import nbformat

    if notebook is None and solution is None:
        raise ReefError("give the notebook (--notebook PATH) or the solution (--solution PATH) to declare in")
    notebook_path = Path(notebook).resolve() if notebook is not None else None
    document = _read_notebook(notebook_path) if notebook_path is not None else None
    manifest_path = (
        _manifest_path(solution) if solution is not None else (solution_of(notebook_path) if notebook_path else None)
    )

    # Everything is computed and checked before either file is touched.
    new_manifest_text = None
    if manifest_path is not None:
        old_text = manifest_path.read_text(encoding="utf-8")
        data = _read_manifest(manifest_path, old_text)
        apply(data)
        problems = validate_manifest(data, manifest_path)
        if problems:
            raise ManifestError(problems)
        text = format_json(data) + "\n"
        if json.loads(old_text) != data:
            new_manifest_text = text
    new_notebook_text = None
    editor = NOTEBOOK_EDITOR.get()
    in_editor = False
    if document is not None:
        held = editor.held(notebook_path) if editor is not None else None
        metadata = json.loads(json.dumps(dict(document.metadata.get(METADATA_KEY, {})) if held is None else held))
        before = json.loads(json.dumps(metadata))
        apply(metadata)
        if metadata != before and editor is not None and editor.deliver(notebook_path, before, metadata):
            in_editor = True  # the open notebook's model has it: its save writes it, the file is left to the editor
        elif metadata != before:
            if metadata:
                document.metadata[METADATA_KEY] = metadata
            else:
                document.metadata.pop(METADATA_KEY, None)
            new_notebook_text = nbformat.writes(document, version=nbformat.NO_CONVERT)

    changed = []
    # The notebook is rewritten whole but only its metadata differs. A JupyterLab editor that has it
    # open keeps its own copy: its next save overwrites this unless the notebook is reloaded first
    # (JupyterLab warns that the file changed on disk). Declarations are idempotent, so running the
    # declaring cell again restores them.
    if new_notebook_text is not None:
        write_text_atomically(notebook_path, new_notebook_text)
        changed.append(str(notebook_path))
    if new_manifest_text is not None:
        write_text_atomically(manifest_path, new_manifest_text)
        changed.append(str(manifest_path))
    return Declaration(
        section, entries, notebook_path, manifest_path, removed=remove, changed=changed, in_editor=in_editor
    )


def format_json(value: Any, width: int = 120, _level: int = 0) -> str:
    """JSON as people write manifests: indented by 2, but an object or list that fits on its line stays on it."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or not value or (_level and len(flat) + 2 * _level <= width):
        return flat
    pad, close = "  " * (_level + 1), "  " * _level
    if isinstance(value, dict):
        items = [
            f"{pad}{json.dumps(key, ensure_ascii=False)}: {format_json(item, width, _level + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + close + "}"
    items = [pad + format_json(item, width, _level + 1) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + close + "]"


def _read_notebook(path: Path):
    import nbformat

    if path.suffix != ".ipynb":
        raise ReefError(f"{path}: not a notebook (.ipynb)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReefError(f"{path}: notebook not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReefError(f"{path}: cannot read: {error}") from None
    try:
        document = nbformat.reader.reads(text)  # as it is, unconverted; nbformat.reads would log invalid values
    except nbformat.reader.NotJSONError:  # its message quotes the file's first bytes: not passed on
        raise ReefError(f"{path}: not a notebook (not JSON)") from None
    except Exception as error:  # nbformat's reader errors quote the file's values
        raise ReefError(f"{path}: not a valid notebook ({type(error).__name__})") from None
    if document.get("nbformat", 0) < 4:
        raise ReefError(f"{path}: nbformat {document.get('nbformat')} notebook: save it with a current Jupyter first")
    return document


def _manifest_path(solution: str | Path) -> Path:
    path = Path(solution)
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest.is_file():
        raise ManifestError([f"{manifest}: /: file not found"])
    return manifest.resolve()


def _read_manifest(path: Path, text: str | None = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8") if text is None else text)
    except json.JSONDecodeError as error:
        raise ManifestError(
            [f"{path}: /: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError([f"{path}: /: cannot read: {error}"]) from None


def _replace(existing: list, new: list, key: Callable[[Any], Any]) -> list:
    """``existing`` with each item of ``new`` in place of the one of the same key, or appended."""
    result = list(existing)
    for item in new:
        positions = [index for index, old in enumerate(result) if key(old) == key(item)]
        if positions:
            result[positions[0]] = item
            result = [old for index, old in enumerate(result) if index not in positions[1:]]
        else:
            result.append(item)
    return result


def _prune(target: dict, section: str) -> None:
    requires = target.get("requires", {})
    if not requires.get(section):
        requires.pop(section, None)
    if not requires:
        target.pop("requires", None)


def _package_key(text: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return _canonical(Requirement(text).name)
    except InvalidRequirement:
        return text


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def _artifact_check(name: str, spec: dict, anchor: Path | None) -> Check:
    required = f"sha256 {spec['sha256'][:12]}…" + (f", {spec['size']} bytes" if "size" in spec else "")
    try:
        status = artifact_status(name, {name: spec}, manifest_path=anchor)
    except ReefError as error:
        return Check("artifact", name, required, None, UNMET, str(error))
    if status["status"] == "cached":
        return Check("artifact", name, required, "cached", "found", "")
    if spec.get("on_demand"):
        return Check(
            "artifact",
            name,
            required,
            None,
            ON_DEMAND,
            "fetched by the first run that needs it, or: reef init --artifact " + name,
        )
    return Check("artifact", name, required, None, MISSING, "not downloaded yet: `reef init` fetches and verifies it")
