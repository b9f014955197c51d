"""The solution manifest (``solution.json``): load, validate against the schema, check semantics."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from reefnb.common.exceptions import InputError, ManifestError, NotebookError, PathOutside, ReefError, VersionError
from reefnb.common.json_input import json_pointer, pointer_token, read_json, schema_validator
from reefnb.solution.checks import api_problems, artifact_problems, syntax_problems
from reefnb.solution.columns import BASE_COLUMNS, SYSTEM_COLUMNS
from reefnb.solution.confinement import resolve_inside
from reefnb.solution.notebook import notebook_parameters, read_notebook
from reefnb.solution.versions import Range

MANIFEST_NAME = "solution.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
WORKFLOW_NAMES = ("init", "run", "benchmark", "validate")

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@dataclass(frozen=True)
class Workflow:
    """One workflow of a solution: a notebook, its default parameters and its sweep grid.

    Parameters
    ----------
    name
        The workflow's name in the manifest: ``init``, ``run``, ``benchmark`` or ``validate``.
    notebook
        The notebook it executes (its path starts with the solution folder).
    parameters
        Its default parameters, by name.
    sweep
        Its sweep grid: parameter name -> list of values; runs are their cartesian product.
    timeout
        Seconds for the whole run (None: no limit of its own).
    description
        What the workflow does, as the manifest says.
    """

    name: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, list] = field(default_factory=dict)
    timeout: float | None = None
    description: str = ""


@dataclass(frozen=True)
class Solution:
    """A validated solution: its folder, its manifest data and its workflows.

    Made by ``load_solution``, ``open_solution`` or ``solution_from_notebook`` rather than directly.

    Parameters
    ----------
    path
        The solution folder.
    manifest_path
        Its ``solution.json``; None for a bare notebook run as a solution.
    data
        The manifest's data, validated.
    workflows
        Its workflows by name.
    """

    path: Path  # the solution folder
    manifest_path: Path | None  # None for a bare notebook run as a solution
    data: dict
    workflows: dict[str, Workflow]

    @property
    def name(self) -> str:
        """The solution's name, as its manifest declares it."""
        return self.data["name"]

    @property
    def version(self) -> str:
        """The solution's version (semver), as its manifest declares it."""
        return self.data["version"]

    @property
    def metrics(self) -> dict[str, dict]:
        """Declared metrics by name (unit, goal, tolerance, format)."""
        return {metric["name"]: metric for metric in self.data.get("metrics", [])}

    def workflow(self, name: str = "run") -> Workflow:
        """The named workflow, its notebook checked to be inside the solution folder.

        Parameters
        ----------
        name
            The workflow's name.

        Returns
        -------
        Workflow
            The workflow of that name.

        Raises
        ------
        ReefError
            Naming the manifest, when it has no workflow of that name, or when its notebook (symbolic
            links followed) is not inside the solution folder.
        """
        try:
            workflow = self.workflows[name]
        except KeyError:
            where = self.manifest_path or self.path
            known = ", ".join(sorted(self.workflows)) or "none"
            raise ReefError(f"{where}: /workflows: no workflow '{name}' (this solution has: {known})") from None
        if self.manifest_path is not None:
            try:
                resolve_inside(
                    self.path, workflow.notebook.absolute()
                )  # the notebook path already starts with the folder
            except PathOutside as error:
                raise ReefError(f"{self.manifest_path}: /workflows/{pointer_token(name)}/notebook: {error}") from None
        return workflow


def schema(name: str = "solution") -> dict:
    """A JSON Schema shipped in ``reefnb/schemas``.

    Parameters
    ----------
    name
        Which schema: ``solution`` (the manifest) or ``run-record``.

    Returns
    -------
    dict
        The schema (JSON Schema draft 2020-12), a new copy at each call.
    """
    return json.loads(_schema_text(name))


