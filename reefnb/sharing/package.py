"""Artifact packages: export a notebook or solution as one ``.reef.zip`` and import one safely.

A package holds ``solution.json`` (with ``expected`` results from the recorded runs), the
notebooks and files they read, ``reef.lock.json``, the run records under ``results/``, an
RO-Crate (``ro-crate-metadata.json``, each run a CreateAction as in the Process Run Crate
profile), the files repo2docker reads (``requirements.txt``, ``runtime.txt``) and ``SHA256SUMS``.
The same input gives the same bytes: sorted members, fixed times and permissions, no wall clock.
Importing only extracts, after checking every member and checksum; it never runs code.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reefnb.common.archives import LIMITS, extract_archive
from reefnb.common.exceptions import ArchiveError, InputError, PackageError
from reefnb.common.files import atomic_file, replaced_folder
from reefnb.common.json_input import parse_json, read_json
from reefnb.common.paths import solutions_home
from reefnb.common.scrub import Scrubber, secrets_in_code
from reefnb.provision.artifacts import file_sha256
from reefnb.provision.declare import solution_of
from reefnb.provision.detection import environment_modules, environment_packages
from reefnb.provision.install import LOCK_VERSION, read_lock
from reefnb.runs.attachments import FILES_FOLDER, packed_attachments
from reefnb.runs.store import Store, default_store
from reefnb.runs.telemetry import SERIES_FILE, series_path
from reefnb.sharing.export_scan import FoundFiles, code_trees, kernel_python, local_modules, relative_parameter, static_files, traced_files
from reefnb.solution.manifest import MANIFEST_NAME, Solution, load_solution, validate_manifest
from reefnb.solution.notebook import notebook_digest, notebook_parameters, read_notebook

log = logging.getLogger(__name__)

PACKAGE_SUFFIX = ".reef.zip"
SUMS_NAME = "SHA256SUMS"
CRATE_NAME = "ro-crate-metadata.json"
LOCK_NAME = "reef.lock.json"
RESULTS_FOLDER = "results"
PROCESS_RUN_PROFILE = "https://w3id.org/ro/wfrun/process/0.5"
MAX_MEMBERS = LIMITS.max_members  # the one set of archive limits (reefnb.common.archives)
MAX_RATIO = LIMITS.max_ratio
DEFAULT_FLOAT_TOLERANCE = {"rel": 1e-6}
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIPPED = {"runs", "__pycache__", ".ipynb_checkpoints", ".git", LOCK_NAME, SUMS_NAME, CRATE_NAME}


# --- export ---------------------------------------------------------------------------------------


def export_package(
    source: str | Path,
    output: str | Path,
    include: list[str | Path] | tuple = (),
    authors: list[str] | tuple = (),
    license: str | None = None,
    paper: str | None = None,
    store: Any = None,
    allow_secret_in_code: bool = False,
    external: dict[str, str | Path] | None = None,
    with_files: bool = True,
) -> dict:
    """Write ``source`` (a notebook, a solution folder or its ``solution.json``) as a package at ``output``.

    Code is never edited: a secret written in a notebook's code stops the export (unless
    ``allow_secret_in_code``); outputs, records, parameters and metadata go through the scrubber
    (``reefnb.common.scrub``). Files the code names and files the recorded runs read are packed; an
    absolute path parameter inside the solution becomes relative, one outside it is refused unless
    ``external`` (artifact name -> file) declares that file as an artifact the evaluator supplies
    (``supplied``, with its sha256 and size; not packed): the parameter then names the artifact's
    place in the solution, ``external/NAME/FILE``.
    The files each run attached (``reefnb.attach``) go in ``results/RUN_ID/files/``, byte for byte and
    checked (see ``attachments.packed_attachments``), unless ``with_files`` is False.
    Returns a summary: the package path, its sha256, its members, the expectations and runs it
    carries, and ``warnings`` (files read from outside the solution, imports not installed).
    """
    source, output = Path(source), Path(output)
    if not source.exists():
        raise PackageError(f"{source}: no such notebook or solution")
    store = store if isinstance(store, Store) else default_store()
    if source.suffix == ".ipynb":
        manifest = solution_of(source)
        solution = load_solution(manifest) if manifest else None
        notebook = source.resolve()
    else:
        solution, notebook = load_solution(source), None
    if solution is not None:
        data, files, folder = _solution_files(solution)
    else:
        data, files, folder = _notebook_solution(notebook)
    notebooks = {name: folder / spec["notebook"] for name, spec in data["workflows"].items()}
    if not allow_secret_in_code:
        _refuse_secrets_in_code(sorted(set(notebooks.values())), folder)
    records = _matching_records(store, data, folder)
    warnings: list[str] = []
    externals = _external_artifacts(external or {}, folder, data)
    found = _found_files(notebooks, folder, records, warnings, set(externals))
    files.update(found.static)
    files.update(found.traced)
    for extra in include:
        extra = Path(extra)
        if not extra.is_file():
            raise PackageError(f"--include {extra}: no such file")
        files[_package_name(extra, folder)] = extra.resolve()

    data = _with_options(data, authors, license, paper)
    data["expected"] = _expectations(data, records)
    used: set[str] = set()
    _relative_paths(data, notebooks, folder, externals, used)
    for path in sorted(set(externals) - used):
        name = externals[path].split("/")[1]
        warnings.append(f"--external {name}: no parameter names {path}, so the code still reads it there (code is never rewritten): "
                        f"make the path a parameter, and the package will read {externals[path]}")
    if solution is None:
        data["requires"] = _notebook_requires(notebook, records, found.modules, warnings)
    problems = validate_manifest(data, folder / MANIFEST_NAME)
    if problems:
        raise PackageError(f"{source}: the exported manifest would be invalid: {problems[0]}")

    scrubber = Scrubber(folder)
    data = scrubber.value(data)
    members: dict[str, bytes] = {}
    for name, path in sorted(files.items()):
        content = path.read_bytes()
        if name.endswith(".ipynb"):
            content = scrubber.notebook(content.decode("utf-8")).encode("utf-8")
        members[name] = content
    members[MANIFEST_NAME] = _json_bytes(data)
    clean_records = [scrubber.value(clean_record(record)) for record in records]
    for record in clean_records:
        members[f"{RESULTS_FOLDER}/{record['run_id']}.json"] = _json_bytes(record)
    for record in records:  # each run's telemetry series (numbers only), beside its record
        series = series_path(record)
        if series is not None:
            members[f"{RESULTS_FOLDER}/{record['run_id']}.{series.name}"] = series.read_bytes()
    for record in records if with_files else ():
        for name, content in packed_attachments(record, scrubber, warnings):
            members[f"{RESULTS_FOLDER}/{record['run_id']}/{FILES_FOLDER}/{name}"] = content
    lock = scrubber.value(_lock(solution, data, records))
    members[LOCK_NAME] = _json_bytes(lock)
    members["requirements.txt"] = _requirements_txt(data, lock).encode("utf-8")
    python_version = (lock.get("python") or {}).get("version") or ".".join(map(str, sys.version_info[:3]))
    members["runtime.txt"] = f"python-{'.'.join(python_version.split('.')[:2])}\n".encode()
    if "README.md" not in members or data.get("claims"):
        members["README.md"] = scrubber.text(_readme(data, members.get("README.md", b"").decode("utf-8", "replace"))).encode("utf-8")
    members[CRATE_NAME] = scrubber.json_bytes(json.loads(_crate_bytes(data, members, clean_records)))
    sums = "".join(f"{hashlib.sha256(content).hexdigest()}  {name}\n" for name, content in sorted(members.items()))
    members[SUMS_NAME] = sums.encode("utf-8")
    _write_zip(output, members)
    for warning in warnings:
        log.info("%s", warning)  # front ends show summary["warnings"]
    return {
        "package": str(output),
        "sha256": hashlib.sha256(output.read_bytes()).hexdigest(),
        "solution": f"{data['name']}@{data['version']}",
        "members": sorted(members),
        "expected": data["expected"],
        "runs": [record["run_id"] for record in clean_records],
        "files": {"static": sorted(found.static), "traced": sorted(found.traced), "outside": found.outside},
        "warnings": warnings,
    }


def _refuse_secrets_in_code(notebooks: list[Path], folder: Path) -> None:
    """Stop the export at the first secret written in a notebook's code, naming notebook, cell and line."""
    for path in notebooks:
        for finding in secrets_in_code(read_notebook(path)):
            raise PackageError(f"{_package_name(path, folder)}: cell {finding.cell}, line {finding.line}: a secret in the code "
                               f"({finding.kind}); code is exported as written: read it from an environment variable "
                               "(os.environ) instead, or pass --allow-secret-in-code")


