"""Artifact packages: export a notebook or solution as one ``.reef.zip`` and import one safely.

A package holds ``solution.json`` (with ``expected`` results from the recorded runs), the
notebooks and files they read, ``reef.lock.json``, the run records under ``results/`` with each
run's executed notebook (``results/RUN_ID/notebook.ipynb``, its outputs scrubbed of text secrets and
paths, images and widgets whole), an RO-Crate (``ro-crate-metadata.json``, each run a CreateAction as in the Process Run
Crate profile), the files repo2docker reads (``requirements.txt``, ``runtime.txt``) and ``SHA256SUMS``.
The same input gives the same bytes: sorted members, fixed times and permissions, no wall clock.
Importing only extracts, after checking every member and checksum; it never runs code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from reefnb.common.archives import LIMITS, extract_archive
from reefnb.common.exceptions import ArchiveError, InputError, PackageError
from reefnb.common.files import atomic_file, replaced_folder
from reefnb.common.json_input import parse_json, read_json
from reefnb.common.paths import solutions_home
from reefnb.common.scrub import Scrubber, secrets_in_code
from reefnb.provision.artifacts import file_sha256
from reefnb.provision.declare import solution_of
from reefnb.provision.initialised import ORIGIN_NAME, write_origin
from reefnb.provision.install import LOCK_NAME, LOCK_VERSION, read_lock
from reefnb.runs.attachments import FILES_FOLDER, packed_attachments
from reefnb.runs.store import Store, default_store
from reefnb.runs.telemetry import series_path
from reefnb.sharing.crate import RECORDED_NOTEBOOK, RESULTS_FOLDER, crate_bytes, json_bytes
from reefnb.sharing.expectations import expectations_from_records
from reefnb.sharing.export_scan import (
    FoundFiles,
    code_trees,
    local_modules,
    relative_outside,
    relative_parameter,
    static_files,
    traced_files,
)
from reefnb.sharing.readme import package_readme
from reefnb.sharing.requires import notebook_requires, requirements_txt
from reefnb.solution.manifest import MANIFEST_NAME, Solution, load_solution, validate_manifest
from reefnb.solution.notebook import notebook_digest, notebook_parameters, read_notebook

log = logging.getLogger(__name__)

PACKAGE_SUFFIX = ".reef.zip"
SUMS_NAME = "SHA256SUMS"
CRATE_NAME = "ro-crate-metadata.json"
MAX_MEMBERS = LIMITS.max_members  # the one set of archive limits (reefnb.common.archives)
MAX_RATIO = LIMITS.max_ratio
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SKIPPED = {"runs", "__pycache__", ".ipynb_checkpoints", ".git", LOCK_NAME, SUMS_NAME, CRATE_NAME}


# --- export ---------------------------------------------------------------------------------------


@dataclass
class _ExportOptions:
    """What ``export_package`` takes beside its source and output (see its parameters)."""

    include: Sequence[str | Path] = ()
    authors: Sequence[str] = ()
    license: str | None = None
    paper: str | None = None
    allow_secret_in_code: bool = False
    external: dict[str, str | Path] | None = None
    with_files: bool = True


@dataclass
class _Export:
    """What one export has gathered: the manifest data, the files to pack, the runs and the warnings."""

    solution: Solution | None
    notebook: Path | None
    data: dict
    files: dict[str, Path]
    folder: Path
    notebooks: dict[str, Path]  # workflow name -> notebook
    records: list[dict]
    externals: dict[str, str]  # resolved path -> its place in the solution
    found: FoundFiles
    warnings: list[str]


def export_package(
    source: str | Path,
    output: str | Path,
    include: list[str | Path] | tuple = (),
    authors: list[str] | tuple = (),
    license: str | None = None,
    paper: str | None = None,
    store: Store | None = None,
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
    The package carries the ok runs of the solution's notebooks as they are now (same notebook
    content) that ran in this folder (copies of it elsewhere keep theirs), each with its executed notebook
    (``results/RUN_ID/notebook.ipynb``, scrubbed; a run whose executed notebook is gone goes without it, with
    a warning), and the expected results drawn from them. No member names an absolute or home path: files a run
    read outside the folder are named relative to it (``../data/x.csv``) or left out, with a warning.

    Parameters
    ----------
    source
        A notebook, a solution folder or its ``solution.json``.
    output
        The package file to write (``NAME.reef.zip``).
    include
        More files to pack.
    authors
        Author names, written to the exported manifest's ``authors``.
    license
        The license, written to the exported manifest.
    paper
        The paper's DOI (a ``doi.org`` URL or ``doi:`` prefix is taken off), written to ``paper.doi``.
    store
        The ``Store`` the runs are read from (default: the default store).
    allow_secret_in_code
        Export even when a notebook's code holds a secret.
    external
        Artifact name -> file: declares each file as a ``supplied`` artifact (see above).
    with_files
        False: the runs' attached files are left out.

    Returns
    -------
    dict
        A summary: ``package`` (its path), ``sha256``, ``solution`` (NAME@VERSION), ``members``,
        ``expected`` and ``runs`` (what it carries), ``files`` (static, traced, outside) and
        ``warnings`` (files read from outside the solution, imports not installed).

    Raises
    ------
    PackageError
        When ``source`` does not exist, a notebook's code holds a secret, an included or external file
        is not usable, or the exported manifest would be invalid.
    ParameterError
        When an absolute path parameter leaves the solution and ``external`` does not declare it.
    ManifestError
        When the solution's manifest is invalid.
    """
    options = _ExportOptions(include, authors, license, paper, allow_secret_in_code, external, with_files)
    source, output = Path(source), Path(output)
    if not source.exists():
        raise PackageError(f"{source}: no such notebook or solution")
    store = store if isinstance(store, Store) else default_store()
    export = _export_source(source)
    _gather_files(export, store, options)
    _complete_manifest(export, source, options)
    scrubber = package_scrubber(export.folder, export.records)
    export.data = scrubber.value(export.data)
    members = _file_members(export.files, scrubber)
    clean_records = _result_members(members, export, scrubber, options.with_files)
    _described_members(members, export, scrubber)
    sums, digest = _write_zip(
        output,
        members,
        lambda sums: {CRATE_NAME: scrubber.json_bytes(json.loads(crate_bytes(export.data, sums, clean_records)))},
        _sums_member,
    )
    for warning in export.warnings:
        log.info("%s", warning)  # front ends show summary["warnings"]
    return _export_summary(output, digest, export, sums, clean_records)