@cache
def _schema_text(name: str) -> str:
    return resources.files("reefnb.schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


@cache
def _validator(name: str):
    return schema_validator(schema(name))


def solution_folder(argument: str | Path | None) -> Solution | None:
    """The solution of ``argument`` when it is a folder holding a ``solution.json``; None for anything else (a
    solution's name, a notebook, nothing), which callers then look up their own way."""
    if argument and (Path(argument) / MANIFEST_NAME).is_file():
        return load_solution(argument)
    return None


def load_solution(path: str | Path) -> Solution:
    """Load and validate a solution from its folder or its ``solution.json``.

    Parameters
    ----------
    path
        The solution folder, or its ``solution.json``.

    Returns
    -------
    Solution
        The validated solution.

    Raises
    ------
    ManifestError
        With every problem, one line each: ``FILE: /json/pointer: message``.
    ReefError
        When ``path`` is a notebook (use ``solution_from_notebook``).
    """
    path = Path(path)
    if not path.exists():
        raise ManifestError([f"{path}: /: no such solution folder or {MANIFEST_NAME}"])
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    if path.suffix == ".ipynb":
        raise ReefError(f"{path}: a notebook, not a solution manifest (use solution_from_notebook)")
    if not manifest_path.exists():
        raise ManifestError([f"{manifest_path}: /: file not found"])
    try:
        data = read_json(manifest_path, max_bytes=MAX_MANIFEST_BYTES)
    except InputError as error:
        raise ManifestError([str(error)]) from None
    return solution_from_data(data, manifest_path)


def solution_from_data(data: Any, manifest_path: Path) -> Solution:
    """Validate manifest data read from ``manifest_path`` and build the Solution."""
    problems = validate_manifest(data, manifest_path)
    if problems:
        raise ManifestError(problems)
    folder = manifest_path.parent
    workflows = {
        name: Workflow(
            name=name,
            notebook=folder / spec["notebook"],
            parameters=dict(spec.get("parameters", {})),
            sweep={key: list(values) for key, values in spec.get("sweep", {}).items()},
            timeout=spec.get("timeout"),
            description=spec.get("description", ""),
        )
        for name, spec in data["workflows"].items()
    }
    return Solution(path=folder, manifest_path=manifest_path, data=data, workflows=workflows)


def solution_from_notebook(notebook_path: str | Path) -> Solution:
    """A bare notebook as a one-workflow solution (``run``), named after the file.

    Parameters
    ----------
    notebook_path
        The notebook (``.ipynb``); its folder is the solution's folder.

    Returns
    -------
    Solution
        A solution with no manifest (``manifest_path`` None), version ``0.0.0``.

    Raises
    ------
    NotebookError
        When the notebook is missing, unreadable or not valid nbformat.
    """
    notebook_path = Path(notebook_path)
    read_notebook(notebook_path)
    name = re.sub(r"[^a-z0-9._-]+", "-", notebook_path.stem.lower()).strip("-._") or "notebook"
    data = {"name": name, "version": "0.0.0", "workflows": {"run": {"notebook": notebook_path.name}}}
    workflow = Workflow(name="run", notebook=notebook_path)
    return Solution(path=notebook_path.parent, manifest_path=None, data=data, workflows={"run": workflow})


def open_solution(path: str | Path) -> Solution:
    """A solution folder, a manifest file or a notebook, whichever ``path`` is.

    Parameters
    ----------
    path
        A solution folder, its ``solution.json`` or a notebook (``.ipynb``, see ``solution_from_notebook``).

    Returns
    -------
    Solution
        The solution.

    Raises
    ------
    ManifestError
        When the manifest is invalid (see ``load_solution``).
    NotebookError
        When the notebook cannot be read.
    """
    path = Path(path)
    if path.suffix == ".ipynb":
        return solution_from_notebook(path)
    return load_solution(path)


def validate_manifest(data: Any, manifest_path: Path | str) -> list[str]:
    """Every problem of a manifest as ``FILE: /pointer: message``; schema first, then semantics.

    Parameters
    ----------
    data
        The manifest's data, as read from JSON.
    manifest_path
        Where it was read from: named in each problem, and its folder is the solution folder the
        paths of the manifest are checked against.

    Returns
    -------
    list of str
        Every problem, one line each; empty when the manifest is valid.
    """
    errors = sorted(_validator("solution").iter_errors(data), key=lambda error: list(map(str, error.absolute_path)))
    if errors:
        problems = [f"{manifest_path}: {json_pointer(error.absolute_path)}: {_message(error)}" for error in errors]
    else:
        problems = _semantic_problems(data, Path(manifest_path))
    return [_one_line(problem) for problem in problems]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    """User text may hold line breaks and control characters: escape them, one problem one line."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _semantic_problems(data: dict, manifest_path: Path) -> list[str]:
    """What the schema cannot see, as ``MANIFEST: POINTER: message`` lines, in the manifest's order."""
    folder = manifest_path.parent
    parameters: dict[str, dict] = {}  # workflow -> its notebook's parameters, filled by _workflow_problems
    found = [
        *_identity_problems(data),
        *_metric_problems(data),
        *_component_problems(data),
        *syntax_problems(data.get("requires", {})),
        *artifact_problems(data.get("artifacts", {})),
        *_path_problems(data, folder),
        *(api_problems(data["api"], folder) if "api" in data else []),
        *_workflow_problems(data, folder, parameters),
        *_expectation_problems(data, parameters),
    ]
    return [f"{manifest_path}: {pointer}: {message}" for pointer, message in found]


def _identity_problems(data: dict) -> list[tuple[str, str]]:
    problems = []
    if not _NAME.fullmatch(data["name"]):
        problems.append(
            ("/name", f"{data['name']!r} is not a valid name (lower-case letters, digits, '.', '_' and '-')")
        )
    if not _SEMVER.fullmatch(data["version"]):
        problems.append(("/version", f"'{data['version']}' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 0.1.0)"))
    return problems


def _metric_problems(data: dict) -> list[tuple[str, str]]:
    """A metric declared twice; a dashboard axis or column that names nothing the frame will have."""
    problems = []
    seen: set[str] = set()
    for index, metric in enumerate(data.get("metrics", [])):
        if metric["name"] in seen:
            problems.append((f"/metrics/{index}/name", f"metric '{metric['name']}' is declared twice"))
        seen.add(metric["name"])
    dashboard = data.get("dashboard", {})
    named = [(f"/dashboard/{key}", column) for key, column in dashboard.items() if key in ("x", "y", "color")]
    named += [(f"/dashboard/columns/{index}", column) for index, column in enumerate(dashboard.get("columns", []))]
    problems += [
        (pointer, _dashboard_unknown(column, seen))
        for pointer, column in named
        if not _dashboard_column_known(column, seen, data)
    ]
    return problems


def _component_problems(data: dict) -> list[tuple[str, str]]:
    problems = []
    for name, text in data.get("components", {}).items():
        if name == data["name"]:
            problems.append((f"/components/{pointer_token(name)}", "a component cannot depend on itself"))
        try:
            Range.parse(text)
        except VersionError as error:
            problems.append((f"/components/{pointer_token(name)}", str(error)))
    return problems


def _workflow_problems(data: dict, folder: Path, parameters: dict[str, dict]) -> list[tuple[str, str]]:
    """Each workflow's notebook is a readable notebook inside the folder, and its parameters and sweep name
    variables of its parameters cell; ``parameters`` receives each readable notebook's parameters."""
    problems = []
    for name, spec in data["workflows"].items():
        pointer = f"/workflows/{pointer_token(name)}"
        try:
            notebook_path = resolve_inside(folder, spec["notebook"])
            exists = notebook_path.is_file()
        except PathOutside as error:
            problems.append((f"{pointer}/notebook", str(error)))
            continue
        except (OSError, ValueError) as error:  # a name too long
            problems.append(
                (
                    f"{pointer}/notebook",
                    f"not a usable file name: {getattr(error, 'strerror', None) or type(error).__name__}",
                )
            )
            continue
        if not exists:
            problems.append((f"{pointer}/notebook", f"notebook '{spec['notebook']}' not found in {folder}"))
            continue
        try:
            notebook = read_notebook(notebook_path)
        except NotebookError as error:
            problems.append((f"{pointer}/notebook", str(error)))
            continue
        parameters[name] = found = notebook_parameters(notebook)
        for section in ("parameters", "sweep"):
            problems += [
                (f"{pointer}/{section}/{pointer_token(key)}", _unknown_parameter(key, spec["notebook"], found))
                for key in spec.get(section, {})
                if key not in found
            ]
    return problems


def _expectation_problems(data: dict, parameters: dict[str, dict]) -> list[tuple[str, str]]:
    """Profiles, expectation ids and profiles, claims, and each expectation's workflow and parameters."""
    problems = []
    profiles = data.get("profiles", {})
    if profiles and not {"smoke", "full"} <= set(profiles):
        problems.append(("/profiles", f"declare at least 'smoke' and 'full' (declared: {', '.join(sorted(profiles))})"))
    ids: set[str] = set()
    for index, expectation in enumerate(data.get("expected", [])):
        if "id" in expectation:
            if expectation["id"] in ids:
                problems.append((f"/expected/{index}/id", f"expectation id '{expectation['id']}' is used twice"))
            ids.add(expectation["id"])
        problems += [
            (f"/expected/{index}/profiles/{position}", f"no profile '{name}' in /profiles")
            for position, name in enumerate(expectation.get("profiles", []))
            if name not in profiles
        ]
    problems += _claim_problems(data, ids)
    for index, expectation in enumerate(data.get("expected", [])):
        workflow = expectation.get("workflow", "run")
        if workflow not in data["workflows"]:
            problems.append((f"/expected/{index}/workflow", f"no workflow '{workflow}' in /workflows"))
            continue
        known = parameters.get(workflow)
        if known is None:
            continue
        notebook = data["workflows"][workflow]["notebook"]
        problems += [
            (f"/expected/{index}/{section}/{pointer_token(key)}", _unknown_parameter(key, notebook, known))
            for section in ("parameters", "satisfied_by")
            for key in expectation.get(section, {})
            if key not in known
        ]
    return problems


def _claim_problems(data: dict, ids: set[str]) -> list[tuple[str, str]]:
    problems = []
    metric_names = {metric["name"] for metric in data.get("metrics", [])}
    for index, claim in enumerate(data.get("claims", [])):
        problems += [
            (f"/claims/{index}/expected/{position}", f"no /expected entry with id '{name}'")
            for position, name in enumerate(claim["expected"])
            if name not in ids
        ]
        problems += [
            (f"/claims/{index}/metrics/{position}", f"metric '{name}' is not declared in /metrics")
            for position, name in enumerate(claim.get("metrics", []))
            if metric_names and name not in metric_names
        ]
    return problems


def _path_problems(data: dict, folder: Path) -> list[tuple[str, str]]:
    """(pointer, message) for each path the manifest names, other than workflow notebooks, that leaves ``folder``:
    the dashboard's reference CSV and relative ``file:`` URLs of artifacts (an absolute ``file:`` URL names a
    local source on purpose, is only read and is verified by its sha256)."""
    named = []
    if "reference" in data.get("dashboard", {}):
        named.append(("/dashboard/reference", data["dashboard"]["reference"]))
    for name, spec in data.get("artifacts", {}).items():
        key = "url" if "url" in spec else "urls"
        for index, url in enumerate([spec["url"]] if "url" in spec else spec.get("urls", [])):
            parts = urlsplit(url)
            if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost") and not parts.path.startswith("/"):
                named.append(
                    (
                        f"/artifacts/{pointer_token(name)}/{key}" + ("" if key == "url" else f"/{index}"),
                        url2pathname(parts.path),
                    )
                )
    problems = []
    for pointer, path in named:
        try:
            resolve_inside(folder, path)
        except PathOutside as error:
            problems.append((pointer, str(error)))
    return problems


def _dashboard_column_known(column: str, metrics: set[str], data: dict) -> bool:
    """A dashboard axis or column names a declared metric, a workflow parameter or a results-frame column."""
    if column in SYSTEM_COLUMNS:  # what the run's processes did (reefnb.runs.telemetry)
        return True
    if column.startswith("param."):
        return any(
            column[6:] in spec.get(section, {})
            for spec in data["workflows"].values()
            for section in ("parameters", "sweep")
        )
    if column.startswith("env.") or column in BASE_COLUMNS or column == "error":
        return True
    return column.removeprefix("metric.") in metrics


def _dashboard_unknown(column: str, metrics: set[str]) -> str:
    known = ", ".join(sorted(metrics)) or "none"
    return (
        f"'{column}' is neither a declared metric (declared: {known}) nor a param.NAME of a workflow, an env.*, "
        "sys.* or results column"
    )


def _unknown_parameter(key: str, notebook: str, parameters: dict) -> str:
    known = ", ".join(parameters) or "none: it has no cell tagged 'parameters'"
    return f"'{key}' is not a variable of the parameters cell of {notebook} (it has: {known})"


def _message(error) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(str(key) for key in error.instance if key not in allowed)
        if extra and allowed:
            return f"unknown field(s) {', '.join(map(repr, extra))} (allowed: {', '.join(sorted(allowed))})"
    if "propertyNames" in error.relative_schema_path and error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"unknown name {error.instance!r} (allowed: {allowed})"
    text = " ".join(str(error.message).split())
    return text if len(text) <= 240 else text[:237] + "..."