def _found_files(notebooks: dict[str, Path], folder: Path, records: list[dict], warnings: list[str],
                 externals: set[str] = frozenset()) -> FoundFiles:
    """The files the notebooks name (and their local modules name), and the files their recorded runs read."""
    found = FoundFiles()
    for path in sorted(set(notebooks.values())):
        trees = code_trees(read_notebook(path))
        modules, names, module_trees = local_modules(trees, path.parent, folder)
        found.modules |= names
        found.static.update(modules)
        found.static.update(static_files(trees + module_trees, path.parent, folder))
    found.traced, found.outside = traced_files(records, folder)
    found.traced = {name: path for name, path in found.traced.items() if name not in found.static}
    for path in found.outside:
        if str(Path(path).resolve()) in externals:
            continue
        warnings.append(f"{path}: read by the recorded run but outside the solution folder, so not packed: copy it into "
                        f"{folder.name}/ (or pass --include {path}) and export again")
    return found


def _external_artifacts(external: dict[str, str | Path], folder: Path, data: dict) -> dict[str, str]:
    """``--external NAME=PATH``: each file declared as a ``supplied`` artifact in ``data`` (sha256, size, its place
    ``external/NAME/FILE`` in the solution); returns resolved path -> that place."""
    placed: dict[str, str] = {}
    for name, text in external.items():
        where = f"--external {name}={text}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise PackageError(f"{where}: NAME may hold letters, digits, '.', '_' and '-', and starts with a letter or digit")
        path = Path(os.path.expanduser(str(text)))
        if not path.is_file():
            raise PackageError(f"{where}: no such file (a folder: pack it into one archive first)")
        resolved = path.resolve()
        if resolved.is_relative_to(folder.resolve()):
            raise PackageError(f"{where}: the file is inside the solution folder, so it is packed as it is: drop --external")
        if name in data.get("artifacts", {}):
            raise PackageError(f"{where}: {MANIFEST_NAME} already declares an artifact '{name}'")
        filename = re.sub(r"[^A-Za-z0-9._-]", "_", resolved.name).lstrip(".") or name
        place = f"external/{name}/{filename}"
        data.setdefault("artifacts", {})[name] = {"kind": "dataset", "description": f"{filename}, supplied by whoever runs the solution",
                                                  "supplied": True, "sha256": file_sha256(resolved), "size": resolved.stat().st_size,
                                                  "path": place}
        placed[str(resolved)] = place
    return placed