def package_scrubber(folder: str | Path, records: Sequence[dict] = ()) -> Scrubber:
    """The scrubber a package's members go through: ``folder`` written ``.``, the home folder ``~``, this
    interpreter's prefixes and those the runs' kernels had ``<python>`` (outputs name them in tracebacks and
    warnings). A reproduction scrubs its rerun's notebook with the one for its folder and rerun, so both read alike."""
    prefixes = {sys.prefix, sys.base_prefix}
    for record in records:
        python = (record.get("environment") or {}).get("python") or {}
        prefixes |= {
            python[key]
            for key in ("prefix", "base_prefix")
            if isinstance(python.get(key), str) and os.path.isabs(python[key])
        }
    return Scrubber(
        folder, interpreters=tuple(sorted(prefix for prefix in prefixes if Path(prefix).parent != Path(prefix)))
    )


def _export_summary(
    output: Path, digest: str, export: _Export, members: dict[str, Any], clean_records: list[dict]
) -> dict:
    """What ``export_package`` returns: the package, its sha256
    (``digest``) and members, what it carries, the warnings."""
    found = export.found
    return {
        "package": str(output),
        "sha256": digest,
        "solution": f"{export.data['name']}@{export.data['version']}",
        "members": sorted(members),
        "expected": export.data["expected"],
        "runs": [record["run_id"] for record in clean_records],
        "files": {"static": sorted(found.static), "traced": sorted(found.traced), "outside": found.outside},
        "warnings": export.warnings,
    }


