"""Executing a solution's workflow notebook with papermill and building its run record."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import papermill
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from reefnb.common.exceptions import EnvError, EnvironmentFailure, ReefError, StoreError
from reefnb.common.units import parse_size
from reefnb.common.version import __version__
from reefnb.kernel.recording import (
    ADDED_CELL_TAGS,
    MAX_METRIC_BYTES,
    MAX_METRIC_BYTES_VARIABLE,
    MAX_METRICS,
    MAX_METRICS_VARIABLE,
    read_attachments,
    read_records,
    read_refused,
    within_budget,
)
from reefnb.provision.artifacts import file_sha256
from reefnb.provision.detection import host_fingerprint
from reefnb.provision.envs import get_environment
from reefnb.provision.install import made_environment
from reefnb.provision.kernels import is_python, named_kernel
from reefnb.runs import processes, telemetry
from reefnb.runs.attachments import keep_attachments
from reefnb.runs.engine import ENGINE_NAME, RunSession, kernel_pid, register_engine
from reefnb.runs.meaning import with_declared_meaning
from reefnb.runs.output_limit import MAX_CELL_OUTPUT, OutputBudget, cell_output_limit
from reefnb.runs.provenance import git_provenance
from reefnb.runs.spec import RunSpec, StoreTarget
from reefnb.runs.store import Store, default_store
from reefnb.runs.telemetry import TelemetryOptions, telemetry_options
from reefnb.solution.manifest import Solution, Workflow, open_solution
from reefnb.solution.notebook import notebook_digest, notebook_language, notebook_parameters, read_notebook
from reefnb.solution.params import read_parameter_file, resolve_parameters

log = logging.getLogger(__name__)

RECORD_VERSION = 1
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC time to the second plus 32 random bits."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunRequest:
    """A run with everything resolved from its spec: plain, picklable data that a worker process can execute.

    ``spec`` is the run as asked (``RunSpec``), unchanged; the other fields are what preparing it resolved.
    """

    spec: RunSpec
    source: str  # the solution folder's manifest, or the notebook
    workflow: str
    parameters: dict  # the manifest's defaults, the parameter file's and the spec's, cast to their declared types
    kernel: str
    environment: str | None
    timeout: float | None
    notebook_sha256: str
    telemetry: TelemetryOptions = TelemetryOptions()  # the spec's over the manifest's setting; not part of the key
    output_limit: int = MAX_CELL_OUTPUT  # bytes of output kept per cell

    @property
    def key(self) -> str:
        """What makes two runs the same run: notebook content, parameters and environment."""
        return run_key(self.notebook_sha256, self.parameters, self.environment or self.kernel)


def metric_budget() -> tuple[int, int]:
    """A run's metric budget, (metrics, bytes of their JSON): ``$REEF_MAX_METRICS`` (a whole number, default 1,000)
    and ``$REEF_MAX_METRIC_BYTES`` (a size such as ``16M``, the default); ReefError naming the variable otherwise."""
    text = os.environ.get(MAX_METRICS_VARIABLE, "").strip()
    if text and not text.isdigit():
        raise ReefError(f"{MAX_METRICS_VARIABLE}: {text[:40]!r} is not a whole number of metrics")
    size = os.environ.get(MAX_METRIC_BYTES_VARIABLE, "").strip()
    return int(text) if text else MAX_METRICS, parse_size(size, MAX_METRIC_BYTES_VARIABLE) if size else MAX_METRIC_BYTES


def run_key(notebook_sha256: str, parameters: dict, environment: str) -> str:
    text = json.dumps([notebook_sha256, parameters, environment], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def target_store(target: StoreTarget) -> Store | None:
    """The store that ``target`` names (``reefnb.runs.spec.StoreTarget``): None when records are not stored."""
    if isinstance(target, Store):
        return target
    return default_store() if target is not False else None


def prepare(spec: RunSpec, known: dict | None = None) -> RunRequest:
    """Resolve a run (parameters cast, kernel chosen, notebook hashed) without executing it.

    Every user mistake surfaces here, before any kernel starts. ``known``: a dict that the runs of one sweep share,
    so that each notebook and kernel spec is read once for all of them.
    """
    return _prepare(spec, known)[0]


@dataclass(frozen=True)
class _Loaded:
    """What preparing a run read, kept for its execution so that nothing is read twice."""

    solution: Solution
    workflow: Workflow
    notebook: Any  # as read: _open_run labels a copy
    kernel_spec: dict


def _prepare(spec: RunSpec, known: dict | None = None) -> tuple[RunRequest, _Loaded]:
    if spec.solution is None:
        raise ReefError("a run needs a solution: a folder, its solution.json, or a notebook")
    known = {} if known is None else known
    solution = spec.solution if isinstance(spec.solution, Solution) else open_solution(spec.solution)
    workflow = solution.workflow(spec.workflow)
    notebook, declared, digest = _once(
        known, ("notebook", str(workflow.notebook)), lambda: _read_workflow_notebook(workflow.notebook)
    )
    defaults_origin = f"{solution.manifest_path}: /workflows/{workflow.name}/parameters"
    sources = [(defaults_origin, workflow.parameters)]
    if spec.parameter_file is not None:
        sources.append((str(spec.parameter_file), read_parameter_file(spec.parameter_file)))
    if spec.parameters:
        sources.append((None, spec.parameters))
    values = _json_safe(resolve_parameters(declared, *sources))
    timeout = spec.timeout if spec.timeout is not None else workflow.timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise ReefError(f"timeout must be a positive number of seconds, got {timeout!r}")
    metric_budget()  # a budget that cannot be read is said before any kernel starts
    kernel, environment = _once(
        known,
        ("kernel", str(workflow.notebook), spec.kernel, spec.environment),
        lambda: _choose_kernel(solution, spec.kernel, spec.environment, notebook),
    )
    kernel = kernel or named_kernel(workflow.notebook, notebook)
    kernel_spec = _once(known, ("kernel spec", kernel), lambda: _kernel_spec(kernel))
    request = RunRequest(
        spec=spec,
        source=str(Path(solution.manifest_path or workflow.notebook).resolve()),
        workflow=workflow.name,
        parameters=values,
        kernel=kernel,
        environment=environment,
        timeout=timeout,
        notebook_sha256=digest,
        telemetry=telemetry_options(solution.data.get("telemetry"), enabled=spec.telemetry),
        output_limit=cell_output_limit(spec.max_output),
    )
    return request, _Loaded(solution, workflow, notebook, kernel_spec)


def _read_workflow_notebook(path: Path) -> tuple[Any, dict, str]:
    notebook = read_notebook(path)
    return notebook, notebook_parameters(notebook), notebook_digest(notebook)


def _once(known: dict, key: tuple, read):
    if key not in known:
        known[key] = read()
    return known[key]


def run(
    solution: Solution | str | Path,
    workflow: str = "run",
    parameters: dict[str, Any] | None = None,
    *,
    store: StoreTarget = True,
    progress: bool = False,
    **options: Any,
) -> dict:
    """Execute a workflow's notebook and return its run record (whatever its status).

    Parameters come from the manifest's defaults, then ``parameter_file``, then ``parameters``
    (later wins), each cast to the type the notebook's parameters cell declares. The kernel is
    ``kernel``, else the kernel of environment ``environment``, else the environment ``reef init``
    made for the solution, else the notebook's own. The executed notebook is kept in
    ``<solution>/runs/<run_id>/``. Only KeyboardInterrupt escapes after a run started, and then
    its record (status ``interrupted``) has been stored first. The record's ``system`` says what
    the run's processes did (``reefnb.runs.telemetry``).

    Parameters
    ----------
    solution
        The solution, its folder, its ``solution.json`` or a notebook.
    workflow
        The workflow to run.
    parameters
        Parameter values, over the manifest's defaults and ``parameter_file``'s.
    store
        Where the record is written: True, the default store; a ``Store``; False, not stored.
    progress
        Show papermill's progress bar.
    **options
        The run's other options, each a field of ``reefnb.RunSpec`` (``reefnb.runs.spec``): ``parameter_file``,
        ``kernel``, ``environment``, ``timeout``, ``telemetry``, ``trace_files``, ``checkpoint``, ``max_output``...

    Returns
    -------
    dict
        The run record (``reefnb/schemas/run-record.schema.json``), whatever its status.

    Raises
    ------
    ManifestError
        When the solution's manifest is invalid.
    ParameterError
        When a parameter is unknown to the notebook or cannot be cast to its declared type.
    ReefError
        For any other mistake found before a kernel starts (no such workflow, kernel or
        environment; a timeout that is not a positive number).
    TypeError
        For a keyword that is no field of ``RunSpec``.
    """
    spec = RunSpec(solution=solution, workflow=workflow, parameters=parameters or {}, **options)
    return run_from_spec(spec, store=store, progress=progress)


def run_from_spec(spec: RunSpec, store: StoreTarget = True, progress: bool = False) -> dict:
    """Execute the run that ``spec`` asks for and return its record, as ``run`` does (which makes the spec from its
    keywords); ``store`` and ``progress`` as there."""
    request, loaded = _prepare(spec)
    return execute_run(request, store=store, progress=progress, loaded=loaded)


def resume(run_id: str, store: StoreTarget = True, progress: bool = False, timeout: float | None = None) -> dict:
    """Run a failed, timed-out, killed or interrupted run again from its last checkpoint.

    See ``reefnb.runs.checkpoints`` for what is replayed and when it falls back to a full rerun. The new
    record's ``resumed_from`` names the old run. The same notebook, parameters and kernel run again.

    Parameters
    ----------
    run_id
        The run to resume.
    store
        Where the old record is read and the new one written: True, the default store; a ``Store``;
        False, read from the default store and not stored.
    progress
        Show papermill's progress bar.
    timeout
        Seconds for the whole run (default: the workflow's ``timeout``).

    Returns
    -------
    dict
        The new run record.

    Raises
    ------
    ReefError
        When the store has no run ``run_id``, or that run ended ok.
    """
    source_store = target_store(store) or default_store()
    old = source_store.get(run_id)
    if old is None:
        raise ReefError(f"no run '{run_id}' in {source_store.path} (reef results lists the runs)")
    if old["status"] == "ok":
        raise ReefError(f"run {run_id} ended ok: there is nothing to resume")
    folder = Path(old["solution"]["path"])
    manifest = folder / "solution.json"
    recorded = old["environment"]
    spec = RunSpec(
        solution=manifest if manifest.is_file() else folder / old["notebook"]["path"],
        workflow=old["workflow"],
        parameters=old["parameters"],
        kernel=recorded["kernel"],
        environment=recorded.get("name") if recorded.get("name") != recorded["kernel"] else None,
        timeout=timeout,
        trace_files=False,
        checkpoint=True,
    )
    request, loaded = _prepare(spec)
    return execute_run(request, store=store, progress=progress, resume_of=old, loaded=loaded)


@dataclass(frozen=True)
class _Run:
    """One execution of a prepared run: what it runs and where its files go."""

    request: RunRequest
    solution: Solution
    workflow: Workflow
    kernel_spec: dict
    run_id: str
    folder: Path | None = None  # <solution>/runs/<run_id>; None for a run that never started
    output_path: Path | None = None  # the executed notebook


@dataclass
class _Outcome:
    """How an execution ended."""

    started: datetime
    ended: datetime
    duration_s: float = 0.0
    status: str = "ok"
    error: dict | None = None
    interrupted: bool = False
    system: dict | None = None  # what the run's processes did (reefnb.runs.telemetry)


def execute_run(
    request: RunRequest,
    store: StoreTarget = True,
    progress: bool = False,
    kernel_manager: Any = None,
    kernel_log: Path | None = None,
    resume_of: dict | None = None,
    loaded: _Loaded | None = None,
) -> dict:
    """Execute a prepared run and build its record.

    ``kernel_manager``: a kernel already started for this run (in the notebook's folder), so
    that a sweep can start the next kernel while the current run executes; it is shut down here.
    ``kernel_log`` is where that kernel's output went. Without one, the kernel is started here.
    When the run ends, whatever its kernel started is ended too (``reefnb.runs.processes``).
    ``resume_of``: the record of the run this one resumes (from its checkpoints). ``loaded``: what preparing the
    run read (its solution, notebook and kernel spec), not read again.
    """
    run, notebook = _open_run(request, loaded or load_run(request))
    session = RunSession(
        kernel_manager=kernel_manager,
        checkpoint=request.spec.checkpoint or resume_of is not None,
        output_budget=OutputBudget(request.output_limit),
        run_folder=run.folder.resolve(),
        trace_files=request.spec.trace_files,
        replay=None if resume_of is None else _replayable_cells(resume_of),
    )
    outcome = _execute_in_kernel(run, notebook, session, progress, kernel_log)
    if outcome.status == "ok":  # checkpoints serve only to resume a run that did not finish
        for path in session.written:
            Path(path).unlink(missing_ok=True)
    record = _run_record(run, session, outcome, resume_of)
    target = target_store(store)
    if target is not None:
        try:
            target.add(record)  # kept beside the store when it cannot be written
        except StoreError as problem:
            if not outcome.interrupted:
                raise
            log.warning("%s", problem)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return record


def load_run(request: RunRequest) -> _Loaded:
    """What a prepared run executes: its solution, its workflow's notebook and its kernel's spec, read."""
    solution = open_solution(request.source)
    workflow = solution.workflow(request.workflow)
    return _Loaded(solution, workflow, read_notebook(workflow.notebook), _kernel_spec(request.kernel))


def _open_run(request: RunRequest, loaded: _Loaded):
    """The run's folder made, and a copy of its notebook labelled with the kernel and the run."""
    solution, workflow, kernel_spec = loaded.solution, loaded.workflow, loaded.kernel_spec
    notebook = copy.copy(loaded.notebook)  # the notebook as read stays as it is (a sweep's worker runs it again)
    notebook["metadata"] = copy.copy(loaded.notebook["metadata"])
    run_id = new_run_id()
    folder = solution.path / "runs" / run_id
    try:
        folder.mkdir(parents=True)
    except OSError as error:
        raise EnvironmentFailure(f"{folder}: cannot create the run folder: {error.strerror or error}") from None
    notebook.metadata["kernelspec"] = {
        "name": kernel_spec["name"],
        "display_name": kernel_spec["display_name"],
        "language": kernel_spec["language"],
    }
    notebook.metadata["reef"] = {
        "run_id": run_id,
        "solution": f"{solution.name}@{solution.version}",
        "workflow": workflow.name,
    }
    return _Run(request, solution, workflow, kernel_spec, run_id, folder, folder / workflow.notebook.name), notebook


def _execute_in_kernel(run: _Run, notebook, session: RunSession, progress: bool, ahead_log: Path | None) -> _Outcome:
    """Execute the notebook (its kernel started unless one was given, sampled, then shut down) and say how it ended.

    ``ahead_log``: where a kernel started ahead of the run logged; appended to the run's kernel.log."""
    outcome = _Outcome(started=datetime.now(timezone.utc), ended=datetime.now(timezone.utc))
    started = time.monotonic()
    sampler = None
    with open(run.folder / "kernel.log", "ab") as kernel_log:
        session.kernel_log = kernel_log
        try:
            if session.kernel_manager is None:
                session.kernel_manager = start_kernel(
                    run.kernel_spec["name"], run.workflow.notebook.parent, run.folder / "kernel.log"
                )
            sampler = telemetry.start(kernel_pid(session.kernel_manager), run.request.telemetry)
            _execute(run, notebook, session, progress)
        except KeyboardInterrupt:
            outcome.status, outcome.interrupted = "interrupted", True
            outcome.error = {"name": "KeyboardInterrupt", "message": "interrupted by the user"}
        except Exception as exception:  # classified below; anything unknown is a failed run
            outcome.status, error = _classify(exception, session, run.request.timeout)
            outcome.error = _explained(error, notebook, _executed_notebook(run, session))
        finally:
            if sampler is not None:  # before the shutdown: the kernel's last sample
                outcome.system = sampler.stop(run.folder)
            if session.kernel_manager is not None:
                shutdown_kernel(session.kernel_manager)
                if ahead_log is not None and Path(ahead_log).exists():
                    kernel_log.write(Path(ahead_log).read_bytes())
                    Path(ahead_log).unlink()
    outcome.ended = datetime.now(timezone.utc)
    outcome.duration_s = time.monotonic() - started
    return outcome


def _run_record(run: _Run, session: RunSession, outcome: _Outcome, resume_of: dict | None) -> dict:
    """The record of an executed run: what every record has, its metrics, and what it read, attached or resumed."""
    metrics, attached, refused = {}, [], 0
    executed = _executed_notebook(run, session)
    if executed is not None:
        try:
            metrics, refused = within_budget(read_records(executed), metric_budget())
            attached, refused = read_attachments(executed), refused + read_refused(executed)
        except ReefError as problem:
            log.warning("%s", problem)
    metrics = with_declared_meaning(metrics, run.solution.metrics)  # the record keeps what its metrics mean
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else ""
    record = _record(run, outcome, metrics, session.fingerprint, command)
    if refused:  # record calls beyond the run's metric budget (REEF_MAX_METRICS, REEF_MAX_METRIC_BYTES)
        record["metrics_refused"] = refused
    if session.files_read is not None:
        record["files_read"] = _files_read(session.files_read, run.solution.path, session.fingerprint)
        record["files_read_sha256"] = _files_read_sha256(record["files_read"], run.solution.path.resolve())
    if attached:
        record.update(keep_attachments(attached, run.folder, run.solution.path))
    if resume_of is not None:
        record["resumed_from"] = {
            "run_id": resume_of["run_id"],
            "replayed_cells": session.replayed,
            "restored_after_cell": session.restored_from,
        }
    return record


def _record(run: _Run, outcome: _Outcome, metrics: dict, fingerprint: dict | None, command: str) -> dict:
    """The fields of every run record (reefnb/schemas/run-record), in their order."""
    solution = run.solution
    return {
        "record_version": RECORD_VERSION,
        "run_id": run.run_id,
        "run_key": run.request.key,
        "solution": {"name": solution.name, "version": solution.version, "path": str(solution.path.resolve())},
        "workflow": run.workflow.name,
        "notebook": {
            "path": _relative(run.workflow.notebook, solution.path),
            "sha256": run.request.notebook_sha256,
            "output_path": "" if run.output_path is None else str(run.output_path.resolve()),
        },
        "parameters": run.request.parameters,
        "metrics": metrics,
        "status": outcome.status,
        "error": outcome.error,
        "started": outcome.started.isoformat(timespec="milliseconds"),
        "ended": outcome.ended.isoformat(timespec="milliseconds"),
        "duration_s": round(outcome.duration_s, 3),
        "environment": _environment(run.kernel_spec, fingerprint, run.request.environment),
        **({"system": outcome.system} if outcome.system is not None else {}),
        "provenance": {"reefnb_version": __version__, "git": git_provenance(solution.path), "command": command},
    }


_SYSTEM_FOLDERS = (
    "/usr/",
    "/etc/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/run/",
    "/lib",
    "/bin/",
    "/sbin/",
    "/opt/",
    "/var/lib/",
    "/snap/",
)
_MODULE_SUFFIXES = {".py", ".pyc", ".so", ".pyd", ".pth"}
# Tools' own folders in the home folder (configuration and caches: ~/.mpl and ~/.cache/matplotlib hold
# matplotlib's font list).
_TOOL_FOLDERS = (
    ".ipython",
    ".cache",
    ".config",
    ".local",
    ".jupyter",
    ".matplotlib",
    ".mpl",
    ".keras",
    ".nv",
    ".reef",
    ".pyenv",
    ".conda",
)
# The same, wherever the environment puts them.
_TOOL_VARIABLES = (
    "MPLCONFIGDIR",
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
)
_INSTALLED_PARTS = {"site-packages", "dist-packages", "__pycache__", ".ipynb_checkpoints"}
_CACHE_FILE = re.compile(
    r"fontlist-v\d+\.json|fontList\.(json|cache)|.*\.pyc"
)  # matplotlib's font list, wherever it is kept
MAX_HASHED_BYTES = 256 * 1024 * 1024  # files_read_sha256 leaves out larger files


def _files_read(paths: list, folder: Path, fingerprint: dict | None) -> list[str]:
    """The data files a run read: relative to the solution folder inside it, absolute outside it, without the
    interpreter's, the system's and the tools' own files (installed code, configuration, caches: see
    ``cache_folders``), which are not inputs. A cache folder holding the solution folder (an imported package
    in ``~/.reef/solutions/``) still holds inputs inside the solution."""
    folder = folder.resolve()
    inside = os.path.join(folder, "")
    caches = cache_folders(fingerprint)
    caches_inside = tuple(cache for cache in caches if not inside.startswith(cache)) + (
        os.path.join(folder, "runs", ""),
    )
    found = set()
    for text in paths:
        if not isinstance(text, str) or "/reef-k-" in text:
            continue
        path = Path(text)
        if _INSTALLED_PARTS.intersection(path.parts) or _CACHE_FILE.fullmatch(path.name):
            continue
        if text.startswith(inside):
            if not text.startswith(caches_inside):
                found.add(path.relative_to(folder).as_posix())
        # Outside the solution an imported module is an installed one, and matplotlib-* is where matplotlib
        # keeps its cache when it cannot write its own folder (a temporary folder).
        elif (
            not text.startswith(caches)
            and path.suffix not in _MODULE_SUFFIXES
            and not any(part.startswith("matplotlib-") for part in path.parts[:-1])
        ):
            found.add(text)
    return sorted(found)


def cache_folders(fingerprint: dict | None = None) -> tuple[str, ...]:
    """Folders whose files are never a run's inputs, each ending in a separator: this interpreter's and the
    kernel's prefixes, the system's folders, and the tools' configuration and caches (in the home folder,
    or where ``MPLCONFIGDIR``, ``IPYTHONDIR``, ``JUPYTER_*_DIR`` and ``XDG_*_HOME`` say)."""
    home = Path.home()
    folders = {sys.prefix, sys.base_prefix, (fingerprint or {}).get("prefix") or sys.prefix}
    folders |= {str(home / name) for name in _TOOL_FOLDERS}
    folders |= {os.environ[name] for name in _TOOL_VARIABLES if os.environ.get(name)}
    resolved = set()
    for value in folders:
        for path in (os.path.abspath(value), os.path.realpath(value)):
            if path not in (os.sep, str(home)):
                resolved.add(os.path.join(path, ""))
    return tuple(sorted(resolved)) + _SYSTEM_FOLDERS


def _files_read_sha256(files_read: list[str], folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of the files read inside the solution folder (those over 256 MiB left out)."""
    digests = {}
    for name in files_read:
        if os.path.isabs(name):
            continue
        path = folder / name
        try:
            if path.is_file() and path.stat().st_size <= MAX_HASHED_BYTES:
                digests[name] = file_sha256(path)
        except OSError as error:
            log.warning("%s: read by the run, cannot be hashed: %s", path, error.strerror or error)
    return digests


def _executed_notebook(run: _Run, session: RunSession):
    """The executed notebook as papermill returned it and wrote it (kept in the session by the engine); read back
    from the run's output only where the engine never got it; None when there is none."""
    if session.executed is not None:
        return session.executed
    if run.output_path is None or not run.output_path.exists():
        return None
    try:
        return read_notebook(run.output_path)
    except ReefError as problem:
        log.warning("%s", problem)
        return None


def _explained(error: dict, notebook, executed) -> dict:
    """The error with the user's own cell index (papermill drops its old error banners first), and,
    when the exception has no message (a magic's UsageError), what the cell printed instead (``executed``: the
    executed notebook, None when there is none)."""
    index = error.get("cell_index")
    if isinstance(index, int):
        kept = [
            position
            for position, cell in enumerate(notebook.cells)
            if "papermill-error-cell-tag" not in cell.get("metadata", {}).get("tags", [])
        ]
        if 0 <= index < len(kept):
            error["cell_index"] = kept[index]
    if not error.get("message") and executed is not None:
        failed = [cell for cell in executed.cells if (cell.get("metadata", {}).get("papermill") or {}).get("exception")]
        for cell in failed[:1]:
            text = " ".join(
                str(output.get("text") or output.get("evalue") or "")
                for output in cell.get("outputs", [])
                if output.get("name") == "stderr" or output.get("output_type") == "error"
            )
            if text.strip():
                error["message"] = _one_line(text)
                if error.get("name") == "CellExecutionError" and text.strip().split(":", 1)[0].isidentifier():
                    error["name"] = text.strip().split(":", 1)[0]
    if not error.get("message"):
        error["message"] = f"{error.get('name') or 'an error'} without a message"
    return error


def _replayable_cells(old: dict) -> dict[int, dict]:
    """The failed run's executed cells by index (as this run will number them), up to its failure."""
    path = Path(old["notebook"]["output_path"] or "")
    if not path.is_file():
        return {}
    try:
        notebook = read_notebook(path)
    except ReefError:
        return {}
    cells = [cell for cell in notebook.cells if "papermill-error-cell-tag" not in cell.metadata.get("tags", [])]
    failing = (old.get("error") or {}).get("cell_index")
    replay, user_index = {}, -1
    for index, cell in enumerate(cells):
        if not ADDED_CELL_TAGS & set(cell.metadata.get("tags", [])):
            user_index += 1
        failed = failing is None or user_index >= failing
        replay[index] = {
            "source": cell.source,
            "outputs": cell.get("outputs", []),
            "execution_count": cell.get("execution_count"),
            "failed": failed,
        }
    return replay


def failure_record(request: RunRequest, status: str, error: BaseException) -> dict:
    """The record of a run that never produced one itself (its worker died, or it could not start)."""
    solution = open_solution(request.source)
    run = _Run(request, solution, solution.workflow(request.workflow), _kernel_spec(request.kernel), new_run_id())
    now = datetime.now(timezone.utc)
    outcome = _Outcome(
        started=now,
        ended=now,
        status=status,
        error={"name": type(error).__name__, "message": _one_line(error), "cell_index": None},
    )
    return _record(run, outcome, {}, None, command="")


def start_kernel(kernel: str, cwd: str | Path, log_path: Path):
    """Start a kernel for a run, its output going to ``log_path``.

    On POSIX the kernel talks over unix sockets (ZMQ ``ipc``) in a private temporary folder:
    parallel runs then cannot race for the same TCP port, a known failure of parallel papermill
    runs, and the traffic never leaves the machine.
    """
    budget = metric_budget()  # record() in the kernel reads it as whole numbers
    if os.name == "posix":
        folder = tempfile.mkdtemp(prefix="reef-k-")  # short: unix socket paths are limited to ~100 bytes
        manager = AsyncKernelManager(kernel_name=kernel, transport="ipc", ip=os.path.join(folder, "k"))
    else:
        manager = AsyncKernelManager(kernel_name=kernel)  # nbclient's loop polls it while a cell runs
    token, environment = processes.kernel_environment()
    environment.update(zip((MAX_METRICS_VARIABLE, MAX_METRIC_BYTES_VARIABLE), map(str, budget), strict=True))
    try:
        with open(log_path, "ab") as log_file:
            run_sync(manager.start_kernel)(cwd=str(cwd), stdout=log_file, stderr=log_file, env=environment)
    except BaseException:
        _remove_socket_folder(manager)  # no kernel, so no shutdown_kernel to remove it
        raise
    finally:
        processes.track(token, kernel_pid(manager))
    return manager


def kernel_alive(manager) -> bool:
    return bool(run_sync(manager.is_alive)())


def shutdown_kernel(manager) -> None:
    """Shut a run's kernel down and end whatever it started."""
    left = processes.tracked(kernel_pid(manager))
    if left is not None:
        left.note()  # its descendants, before they are orphaned by the shutdown
    try:
        if manager.has_kernel:
            _kill_and_wait(manager)
            run_sync(manager.shutdown_kernel)(now=True)  # finds it gone at once, and cleans up
    except Exception as error:  # the kernel may be gone already; nothing more to do
        log.debug("kernel shutdown: %s", error)
    if left is not None:
        left.end()  # whatever the kernel started, wherever it went
    _remove_socket_folder(manager)


def _kill_and_wait(manager) -> None:
    """Kill the kernel's process group and wait for the kernel to end. The run is over (every cell's reply and
    output is in), so nothing is left to flush: jupyter_client's own kill polls the process every 0.1 s and so
    waited 0.1 s after every run; waiting on the process returns as soon as it has ended."""
    process = getattr(manager.provisioner, "process", None)
    if process is None or process.poll() is not None:
        return
    run_sync(manager.provisioner.kill)()  # SIGKILL to the kernel's process group, as shutdown_kernel(now=True) sends
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # shutdown_kernel waits its own 5 s and says so
        pass


def _remove_socket_folder(manager) -> None:
    if getattr(manager, "transport", "") == "ipc":
        folder = os.path.dirname(manager.ip)
        if os.path.basename(folder).startswith("reef-k-"):
            shutil.rmtree(folder, ignore_errors=True)


def _execute(run: _Run, notebook, session: RunSession, progress: bool) -> None:
    register_engine()
    timeout = run.request.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    papermill_log = logging.getLogger("papermill")

    def cell_timeout(cell) -> int | None:
        return None if deadline is None else max(1, math.ceil(deadline - time.monotonic()))

    papermill_log.addFilter(_without_parameter_alarm)
    try:
        papermill.execute_notebook(
            notebook,
            str(run.output_path),
            parameters=run.request.parameters,
            engine_name=ENGINE_NAME,
            kernel_name=run.kernel_spec["name"],
            progress_bar=progress,
            cwd=str(run.workflow.notebook.parent),
            timeout_func=cell_timeout,
            reef_session=session,
            **({"km": session.kernel_manager} if session.kernel_manager is not None else {}),
        )
    finally:
        papermill_log.removeFilter(_without_parameter_alarm)


def _without_parameter_alarm(record: logging.LogRecord) -> bool:
    """False for papermill's "Passed unknown parameter: NAME", which it logs for every typed (annotated) parameter
    it cannot read: a false alarm, since every parameter a run passes was checked against the notebook's parameters
    cell when the run was prepared (``resolve_parameters`` refuses a name the cell does not declare)."""
    return not record.getMessage().startswith("Passed unknown parameter: ")


def _classify(exception: BaseException, session: RunSession, timeout) -> tuple[str, dict]:
    if isinstance(exception, PapermillExecutionError):
        return "failed", {
            "name": exception.ename,
            "message": _one_line(exception.evalue),
            "cell_index": session.cell_index,
            "execution_count": exception.exec_count,
            "traceback": _ANSI.sub("", "\n".join(exception.traceback)),
        }
    if isinstance(exception, CellTimeoutError) and "IOPub" in str(
        exception
    ):  # papermill's iopub_timeout, not the run's limit
        return "failed", {
            "name": "OutputTimeout",
            "message": "the cell's output was still arriving seconds after the cell ended (too many outputs at once);"
            " what arrived is kept",
            "cell_index": session.cell_index,
        }
    if isinstance(exception, CellTimeoutError):
        limit = f"its {timeout:g} s limit" if isinstance(timeout, (int, float)) else "the time it was given"
        return "timeout", {
            "name": "Timeout",
            "message": f"the run did not finish within {limit}",
            "cell_index": session.cell_index,
        }
    if isinstance(exception, DeadKernelError):
        code = session.exit_code
        how = "" if code is None else (f" (killed by signal {-code})" if code < 0 else f" (exit code {code})")
        return "killed", {
            "name": "DeadKernelError",
            "message": f"the kernel died{how}",
            "cell_index": session.cell_index,
            "exit_code": code,
        }
    log.debug("run failed outside a cell", exc_info=exception)
    return "failed", {
        "name": type(exception).__name__,
        "message": _one_line(exception),
        "cell_index": session.cell_index,
    }


def _choose_kernel(
    solution: Solution, kernel: str | None, environment: str | None, notebook: Any = None
) -> tuple[str | None, str | None]:
    """The kernel to run in: given, or the named environment's, or the one ``reef init`` made when it is made here
    (``install.made_environment``; for a Python notebook: a notebook in another language keeps its own kernel, see
    ``kernels.named_kernel``). The command layer's ``run_place`` says the same rule to people."""
    if environment is not None:
        try:
            environment_kernel = get_environment(environment).kernel
        except EnvError:
            if environment in solution.data.get("environments", {}):
                where = solution.manifest_path.parent if solution.manifest_path else solution.path
                raise ReefError(
                    f"environment '{environment}' is declared but not made yet: "
                    f"run `reef init {where} --env {environment}`"
                ) from None
            raise
        if kernel is not None and kernel != environment_kernel:
            raise ReefError(
                f"--kernel {kernel} and --env {environment} disagree "
                f"(that environment's kernel is {environment_kernel})"
            )
        return environment_kernel, environment
    if (
        kernel is None
        and solution.manifest_path is not None
        and (notebook is None or is_python(notebook_language(notebook)))
    ):
        made = made_environment(solution)
        if made is not None:
            return made.kernel, made.name
    return kernel, None


def _kernel_spec(name: str) -> dict:
    manager = KernelSpecManager()
    if name == "python":  # jupyter_client's KernelManager (so papermill) takes it for the native kernel
        name = NATIVE_KERNEL_NAME
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        available = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise ReefError(f"kernel '{name}' not found (available kernels: {available})") from None
    environment = (spec.metadata or {}).get("reef", {}).get("environment")
    return {
        "name": name,
        "display_name": spec.display_name,
        "language": spec.language,
        "argv": list(spec.argv),
        "environment": environment,
    }


def _environment(kernel_spec: dict, fingerprint: dict | None, name: str | None) -> dict:
    host = host_fingerprint()
    fingerprint = fingerprint or {}
    return {
        "name": name or kernel_spec.get("environment") or kernel_spec["name"],
        "kernel": kernel_spec["name"],
        "hostname": host["hostname"],
        "os": host["os"],
        "cpu": host["cpu"],
        "memory_bytes": host["memory_bytes"],
        "python": {
            key: fingerprint[key] for key in ("version", "implementation", "executable", "prefix") if key in fingerprint
        }
        or None,
        "packages": dict(sorted(fingerprint.get("packages", {}).items(), key=lambda item: item[0].lower())),
    }


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


def _json_safe(values: dict) -> dict:
    return json.loads(json.dumps(values, default=str))


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 500 else text[:497] + "..."