def _relative_paths(data: dict, notebooks: dict[str, Path], folder: Path, externals: dict[str, str] | None = None,
                    used: set[str] | None = None) -> None:
    """Absolute path parameters (workflow values, notebook defaults, expectations) made relative to their notebook
    (an ``--external`` file's to its artifact's place)."""
    for name, spec in data["workflows"].items():
        notebook = notebooks[name]
        where = f"{_package_name(notebook, folder)}"
        parameters = dict(spec.get("parameters") or {})
        for key, parameter in notebook_parameters(read_notebook(notebook)).items():
            if key not in parameters and isinstance(parameter.default, str) and parameter.default.startswith(("/", "~")):
                parameters[key] = parameter.default
        parameters = {key: relative_parameter(key, value, notebook.parent, folder, where, externals, used)
                      for key, value in parameters.items()}
        if parameters:
            spec["parameters"] = parameters
    for entry in data.get("expected", []):
        notebook = notebooks.get(entry.get("workflow", "run"))
        if notebook is not None and entry.get("parameters"):
            entry["parameters"] = {key: relative_parameter(key, value, notebook.parent, folder, f"{MANIFEST_NAME}: /expected", externals, used)
                                   for key, value in entry["parameters"].items()}


def _solution_files(solution: Solution) -> tuple[dict, dict[str, Path], Path]:
    """A solution's manifest data and its files (everything in its folder but runs, caches and hidden files)."""
    folder = solution.path.resolve()
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in _SKIPPED or part.startswith(".") for part in relative.parts) or not path.is_file() or path.is_symlink():
            continue
        if relative.as_posix() == MANIFEST_NAME or path.name.endswith(PACKAGE_SUFFIX):
            continue
        files[relative.as_posix()] = path
    data = json.loads(json.dumps(solution.data))
    data.pop("$schema", None)
    return data, files, folder