def _export_source(source: Path) -> _Export:
    """The manifest data, files and folder of a notebook (with its solution's, if it has one) or a solution."""
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
    return _Export(
        solution, notebook, data, files, folder, notebooks, records=[], externals={}, found=FoundFiles(), warnings=[]
    )


def _gather_files(export: _Export, store: Store, options: _ExportOptions) -> None:
    """Refuse secrets in code; find the matching runs, the ``--external`` artifacts and every file to pack."""
    folder = export.folder
    if not options.allow_secret_in_code:
        _refuse_secrets_in_code(sorted(set(export.notebooks.values())), folder)
    export.records = _matching_records(store, export.data, folder, export.warnings)
    export.externals = _external_artifacts(options.external or {}, folder, export.data)
    export.found = _found_files(export.notebooks, folder, export.records, export.warnings, set(export.externals))
    export.files.update(export.found.static)
    export.files.update(export.found.traced)
    for extra in options.include:
        extra = Path(extra)
        if not extra.is_file():
            raise PackageError(f"--include {extra}: no such file")
        export.files[_package_name(extra, folder)] = extra.resolve()


def _complete_manifest(export: _Export, source: Path, options: _ExportOptions) -> None:
    """The exported manifest: the options, expectations from the runs, relative paths, requirements; validated."""
    data = _with_options(export.data, options.authors, options.license, options.paper)
    data["expected"] = expectations_from_records(data, export.records)
    used: set[str] = set()
    _relative_paths(data, export.notebooks, export.folder, export.externals, used)
    for path in sorted(set(export.externals) - used):
        name = export.externals[path].split("/")[1]
        export.warnings.append(
            f"--external {name}: no parameter names {path}, so the code still reads it there (code is never "
            "rewritten): "
            f"make the path a parameter, and the package will read {export.externals[path]}"
        )
    if export.solution is None:
        found = export.found
        data["requires"] = notebook_requires(
            export.notebook, export.records, found.modules, export.warnings, found.module_imports
        )
    problems = validate_manifest(data, export.folder / MANIFEST_NAME)
    if problems:
        raise PackageError(f"{source}: the exported manifest would be invalid: {problems[0]}")
    export.data = data


def _file_members(files: dict[str, Path], scrubber: Scrubber) -> dict[str, bytes | Path]:
    """The solution's files as package members: notebooks scrubbed (their code is kept as written), the other files
    as paths, read once while the package is written (``_write_zip``)."""
    members: dict[str, bytes | Path] = {}
    for name, path in sorted(files.items()):
        members[name] = (
            scrubber.notebook(path.read_bytes().decode("utf-8")).encode("utf-8") if name.endswith(".ipynb") else path
        )
    return members


def _result_members(
    members: dict[str, bytes | Path], export: _Export, scrubber: Scrubber, with_files: bool
) -> list[dict]:
    """Add the manifest and each run's scrubbed record, telemetry
    series and attached files; returns the clean records."""
    members[MANIFEST_NAME] = json_bytes(export.data)
    clean_records = []
    for record in export.records:
        clean = clean_record(record, export.externals)
        executed = _executed_notebook(record, scrubber, export.warnings)
        clean["notebook"]["output_path"] = (
            "" if executed is None else f"{RESULTS_FOLDER}/{record['run_id']}/{RECORDED_NOTEBOOK}"
        )
        if executed is not None:
            members[clean["notebook"]["output_path"]] = executed
        clean_records.append(scrubber.value(clean))
    for record in clean_records:
        members[f"{RESULTS_FOLDER}/{record['run_id']}.json"] = json_bytes(record)
    for record in export.records:  # each run's telemetry series (numbers only), beside its record
        series = series_path(record)
        if series is not None:
            members[f"{RESULTS_FOLDER}/{record['run_id']}.{series.name}"] = series
    for record in export.records if with_files else ():
        for name, content in packed_attachments(record, scrubber, export.warnings):
            members[f"{RESULTS_FOLDER}/{record['run_id']}/{FILES_FOLDER}/{name}"] = content
    return clean_records