def _notebook_solution(notebook: Path) -> tuple[dict, dict[str, Path], Path]:
    """A plain notebook as a one-workflow manifest, with the local files its code names."""
    folder = notebook.parent
    parsed = read_notebook(notebook)
    name = re.sub(r"[^a-z0-9._-]+", "-", notebook.stem.lower()).strip("-._") or "notebook"
    parameters = {key: parameter.default for key, parameter in notebook_parameters(parsed).items()
                  if _is_json_literal(parameter.default)}
    workflow: dict[str, Any] = {"notebook": notebook.name}
    if parameters:
        workflow["parameters"] = parameters
    data: dict[str, Any] = {"name": name, "version": "0.1.0", "workflows": {"run": workflow}}
    declared = parsed.metadata.get("reef", {})
    if declared.get("artifacts"):
        data["artifacts"] = declared["artifacts"]
    files = {notebook.name: notebook}  # export_package adds the files the code names and the runs read
    return data, files, folder


def _code_trees(notebook):
    """Parsed syntax trees of the notebook's code cells (magics left out, unparsable cells skipped)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            yield ast.parse(_python_only(cell.source))
        except SyntaxError:
            continue


def _imports(notebook) -> list[str]:
    names = set()
    for tree in _code_trees(notebook):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return sorted(names)


def _python_only(source: str) -> str:
    """Cell source without IPython magics and shell escapes, which are not Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _is_json_literal(value: Any) -> bool:
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def module_distributions(python: str | None) -> dict[str, list[str]]:
    """``{top-level import name: [distribution names]}`` in the kernel's environment (``python``; None: this one)."""
    return environment_modules(python)


def _notebook_requires(notebook: Path, records: list[dict], local: set[str] = frozenset(), warnings: list | None = None) -> dict:
    """Declared packages and tools, plus imported distributions pinned to the versions the kernel had.

    The import names are mapped in the kernel's own environment (the recorded run's interpreter).
    An import no distribution there provides is kept as an unpinned requirement, with a warning.
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    parsed = read_notebook(notebook)
    declared = parsed.metadata.get("reef", {}).get("requires", {})
    packages = list(declared.get("packages", []))
    named = set()
    for text in packages:
        try:
            named.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue
    python = kernel_python(records)
    versions = {canonicalize_name(name): version for name, version in _last_packages(records).items()}
    if not versions:
        versions = {canonicalize_name(name): version for name, version in environment_packages(python).items()}
    distributions = module_distributions(python)
    for module in _imports(parsed):
        if module in sys.stdlib_module_names or module in local or module.startswith("_") or module == "reefnb":
            continue  # reefnb goes into every environment reef makes (envs.install_reefnb): not from an index
        provided = sorted(set(distributions.get(module, [])))
        if not provided:
            name = canonicalize_name(module)
            if name not in named:
                packages.append(name)
                named.add(name)
                if warnings is not None:
                    warnings.append(f"{notebook.name}: import '{module}': no installed distribution provides it in the kernel's "
                                    f"environment ({python or sys.executable}); kept as the unpinned requirement '{name}' "
                                    "(check the name, or declare it with reef require)")
            continue
        for distribution in provided:
            name = canonicalize_name(distribution)
            if name in named:
                continue
            version = versions.get(name)
            packages.append(f"{name}=={version}" if version else name)
            named.add(name)
    requires: dict[str, Any] = {"python": f">={sys.version_info.major}.{sys.version_info.minor}"}
    if packages:
        requires["packages"] = sorted(packages)
    if declared.get("tools"):
        requires["tools"] = declared["tools"]
    return requires


def _last_packages(records: list[dict]) -> dict[str, str]:
    for record in reversed(records):
        packages = (record.get("environment") or {}).get("packages")
        if packages:
            return dict(packages)
    return {}


def _matching_records(store, data: dict, folder: Path) -> list[dict]:
    """The ok runs of this solution's notebooks as they are now (same name, same notebook content)."""
    digests = {}
    for name, spec in data["workflows"].items():
        digests[name] = notebook_digest(read_notebook(folder / spec["notebook"]))
    return [record for record in store.records(solution=data["name"], status="ok")
            if digests.get(record.get("workflow")) == record["notebook"]["sha256"]]


def _with_options(data: dict, authors, license: str | None, paper: str | None) -> dict:
    data = dict(data)
    if authors:
        data["authors"] = [{"name": name} for name in authors]
    if license:
        data["license"] = license
    if paper:
        doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", paper.strip(), flags=re.IGNORECASE)
        data["paper"] = {**data.get("paper", {}), "doi": doi}
    return data


def _expectations(data: dict, records: list[dict]) -> list[dict]:
    """The manifest's expectations, with the last recorded run's metrics replacing or joining them.

    An expectation the author named (``id``) is never replaced: claims refer to it.
    """
    expected = [dict(entry) for entry in data.get("expected", [])]
    if not records:
        return expected
    last = records[-1]
    declared = {metric["name"]: metric for metric in data.get("metrics", [])}
    metrics = {}
    for name, metric in sorted(last["metrics"].items()):
        if metric.get("value") is None:
            continue
        entry: dict[str, Any] = {"value": metric["value"]}
        if metric.get("unit"):
            entry["unit"] = metric["unit"]
        entry["tolerance"] = declared.get(name, {}).get("tolerance") or default_tolerance(name, metric["value"], metric.get("unit"))
        metrics[name] = entry
    if not metrics:
        return expected
    new = {"workflow": last["workflow"], "parameters": last["parameters"], "metrics": metrics}
    same = [entry for entry in expected
            if entry.get("workflow", "run") == last["workflow"] and entry.get("parameters", {}) == last["parameters"]]
    if any("id" in entry for entry in same):  # the author's own expectation (a claim may cite it) stands
        return expected
    return [entry for entry in expected if entry not in same] + [new]


def default_tolerance(name: str, value: Any, unit: str | None = None) -> dict:
    """Timings are informational, integers (and anything not a float) exact, floats relative 1e-6."""
    lowered, unit = name.lower(), (unit or "").lower()
    if "time" in lowered or re.search(r"(^|_)(ms|s|sec|seconds)$", lowered) or unit in ("ms", "s", "sec", "seconds", "us", "ns"):
        return {"informational": True}
    if isinstance(value, float):
        return dict(DEFAULT_FLOAT_TOLERANCE)
    return {"abs": 0}


def clean_record(record: dict) -> dict:
    """A run record without absolute paths or the host's name."""
    record = json.loads(json.dumps(record))
    record["solution"].pop("path", None)
    output = record["notebook"].get("output_path")
    if output:
        record["notebook"]["output_path"] = f"runs/{record['run_id']}/{Path(output).name}"
    environment = record.get("environment") or {}
    environment.pop("hostname", None)
    python = environment.get("python") or {}
    for key in ("executable", "prefix"):
        python.pop(key, None)
    (record.get("provenance") or {}).pop("command", None)
    return record


def _lock(solution: Solution | None, data: dict, records: list[dict]) -> dict:
    """The solution's lock without paths or its creation time, or one made from the last run's environment."""
    lock = read_lock(solution) if solution is not None else None
    if lock is None:
        environment = (records[-1].get("environment") or {}) if records else {}
        python = environment.get("python") or {}
        lock = {
            "lock_version": LOCK_VERSION,
            "solution": {"name": data["name"], "version": data["version"]},
            "platform": {key: (environment.get("os") or {}).get(key) for key in ("system", "machine", "release")},
            "python": {"version": python.get("version") or ".".join(map(str, sys.version_info[:3]))},
            "packages": environment.get("packages") or {},
            "source": "run" if records else "none",
        }
    lock = json.loads(json.dumps(lock))
    lock.pop("created", None)
    (lock.get("python") or {}).pop("executable", None)
    (lock.get("environment") or {}).pop("path", None)
    for artifact in (lock.get("artifacts") or {}).values():
        if isinstance(artifact, dict):
            artifact.pop("path", None)
    return lock


def _readme(data: dict, existing: str) -> str:
    """The package's README: the solution's own text, then the claims and how to check each."""
    marker = "## Claims and how to check them"
    text = existing.split(marker)[0].rstrip() if existing else f"# {data['name']} {data['version']}\n\n{data.get('description', '')}".rstrip()
    package = f"{data['name']}-{data['version']}.reef.zip"
    lines = [text, "", marker, ""]
    lines.append(f"Import and check everything with `reef reproduce {package} --trust`; it prints a verdict per metric and per claim.")
    profiles = data.get("profiles", {})
    for name, profile in sorted(profiles.items()):
        minutes = f" (about {profile['expected_minutes']} min" + (f" on {profile['hardware']})" if profile.get("hardware") else ")") \
            if profile.get("expected_minutes") else ""
        lines.append(f"- `reef reproduce {package} --trust --profile {name}`{minutes}: {profile.get('description', '')}".rstrip(": "))
    expected = {entry.get("id"): entry for entry in data.get("expected", []) if entry.get("id")}
    for claim in data.get("claims", []):
        lines += ["", f"### {claim['id']}: {claim['statement']}"]
        if claim.get("where"):
            lines.append(f"Where: {claim['where']}.")
        for name in claim["expected"]:
            entry = expected.get(name, {})
            parameters = " ".join(f"-p {key} {value}" for key, value in entry.get("parameters", {}).items())
            metrics = ", ".join(f"{metric} = {spec.get('value')}" + _within(spec.get("tolerance") or {})
                                for metric, spec in entry.get("metrics", {}).items() if not claim.get("metrics") or metric in claim["metrics"])
            in_profiles = ", ".join(entry.get("profiles", ["full"])) if profiles else "every run"
            lines.append(f"- experiment `{name}` ({in_profiles}): `reef run . -w {entry.get('workflow', 'run')} {parameters}`".rstrip()
                         + f" should give {metrics}")
    if not data.get("claims"):
        lines += ["", "This solution declares no claims: every expected result is checked."]
    return "\n".join(lines) + "\n"