def _executed_notebook(record: dict, scrubber: Scrubber, warnings: list[str]) -> bytes | None:
    """A run's executed notebook (``runs/RUN_ID/NOTEBOOK``), scrubbed, as a member; None, with a warning, when it is
    gone or unreadable (the run is packed without it: a reproduction then compares its metrics only)."""
    output = (record.get("notebook") or {}).get("output_path")
    where = f"run {record['run_id']}: its executed notebook"
    try:
        if not output or not Path(output).is_file():
            raise FileNotFoundError
        content = scrubber.notebook(Path(output).read_text(encoding="utf-8")).encode("utf-8")
        parse_json(content, f"{where} ({Path(output).name})", expect=dict)  # what the import will accept
        return content
    except FileNotFoundError:
        warnings.append(
            f"{where} ({Path(output or 'runs').name}) is gone: the run is packed without its outputs, so a "
            "reproduction compares its metrics only"
        )
    except InputError as error:
        warnings.append(f"{error}: the run is packed without its outputs")
    except (OSError, ValueError) as error:
        warnings.append(f"{where} cannot be read ({error}): the run is packed without its outputs")
    return None


def _described_members(members: dict[str, bytes | Path], export: _Export, scrubber: Scrubber) -> None:
    """Add what describes the package: the lock, repo2docker's files and the README (the RO-Crate and SHA256SUMS
    are written last, from the members' sizes and sha256 taken while they were written: ``_write_zip``)."""
    data = export.data
    lock = scrubber.value(_lock(export.solution, data, export.records))
    members[LOCK_NAME] = json_bytes(lock)
    members["requirements.txt"] = requirements_txt(data, lock).encode("utf-8")
    python_version = (lock.get("python") or {}).get("version") or ".".join(map(str, sys.version_info[:3]))
    members["runtime.txt"] = f"python-{'.'.join(python_version.split('.')[:2])}\n".encode()
    if "README.md" not in members or data.get("claims"):
        readme = members.get("README.md", b"")
        readme = readme.read_bytes() if isinstance(readme, Path) else readme
        members["README.md"] = scrubber.text(package_readme(data, readme.decode("utf-8", "replace"))).encode("utf-8")


def _sums_member(sums: dict[str, tuple[int, str]]) -> dict[str, bytes]:
    """SHA256SUMS: every other member's sha256, by name."""
    return {SUMS_NAME: "".join(f"{digest}  {name}\n" for name, (_, digest) in sorted(sums.items())).encode("utf-8")}


def _refuse_secrets_in_code(notebooks: list[Path], folder: Path) -> None:
    """Stop the export at the first secret written in a notebook's code, naming notebook, cell and line."""
    for path in notebooks:
        for finding in secrets_in_code(read_notebook(path)):
            raise PackageError(
                f"{_package_name(path, folder)}: cell {finding.cell}, line {finding.line}: a secret in the code "
                f"({finding.kind}); code is exported as written: read it from an environment variable "
                "(os.environ) instead, or pass --allow-secret-in-code"
            )


def _found_files(
    notebooks: dict[str, Path],
    folder: Path,
    records: list[dict],
    warnings: list[str],
    externals: set[str] = frozenset(),
) -> FoundFiles:
    """The files the notebooks name (and their local modules name), and the files their recorded runs read."""
    found = FoundFiles()
    for path in sorted(set(notebooks.values())):
        trees = code_trees(read_notebook(path))
        modules = local_modules(trees, path.parent, folder)
        found.modules |= modules.names
        for name, where in modules.imports.items():
            found.module_imports.setdefault(name, where)
        found.static.update(modules.files)
        found.static.update(static_files(trees + modules.trees, path.parent, folder))
    found.traced, found.outside = traced_files(records, folder)
    found.traced = {name: path for name, path in found.traced.items() if name not in found.static}
    for path in found.outside:
        if str(Path(path).resolve()) in externals:
            continue
        relative, why = relative_outside(path, folder)
        named = f"the packed runs name it {relative}" if relative else f"left out of the packed runs' files_read: {why}"
        warnings.append(
            f"{path}: read by the recorded run but outside the solution folder, so not packed ({named}): copy it into "
            f"{folder.name}/ (or pass --include {path}) and export again"
        )
    return found