def _within(tolerance: dict) -> str:
    if tolerance.get("informational"):
        return " (informational)"
    parts = []
    if "abs" in tolerance:
        parts.append(f"± {tolerance['abs']:g}")
    if "rel" in tolerance:
        parts.append(f"± {tolerance['rel']:g} relative")
    return f" {' or '.join(parts)}" if parts else " exactly"


def _requirements_txt(data: dict, lock: dict) -> str:
    """The declared packages, each pinned to the locked version (repo2docker rebuilds only full pins faithfully)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    versions = {canonicalize_name(name): version for name, version in (lock.get("packages") or {}).items()}
    lines = []
    for text in data.get("requires", {}).get("packages", []):
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        version = versions.get(name)
        if version is None:
            pinned = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            version = pinned[0] if pinned else None
        marker = f"; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{name}=={version}{marker}" if version else f"{text}")
    return "".join(f"{line}\n" for line in sorted(set(lines)))


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _crate_bytes(data: dict, members: dict[str, bytes], records: list[dict]) -> bytes:
    """The RO-Crate metadata: the files, the main notebook, and each run as a CreateAction (Process Run Crate)."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    crate = ROCrate(gen_preview=False)
    root = crate.root_dataset
    root["name"] = f"{data['name']} {data['version']}"
    root["description"] = data.get("description") or f"reef solution {data['name']}"
    root["license"] = data.get("license") or "NOASSERTION"
    times = [record["ended"] for record in records if record.get("ended")]
    root["datePublished"] = max(times) if times else "1980-01-01T00:00:00+00:00"
    profile = crate.add(ContextEntity(crate, PROCESS_RUN_PROFILE, properties={
        "@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"}))
    root["conformsTo"] = profile
    if data.get("authors"):
        root["author"] = [crate.add(ContextEntity(crate, f"#author-{index}", properties={"@type": "Person", **author}))
                          for index, author in enumerate(data["authors"])]
    if (data.get("paper") or {}).get("doi"):
        root["citation"] = {"@id": f"https://doi.org/{data['paper']['doi']}"}
    entities = {}
    for name, content in sorted(members.items()):
        properties = {"contentSize": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        if name.endswith(".ipynb"):
            properties.update({"@type": ["File", "SoftwareSourceCode"], "encodingFormat": "application/x-ipynb+json",
                               "programmingLanguage": "Python"})
        elif name.endswith(".json"):
            properties["encodingFormat"] = "application/json"
        entities[name] = crate.add_file(None, dest_path=name, properties=properties)
    main = data["workflows"].get("run") or next(iter(data["workflows"].values()))
    crate.mainEntity = entities[main["notebook"]]
    software = crate.add(ContextEntity(crate, "#reefnb", properties={
        "@type": "SoftwareApplication", "name": "reefnb", "url": "https://pypi.org/project/reefnb/"}))
    for record in records:
        run_id = record["run_id"]
        values = [crate.add(ContextEntity(crate, f"#run-{run_id}-parameter-{key}", properties={
            "@type": "PropertyValue", "name": key, "value": _property_value(value)})) for key, value in sorted(record["parameters"].items())]
        results = [entities[f"{RESULTS_FOLDER}/{run_id}.json"]]
        results += [entities[name] for name in (f"{RESULTS_FOLDER}/{run_id}.{SERIES_FILE}",) if name in entities]
        results += [crate.add(ContextEntity(crate, f"#run-{run_id}-metric-{key}", properties={
            "@type": "PropertyValue", "name": key, "value": _property_value(metric.get("value")),
            **({"unitText": metric["unit"]} if metric.get("unit") else {})})) for key, metric in sorted(record["metrics"].items())]
        notebook = data["workflows"].get(record["workflow"], main)["notebook"]
        properties = {
            "name": f"run {run_id} of {notebook}",
            "startTime": record["started"],
            "endTime": record["ended"],
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus" if record["status"] == "ok"
                             else "http://schema.org/FailedActionStatus"},
            "agent": software,
        }
        if record.get("error"):
            properties["error"] = f"{record['error'].get('name')}: {record['error'].get('message')}"
        action = crate.add_action(entities[notebook], identifier=f"#run-{run_id}", object=values, result=results, properties=properties)
        root.append_to("mentions", action)
    metadata = crate.metadata.generate()
    return _json_bytes(metadata)


def _property_value(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)


def _zip_time() -> tuple:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        moment = datetime.fromtimestamp(max(int(epoch), 315532800), tz=timezone.utc)
        return moment.timetuple()[:6]
    return _ZIP_EPOCH


_COMPRESSION_SAMPLE = 1 << 20  # bytes test-compressed to decide how a member is stored
_WORTH_DEFLATING = 0.9  # deflate only when the sample shrinks below this fraction


def _compression_for(content: bytes) -> int:
    """ZIP_DEFLATED, or ZIP_STORED for content that deflate does not shrink (random, already compressed):
    deflating 400 MB of random bytes took 11 s for nothing. Decided on the first MiB (fast level), so the
    same bytes are always stored the same way and the archive stays deterministic."""
    sample = content[:_COMPRESSION_SAMPLE]
    if len(sample) >= 4096 and len(zlib.compress(sample, 1)) > _WORTH_DEFLATING * len(sample):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _write_zip(output: Path, members: dict[str, bytes]) -> None:
    """Write members sorted, with one fixed time and mode, atomically (a temporary file renamed)."""
    moment = _zip_time()
    with atomic_file(output) as handle, zipfile.ZipFile(handle, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=moment)
            info.compress_type = _compression_for(members[name])
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, members[name], compresslevel=9)


def _package_name(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return f"files/{path.name}"


# --- import ---------------------------------------------------------------------------------------


def is_package(path: str | Path) -> bool:
    """Whether ``path`` is a package file (a zip), rather than a solution folder or manifest."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() == ".zip"


def import_package(package: str | Path, target: str | Path | None = None, *, max_members: int = MAX_MEMBERS,
                   max_ratio: float = MAX_RATIO) -> Path:
    """Extract a package into ``target`` (default: ``./NAME`` from the file name) after checking it all.

    Refused, with nothing written at ``target``: what ``reefnb.common.archives.extract_archive`` refuses (absolute
    paths, ``..``, links, special files, duplicate names, more than ``max_members`` members, an uncompressed size
    over ``max_ratio`` times the archive's), a member missing from ``SHA256SUMS`` or not matching it, a manifest,
    lock or run record that is not acceptable JSON. It is extracted into a temporary folder beside ``target``,
    checked there and renamed into place. Nothing is executed.
    """
    package = Path(package)
    if not package.is_file():
        raise PackageError(f"{package}: no such package")
    if target is None:
        base = package.name[: -len(PACKAGE_SUFFIX)] if package.name.endswith(PACKAGE_SUFFIX) else package.stem
        target = Path.cwd() / base
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PackageError(f"{package}: cannot import into {target}: it exists and is not empty")
    if not zipfile.is_zipfile(package):
        raise PackageError(f"{package}: not a readable zip archive")
    limits = replace(LIMITS, max_members=max_members, max_ratio=max_ratio)
    try:
        with replaced_folder(target) as temporary:
            files = extract_archive(package, temporary, limits, executables=False).files
            sums = _read_sums(package, temporary, files)
            _check_json_members(package, temporary, files)
            _check_sums(package, temporary, sums)
    except ArchiveError as error:
        raise PackageError(str(error)) from None
    except OSError as error:
        raise PackageError(f"{package}: cannot extract into {target}: {error.strerror or error}") from None
    log.info("%s: imported into %s", package, target)
    return target


def _check_json_members(package: Path, folder: Path, files: tuple[str, ...]) -> None:
    """The JSON members reef reads (manifest, lock, run records) parse within the reader's limits."""
    for name in files:
        if name in (MANIFEST_NAME, LOCK_NAME) or (name.startswith(f"{RESULTS_FOLDER}/") and name.endswith(".json") and name.count("/") == 1):
            try:
                parse_json(folder.joinpath(*name.split("/")).read_bytes(), f"{package}: member '{name}'", expect=dict)
            except InputError as error:
                raise PackageError(str(error)) from None


def _read_sums(package: Path, folder: Path, files: tuple[str, ...]) -> dict[str, str]:
    """``SHA256SUMS`` read, and checked to list every member and no other."""
    path = folder / SUMS_NAME
    if SUMS_NAME not in files:
        raise PackageError(f"{package}: member '{SUMS_NAME}': missing; a package lists every file's sha256 there")
    if path.stat().st_size > 16 * 1024 * 1024:
        raise PackageError(f"{package}: member '{SUMS_NAME}': too large")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1):
        match = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip("\r"))
        if not match:
            raise PackageError(f"{package}: member '{SUMS_NAME}': line {number} is not 'SHA256  NAME'")
        sums[match.group(2)] = match.group(1)
    for name in files:
        if name != SUMS_NAME and name not in sums:
            raise PackageError(f"{package}: member '{name}': not listed in {SUMS_NAME}")
    for name in sums:
        if name not in files:
            raise PackageError(f"{package}: member '{name}': listed in {SUMS_NAME} but missing from the archive")
    return sums