def _external_artifacts(external: dict[str, str | Path], folder: Path, data: dict) -> dict[str, str]:
    """``--external NAME=PATH``: each file declared as a ``supplied`` artifact in ``data`` (sha256, size, its place
    ``external/NAME/FILE`` in the solution); returns resolved path -> that place."""
    placed: dict[str, str] = {}
    for name, text in external.items():
        where = f"--external {name}={text}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise PackageError(
                f"{where}: NAME may hold letters, digits, '.', '_' and '-', and starts with a letter or digit"
            )
        path = Path(os.path.expanduser(str(text)))
        if not path.is_file():
            raise PackageError(f"{where}: no such file (a folder: pack it into one archive first)")
        resolved = path.resolve()
        if resolved.is_relative_to(folder.resolve()):
            raise PackageError(
                f"{where}: the file is inside the solution folder, so it is packed as it is: drop --external"
            )
        if name in data.get("artifacts", {}):
            raise PackageError(f"{where}: {MANIFEST_NAME} already declares an artifact '{name}'")
        filename = re.sub(r"[^A-Za-z0-9._-]", "_", resolved.name).lstrip(".") or name
        place = f"external/{name}/{filename}"
        data.setdefault("artifacts", {})[name] = {
            "kind": "dataset",
            "description": f"{filename}, supplied by whoever runs the solution",
            "supplied": True,
            "sha256": file_sha256(resolved),
            "size": resolved.stat().st_size,
            "path": place,
        }
        placed[str(resolved)] = place
    return placed


def _relative_paths(
    data: dict,
    notebooks: dict[str, Path],
    folder: Path,
    externals: dict[str, str] | None = None,
    used: set[str] | None = None,
) -> None:
    """Absolute path parameters (workflow values, notebook defaults, expectations) made relative to their notebook
    (an ``--external`` file's to its artifact's place)."""
    for name, spec in data["workflows"].items():
        notebook = notebooks[name]
        where = f"{_package_name(notebook, folder)}"
        parameters = dict(spec.get("parameters") or {})
        for key, parameter in notebook_parameters(read_notebook(notebook)).items():
            if (
                key not in parameters
                and isinstance(parameter.default, str)
                and parameter.default.startswith(("/", "~"))
            ):
                parameters[key] = parameter.default
        parameters = {
            key: relative_parameter(key, value, notebook.parent, folder, where, externals, used)
            for key, value in parameters.items()
        }
        if parameters:
            spec["parameters"] = parameters
    for entry in data.get("expected", []):
        notebook = notebooks.get(entry.get("workflow", "run"))
        if notebook is not None and entry.get("parameters"):
            entry["parameters"] = {
                key: relative_parameter(
                    key, value, notebook.parent, folder, f"{MANIFEST_NAME}: /expected", externals, used
                )
                for key, value in entry["parameters"].items()
            }


def _solution_files(solution: Solution) -> tuple[dict, dict[str, Path], Path]:
    """A solution's manifest data and its files (everything in its folder but runs, caches and hidden files)."""
    folder = solution.path.resolve()
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (
            any(part in _SKIPPED or part.startswith(".") for part in relative.parts)
            or not path.is_file()
            or path.is_symlink()
        ):
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
    parameters = {
        key: parameter.default
        for key, parameter in notebook_parameters(parsed).items()
        if _is_json_literal(parameter.default)
    }
    workflow: dict[str, Any] = {"notebook": notebook.name}
    if parameters:
        workflow["parameters"] = parameters
    data: dict[str, Any] = {"name": name, "version": "0.1.0", "workflows": {"run": workflow}}
    declared = parsed.metadata.get("reef", {})
    if declared.get("artifacts"):
        data["artifacts"] = declared["artifacts"]
    files = {notebook.name: notebook}  # export_package adds the files the code names and the runs read
    return data, files, folder