def _check_sums(package: Path, folder: Path, sums: dict[str, str]) -> None:
    for name, expected in sorted(sums.items()):
        digest = file_sha256(folder.joinpath(*name.split("/")))
        if digest != expected:
            raise PackageError(f"{package}: member '{name}': sha256 {digest} does not match {SUMS_NAME} ({expected})")


def package_records(folder: str | Path) -> list[dict]:
    """The run records an imported package carries (``results/*.json``), oldest first."""
    folder = Path(folder) / RESULTS_FOLDER
    records = [read_json(path, expect=dict) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(records, key=lambda record: (str(record.get("started", "")), str(record.get("run_id", ""))))


def _package_identity(package: Path) -> tuple[str, str]:
    """The name and version in a package's ``solution.json`` (read from the archive, not extracted)."""
    try:
        with zipfile.ZipFile(package) as archive:
            info = archive.getinfo(MANIFEST_NAME)
            if info.file_size > 16 * 1024 * 1024:
                raise PackageError(f"{package}: member '{MANIFEST_NAME}': too large")
            data = parse_json(archive.read(info), f"{package}: member '{MANIFEST_NAME}'", max_bytes=16 * 1024 * 1024)
    except KeyError:
        raise PackageError(f"{package}: member '{MANIFEST_NAME}': missing") from None
    except InputError as error:
        raise PackageError(str(error)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as error:
        raise PackageError(f"{package}: member '{MANIFEST_NAME}': unreadable: {error}") from None
    identity = []
    for field in ("name", "version"):
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}", value):
            raise PackageError(f"{package}: member '{MANIFEST_NAME}': /{field}: {value!r} is not a plain name")
        identity.append(value)
    return identity[0], identity[1]


DRY_RUN_PREFIX = "reef-dry-run-"


def dry_run_import(action: Callable[[Path], Path]) -> Path:
    """``action(target)`` into ``TMPDIR/reef-dry-run-*/solution``; the folder goes when it fails (``discard_dry_run`` after use)."""
    scratch = Path(tempfile.mkdtemp(prefix=DRY_RUN_PREFIX))
    try:
        return action(scratch / "solution")
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def discard_dry_run(folder: str | Path) -> None:
    """Remove the temporary folder ``resolve_source(..., dry_run=True)`` imported into (anything else stays)."""
    parent = Path(folder).parent
    if parent.name.startswith(DRY_RUN_PREFIX) and parent.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(parent, ignore_errors=True)


def import_once(source: Path, dry_run: bool = False) -> Path:
    """Package ``source`` verified and imported into ``solutions_home()/NAME-VERSION`` once: the same package
    again reuses that folder, another package of the same name and version is refused. With ``dry_run`` it
    goes to a temporary folder (``discard_dry_run`` after use)."""
    name, version = _package_identity(source)
    if dry_run:
        return dry_run_import(lambda target: import_package(source, target))
    target = solutions_home() / f"{name}-{version}"
    if target.exists():
        try:
            with zipfile.ZipFile(source) as archive:
                same = archive.read(SUMS_NAME) == (target / SUMS_NAME).read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile):
            same = False
        if not same:
            raise PackageError(f"{source}: {target} holds another package of {name}@{version}: remove that folder first")
        return target
    return import_package(source, target)