def _is_json_literal(value: Any) -> bool:
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def _matching_records(store, data: dict, folder: Path, warnings: list[str]) -> list[dict]:
    """The ok runs of this solution's notebooks as they are now (same name, same notebook content), run in this
    folder: copies of the notebook elsewhere on the machine keep their runs. A record that names no folder (an
    older one) is placed by where its executed notebook was written (``runs/RUN_ID/`` here); one that says
    neither is left out, with a warning."""
    digests = {}
    for name, spec in data["workflows"].items():
        digests[name] = notebook_digest(read_notebook(folder / spec["notebook"]))
    here = folder.resolve()
    records, unplaced = [], []
    for record in store.records(solution=data["name"], status="ok"):
        if digests.get(record.get("workflow")) != (record.get("notebook") or {}).get("sha256"):
            continue
        place = _run_folder(record)
        if place is None:
            unplaced.append(record["run_id"])
        elif place == here:
            records.append(record)
    if unplaced:
        warnings.append(
            f"{len(unplaced)} ok run(s) of {data['name']} with this notebook name no folder and keep no "
            "executed notebook "
            f"({', '.join(unplaced[:3])}{', ...' if len(unplaced) > 3 else ''}): not packed, as they may have "
            "run elsewhere"
        )
    return records


def _run_folder(record: dict) -> Path | None:
    """The solution folder a run ran in: its record's ``solution.path``, else the folder above ``runs/RUN_ID/``
    where its executed notebook was written; None when the record says neither."""
    path = (record.get("solution") or {}).get("path")
    if isinstance(path, str) and os.path.isabs(path):
        return Path(path).resolve()
    output = (record.get("notebook") or {}).get("output_path")
    if isinstance(output, str) and os.path.isabs(output):
        run_folder = Path(output).parent
        if run_folder.name == record.get("run_id") and run_folder.parent.name == "runs":
            return run_folder.parent.parent.resolve()
    return None


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


def clean_record(record: dict, externals: dict[str, str] | None = None) -> dict:
    """A run record without absolute paths or the host's name: files it read outside its folder are named
    relative to the folder (``../data/x.csv``) or left out (see ``export_scan.relative_outside``); one that
    ``--external`` declares (``externals``: resolved path -> its place) is named by its place in the solution
    (``external/NAME/FILE``), where the evaluator's copy goes."""
    record = json.loads(json.dumps(record))
    folder = record["solution"].pop("path", None)
    if "files_read" in record:
        record["files_read"] = _relative_files_read(record["files_read"], folder, externals or {})
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


def _relative_files_read(paths: list, folder: str | None, externals: dict[str, str]) -> list[str]:
    kept = []
    for path in paths:
        if isinstance(path, str) and os.path.isabs(path) and str(Path(path).resolve()) in externals:
            kept.append(externals[str(Path(path).resolve())])
        elif isinstance(path, str) and not os.path.isabs(path):
            kept.append(path)
        elif isinstance(path, str) and folder:
            relative = relative_outside(path, Path(folder))[0]
            if relative is not None:
                kept.append(relative)
    return sorted(set(kept))


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


def _zip_time() -> tuple:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        moment = datetime.fromtimestamp(max(int(epoch), 315532800), tz=timezone.utc)
        return moment.timetuple()[:6]
    return _ZIP_EPOCH


_COMPRESSION_SAMPLE = 1 << 20  # bytes test-compressed to decide how a member is stored
_WORTH_DEFLATING = 0.9  # deflate only when the sample shrinks below this fraction
_CHUNK = 1 << 20  # a file member is read and written this much at a time


def _compression_for(sample: bytes) -> int:
    """ZIP_DEFLATED, or ZIP_STORED for content that deflate does not shrink (random, already compressed):
    deflating 400 MB of random bytes took 11 s for nothing. Decided on the first MiB (fast level), so the
    same bytes are always stored the same way and the archive stays deterministic."""
    sample = sample[:_COMPRESSION_SAMPLE]
    if len(sample) >= 4096 and len(zlib.compress(sample, 1)) > _WORTH_DEFLATING * len(sample):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


class _HashingStream:
    """A write-only stream that hashes what goes through it. It cannot seek, so ``zipfile`` writes each member's
    sizes and CRC after its data (a data descriptor) instead of going back to its header: the package's sha256 is
    taken as it is written, and the zip is never read back."""

    def __init__(self, stream: IO[bytes]):
        self.stream, self.position, self.hash = stream, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.stream.write(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, *_: Any) -> int:
        raise io.UnsupportedOperation("seek")

    def flush(self) -> None:
        self.stream.flush()


def _write_zip(
    output: Path, members: dict[str, bytes | Path], *closing: Callable[[dict[str, tuple[int, str]]], dict[str, bytes]]
) -> tuple[dict[str, tuple[int, str]], str]:
    """Write members sorted (in the zip's directory), with one fixed time and mode, atomically (a temporary file
    renamed); after them the members each of ``closing`` makes from the sizes and sha256 of those written before it.
    A member given as a path is read once, a MiB at a time, hashed as it is written; the zip is hashed as it is
    written too. Returns each member's size and sha256, and the package's sha256."""
    moment = _zip_time()
    sums: dict[str, tuple[int, str]] = {}
    with atomic_file(output) as handle:
        stream = _HashingStream(handle)
        with zipfile.ZipFile(stream, "w") as archive:  # type: ignore[arg-type]
            for name in sorted(members):
                sums[name] = _write_member(archive, name, members[name], moment)
            for make in closing:
                for name, content in make(dict(sums)).items():
                    sums[name] = _write_member(archive, name, content, moment)
            archive.filelist.sort(
                key=lambda info: info.filename
            )  # its directory lists them sorted, as readers show them
        digest = stream.hash.hexdigest()
    return sums, digest


def _write_member(archive: zipfile.ZipFile, name: str, content: bytes | Path, moment: tuple) -> tuple[int, str]:
    """One member, deflated unless its first MiB does not compress; its size and sha256."""
    info = zipfile.ZipInfo(name, date_time=moment)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    digest = hashlib.sha256()
    size = 0
    if isinstance(content, bytes):
        info.compress_type = _compression_for(content)
        info.file_size = len(content)
        chunks: Iterable[bytes] = (content,)
        source = contextlib.nullcontext()
    else:
        try:
            source = open(content, "rb")  # noqa: SIM115 (closed below)
            info.file_size = os.fstat(source.fileno()).st_size
            first = source.read(_CHUNK)
        except OSError as error:
            raise PackageError(f"{content}: cannot be read into the package: {error.strerror or error}") from None
        info.compress_type = _compression_for(first)
        chunks = itertools.chain((first,), iter(lambda: source.read(_CHUNK), b""))
    with source, archive.open(info, "w", force_zip64=info.file_size > 1 << 30) as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


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


def import_package(
    package: str | Path,
    target: str | Path | None = None,
    *,
    max_members: int = MAX_MEMBERS,
    max_ratio: float = MAX_RATIO,
) -> Path:
    """Extract a package into ``target`` after checking it all.

    Refused, with nothing written at ``target``: what ``reefnb.common.archives.extract_archive`` refuses (absolute
    paths, ``..``, links, special files, duplicate names, more than ``max_members`` members, an uncompressed size
    over ``max_ratio`` times the archive's), a member missing from ``SHA256SUMS`` or not matching it, a manifest,
    lock or run record that is not acceptable JSON. It is extracted into a temporary folder beside ``target``,
    checked there and renamed into place. Nothing is executed.

    Parameters
    ----------
    package
        The package file (``NAME.reef.zip``).
    target
        The folder to make, absent or empty (default: ``./NAME`` from the file name).
    max_members
        The most members the archive may hold.
    max_ratio
        The most its uncompressed size may be, as a multiple of the archive's size.

    Returns
    -------
    Path
        ``target``, holding the solution.

    Raises
    ------
    PackageError
        When the package is refused (the message names the archive and the member), is missing or not a
        readable zip archive, or ``target`` exists and is not an empty folder.
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
            extracted = extract_archive(package, temporary, limits, executables=False)
            files = extracted.files
            _refuse_origin_members(package, files)
            sums = _read_sums(package, temporary, files)
            _check_json_members(package, temporary, files)
            _check_sums(package, extracted.sha256, sums)
            write_origin(temporary, package.resolve())
    except ArchiveError as error:
        raise PackageError(str(error)) from None
    except OSError as error:
        raise PackageError(f"{package}: cannot extract into {target}: {error.strerror or error}") from None
    log.info("%s: imported into %s", package, target)
    return target


def _refuse_origin_members(package: Path, files: tuple[str, ...]) -> None:
    """A package cannot say where it came from, nor that it is trusted: reef writes ``ORIGIN_NAME`` itself."""
    for name in files:
        if name.split("/")[-1].lower() == ORIGIN_NAME:
            raise PackageError(
                f"{package}: member '{name}': {ORIGIN_NAME} is written by reef when it imports a package; a "
                "package cannot carry one"
            )


def _is_recorded_notebook(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 3
        and parts[0] == RESULTS_FOLDER
        and parts[2] == RECORDED_NOTEBOOK
        and bool(RUN_ID_PATTERN.fullmatch(parts[1]))
    )


def _check_json_members(package: Path, folder: Path, files: tuple[str, ...]) -> None:
    """The JSON members reef reads (manifest, lock, run records, the
    runs' executed notebooks) parse within the reader's limits."""
    for name in files:
        record = name.startswith(f"{RESULTS_FOLDER}/") and name.endswith(".json") and name.count("/") == 1
        if name in (MANIFEST_NAME, LOCK_NAME) or record or _is_recorded_notebook(name):
            try:
                data = parse_json(
                    folder.joinpath(*name.split("/")).read_bytes(), f"{package}: member '{name}'", expect=dict
                )
            except InputError as error:
                raise PackageError(str(error)) from None
            if name == MANIFEST_NAME:
                _identity_of(package, data)  # a package names its solution: a manifest without name and version is none


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


def _check_sums(package: Path, digests: dict[str, str], sums: dict[str, str]) -> None:
    """Each member's sha256, taken as it was extracted (``digests``), against SHA256SUMS."""
    for name, expected in sorted(sums.items()):
        digest = digests[name]
        if digest != expected:
            raise PackageError(f"{package}: member '{name}': sha256 {digest} does not match {SUMS_NAME} ({expected})")


def package_records(folder: str | Path) -> list[dict]:
    """The run records an imported package carries (``results/*.json``), oldest first."""
    folder = Path(folder) / RESULTS_FOLDER
    records = [read_json(path, expect=dict) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(records, key=lambda record: (str(record.get("started", "")), str(record.get("run_id", ""))))


def recorded_notebook(folder: str | Path, run_id: str) -> Path | None:
    """The executed notebook of run ``run_id`` that an imported package (or its solution folder) carries,
    ``results/RUN_ID/notebook.ipynb`` with its outputs, scrubbed; None when it carries none."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        return None
    path = Path(folder) / RESULTS_FOLDER / run_id / RECORDED_NOTEBOOK
    return path if path.is_file() and not path.is_symlink() else None


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
    return _identity_of(package, data)


def _identity_of(package: Path, data: Any) -> tuple[str, str]:
    """The name and version of a package's manifest data; PackageError when either is missing or not a plain name."""
    identity = []
    for field in ("name", "version"):
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}", value):
            shown = "missing" if value is None else f"{repr(value)[:60]} is not a plain name"
            raise PackageError(f"{package}: member '{MANIFEST_NAME}': /{field}: {shown}")
        identity.append(value)
    return identity[0], identity[1]


DRY_RUN_PREFIX = "reef-dry-run-"


def dry_run_import(action: Callable[[Path], Path]) -> Path:
    """``action(target)`` into ``TMPDIR/reef-dry-run-*/solution``; the
    folder goes when it fails (``discard_dry_run`` after use)."""
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
            raise PackageError(
                f"{source}: {target} holds another package of {name}@{version}: remove that folder first"
            )
        return target
    return import_package(source, target)
