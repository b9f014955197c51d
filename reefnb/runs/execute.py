"""Executing a solution's workflow notebook with papermill and building its run record."""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import re
import secrets
import shlex
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.kernel.recording import ADDED_CELL_TAGS, RUN_FOLDER_VARIABLE, read_attachments, read_records
from reefnb.provision.detection import KERNEL_FINGERPRINT_EXPRESSION, host_fingerprint, parse_kernel_fingerprint
from reefnb.runs import processes, telemetry
from reefnb.runs.attachments import keep_attachments
from reefnb.runs.meaning import with_declared_meaning
from reefnb.runs.output_limit import OutputBudget, cell_output_limit, kernel_limit_code
from reefnb.runs.provenance import git_provenance
from reefnb.runs.telemetry import TelemetryOptions, telemetry_options
from reefnb.solution.manifest import Solution, open_solution
from reefnb.solution.notebook import notebook_digest, notebook_parameters, read_notebook
from reefnb.solution.params import read_parameter_file, resolve_parameters

log = logging.getLogger(__name__)

RECORD_VERSION = 1
ENGINE_NAME = "reef"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class _Session:
    """What the reef papermill engine learns during one execution."""

    kernel_manager: Any = None
    kernel_log: Any = None
    checkpoint: bool = False  # pickle the kernel's state after each cell (see reefnb.runs.checkpoints)
    replay: dict | None = None  # resume: executed-notebook cell index -> the failed run's cell
    key: str | None = None  # the key chain of cells so far
    written: list = field(default_factory=list)  # checkpoint files this run wrote
    replayed: int = 0  # cells not executed but restored
    restored_from: int | None = None  # the cell index whose checkpoint was loaded
    fingerprint: dict | None = None
    cell_index: int | None = None
    exit_code: int | None = None
    extra: dict = field(default_factory=dict)
    output_budget: OutputBudget = field(default_factory=lambda: OutputBudget(cell_output_limit()))
    files_read: list | None = None  # what the kernel opened for reading (an audit hook), Python kernels only
    trace_files: bool = False  # install that audit hook (RunRequest.trace_files)
    run_folder: Path | None = None  # told to a Python kernel (reefnb.run_folder()), where it writes what it attaches


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC time to the second plus 32 random bits."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunRequest:
    """A run with everything resolved: plain, picklable data that a worker process can execute."""

    source: str  # the solution folder, its manifest, or the notebook
    workflow: str
    parameters: dict
    kernel: str
    environment: str | None
    timeout: float | None
    notebook_sha256: str
    telemetry: TelemetryOptions = TelemetryOptions()  # what the run's processes did (reefnb.runs.telemetry); not part of the key
    trace_files: bool = False  # record the files the kernel reads (files_read): reef run does, sweeps do not; not part of the key

    @property
    def key(self) -> str:
        """What makes two runs the same run: notebook content, parameters and environment."""
        return run_key(self.notebook_sha256, self.parameters, self.environment or self.kernel)


def run_key(notebook_sha256: str, parameters: dict, environment: str) -> str:
    import hashlib
    import json

    text = json.dumps([notebook_sha256, parameters, environment], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prepare_run(
    solution: Solution | str | Path,
    workflow: str = "run",
    parameters: dict[str, Any] | None = None,
    parameter_file: str | Path | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    environment: str | None = None,
    telemetry: bool | None = None,
) -> RunRequest:
    """Resolve a run (parameters cast, kernel chosen, notebook hashed) without executing it.

    Every user mistake surfaces here, before any kernel starts. ``telemetry`` False turns the sampling of
    the run's processes off (else the manifest's ``telemetry`` setting decides; default on).
    """
    solution = solution if isinstance(solution, Solution) else open_solution(solution)
    chosen = solution.workflow(workflow)
    notebook = read_notebook(chosen.notebook)
    declared = notebook_parameters(notebook)
    defaults_origin = f"{solution.manifest_path}: /workflows/{chosen.name}/parameters"
    sources = [(defaults_origin, chosen.parameters)]
    if parameter_file is not None:
        sources.append((str(parameter_file), read_parameter_file(parameter_file)))
    if parameters:
        sources.append((None, parameters))
    values = _json_safe(resolve_parameters(declared, *sources))
    timeout = timeout if timeout is not None else chosen.timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise ReefError(f"timeout must be a positive number of seconds, got {timeout!r}")
    kernel, environment = _choose_kernel(solution, kernel, environment)
    kernel = kernel or notebook.metadata.get("kernelspec", {}).get("name") or "python3"
    _kernel_spec(kernel)
    source = solution.manifest_path or chosen.notebook
    return RunRequest(str(Path(source).resolve()), chosen.name, values, kernel, environment, timeout, notebook_digest(notebook),
                      telemetry_options(solution.data.get("telemetry"), enabled=telemetry))


def run(
    solution: Solution | str | Path,
    workflow: str = "run",
    parameters: dict[str, Any] | None = None,
    parameter_file: str | Path | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    environment: str | None = None,
    store: Any = True,
    progress: bool = False,
    checkpoint: bool = False,
    max_output: int | str | None = None,
    telemetry: bool | None = None,
    trace_files: bool = True,
) -> dict:
    """Execute a workflow's notebook and return its run record (whatever its status).

    Parameters come from the manifest's defaults, then ``parameter_file``, then ``parameters``
    (later wins), each cast to the type the notebook's parameters cell declares. The kernel is
    ``kernel``, else the kernel of environment ``environment``, else the environment ``reef init``
    made for the solution, else the notebook's own. The executed notebook is kept in
    ``<solution>/runs/<run_id>/``. The record is written to ``store`` (True: the default store;
    a Store; False: not stored). Only KeyboardInterrupt escapes after a run started, and then
    its record (status ``interrupted``) has been stored first. Each cell keeps at most
    ``max_output`` of output (bytes or a size such as ``10M``; see ``reefnb.runs.output_limit``). The record's
    ``system`` says what the run's processes did (``reefnb.runs.telemetry``; ``telemetry=False``: not sampled).
    ``trace_files``: a Python kernel records the files it opens for reading (an audit hook; the record's
    ``files_read``, which ``reef export`` packs and ``reef reproduce`` checks). Sweeps leave it off.
    """
    request = prepare_run(solution, workflow, parameters, parameter_file, kernel, timeout, environment, telemetry)
    request = replace(request, trace_files=trace_files)
    limit = cell_output_limit(max_output)
    return execute_run(request, store=store, progress=progress, checkpoint=checkpoint, max_output=limit)


def resume(run_id: str, store: Any = True, progress: bool = False, timeout: float | None = None) -> dict:
    """Run a failed, timed-out, killed or interrupted run again from its last checkpoint.

    See ``reefnb.runs.checkpoints`` for what is replayed and when it falls back to a full rerun. The new
    record's ``resumed_from`` names the old run.
    """
    from reefnb.runs.store import Store, default_store

    source_store = store if isinstance(store, Store) else default_store()
    old = source_store.get(run_id)
    if old is None:
        raise ReefError(f"no run '{run_id}' in {source_store.path} (reef results lists the runs)")
    if old["status"] == "ok":
        raise ReefError(f"run {run_id} ended ok: there is nothing to resume")
    folder = Path(old["solution"]["path"])
    manifest = folder / "solution.json"
    source = manifest if manifest.is_file() else folder / old["notebook"]["path"]
    request = prepare_run(source, old["workflow"], old["parameters"], kernel=old["environment"]["kernel"],
                          timeout=timeout, environment=old["environment"].get("name")
                          if old["environment"].get("name") != old["environment"]["kernel"] else None)
    return execute_run(request, store=store, progress=progress, checkpoint=True, resume_of=old)


def execute_run(request: RunRequest, store: Any = True, progress: bool = False, kernel_manager: Any = None,
                kernel_log: Path | None = None, checkpoint: bool = False, resume_of: dict | None = None,
                max_output: int | str | None = None) -> dict:
    """Execute a prepared run and build its record.

    ``kernel_manager``: a kernel already started for this run (in the notebook's folder), so
    that a sweep can start the next kernel while the current run executes; it is shut down here.
    ``kernel_log`` is where that kernel's output went. Without one, the kernel is started here.
    When the run ends, whatever its kernel started is ended too (``reefnb.runs.processes``).
    """
    budget = OutputBudget(cell_output_limit(max_output))
    solution = open_solution(request.source)
    chosen = solution.workflow(request.workflow)
    notebook = read_notebook(chosen.notebook)
    kernel_spec = _kernel_spec(request.kernel)
    values = request.parameters
    timeout = request.timeout
    environment = request.environment

    run_id = new_run_id()
    run_folder = solution.path / "runs" / run_id
    output_path = run_folder / chosen.notebook.name
    try:
        run_folder.mkdir(parents=True)
    except OSError as error:
        raise ReefError(f"{run_folder}: cannot create the run folder: {error.strerror or error}") from None
    notebook.metadata["kernelspec"] = {
        "name": kernel_spec["name"],
        "display_name": kernel_spec["display_name"],
        "language": kernel_spec["language"],
    }
    notebook.metadata["reef"] = {"run_id": run_id, "solution": f"{solution.name}@{solution.version}", "workflow": chosen.name}

    started_wall = datetime.now(timezone.utc)
    started = time.monotonic()
    status, error = "ok", None
    interrupted = False
    session = _Session(kernel_manager=kernel_manager, checkpoint=checkpoint or resume_of is not None, output_budget=budget,
                       run_folder=run_folder.resolve(), trace_files=request.trace_files)
    if resume_of is not None:
        session.replay = _replayable_cells(resume_of)
    sampler, system = None, None
    with ExitStack() as stack:
        session.kernel_log = stack.enter_context(open(run_folder / "kernel.log", "ab"))
        try:
            if session.kernel_manager is None:
                session.kernel_manager = start_kernel(kernel_spec["name"], chosen.notebook.parent, run_folder / "kernel.log")
            sampler = telemetry.start(_kernel_pid(session.kernel_manager), request.telemetry)
            _execute(notebook, output_path, values, kernel_spec["name"], chosen.notebook.parent, timeout, session, progress)
        except KeyboardInterrupt:
            status, error, interrupted = "interrupted", {"name": "KeyboardInterrupt", "message": "interrupted by the user"}, True
        except Exception as exception:  # classified below; anything unknown is a failed run
            status, error = _classify(exception, session, timeout)
            error = _explained(error, notebook, output_path)
        finally:
            if sampler is not None:  # before the shutdown: the kernel's last sample
                system = sampler.stop(run_folder)
            if session.kernel_manager is not None:
                _shutdown(session.kernel_manager)
                if kernel_log is not None and Path(kernel_log).exists():
                    session.kernel_log.write(Path(kernel_log).read_bytes())
                    Path(kernel_log).unlink()
    ended_wall = datetime.now(timezone.utc)
    duration = time.monotonic() - started

    if status == "ok":  # checkpoints serve only to resume a run that did not finish
        for path in session.written:
            Path(path).unlink(missing_ok=True)

    metrics, attached = {}, []
    if output_path.exists():
        try:
            executed = read_notebook(output_path)
            metrics, attached = read_records(executed), read_attachments(executed)
        except ReefError as problem:
            log.warning("%s", problem)
    metrics = with_declared_meaning(metrics, solution.metrics)  # the record keeps what its metrics mean
    record = {
        "record_version": RECORD_VERSION,
        "run_id": run_id,
        "run_key": request.key,
        "solution": {"name": solution.name, "version": solution.version, "path": str(solution.path.resolve())},
        "workflow": chosen.name,
        "notebook": {
            "path": _relative(chosen.notebook, solution.path),
            "sha256": request.notebook_sha256,
            "output_path": str(output_path.resolve()),
        },
        "parameters": values,
        "metrics": metrics,
        "status": status,
        "error": error,
        "started": started_wall.isoformat(timespec="milliseconds"),
        "ended": ended_wall.isoformat(timespec="milliseconds"),
        "duration_s": round(duration, 3),
        "environment": _environment(kernel_spec, session.fingerprint, environment),
        **({"system": system} if system is not None else {}),
        "provenance": {
            "reefnb_version": _reefnb_version(),
            "git": git_provenance(solution.path),
            "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "",
        },
    }
    if session.files_read is not None:
        record["files_read"] = _files_read(session.files_read, solution.path, session.fingerprint)
    if attached:
        record.update(keep_attachments(attached, run_folder, solution.path))
    if resume_of is not None:
        record["resumed_from"] = {"run_id": resume_of["run_id"], "replayed_cells": session.replayed,
                                  "restored_after_cell": session.restored_from}
    if store is not False:
        from reefnb.runs.store import Store, default_store

        (store if isinstance(store, Store) else default_store()).add(record)
    if interrupted:
        raise KeyboardInterrupt
    return record


# Run in the kernel before the first cell: remember each file opened for reading (``sys.addaudithook``).
FILE_AUDIT_CODE = """
def __reef_audit():
    import os, sys
    seen, writing = set(), os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def hook(event, args):
        if event != "open" or len(seen) > 20000 or not args or isinstance(args[0], int) or args[0] is None:
            return
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (mode is None and isinstance(flags, int) and flags & writing):
            return
        try:
            seen.add(os.path.abspath(os.fsdecode(args[0])))
        except Exception:
            pass
    sys._reef_files_read = seen
    sys.addaudithook(hook)
__reef_audit()
del __reef_audit
"""
# As one JSON string: IPython's text/plain of a list stops at 1,000 items ("...").
FILE_AUDIT_EXPRESSION = ("__import__('json').dumps(sorted(p for p in getattr(__import__('sys'), '_reef_files_read', ()) "
                         "if __import__('os').path.isfile(p)))")
_SYSTEM_FOLDERS = ("/usr/", "/etc/", "/proc/", "/sys/", "/dev/", "/lib", "/bin/", "/sbin/", "/opt/", "/var/lib/", "/snap/")
_MODULE_SUFFIXES = {".py", ".pyc", ".so", ".pyd", ".pth"}
_TOOL_FOLDERS = (".ipython", ".cache", ".config", ".local", ".jupyter", ".matplotlib", ".keras", ".reef", ".pyenv", ".conda")


def _files_read(paths: list, folder: Path, fingerprint: dict | None) -> list[str]:
    """The data files a run read: relative to the solution folder inside it, absolute outside it,
    without the interpreter's, the system's and the tools' own files."""
    folder = folder.resolve()
    prefixes = [str(Path(value).resolve()) + os.sep for value in {sys.prefix, sys.base_prefix, (fingerprint or {}).get("prefix") or sys.prefix}]
    home = Path.home()
    skipped = tuple(prefixes) + _SYSTEM_FOLDERS + tuple(f"{home / name}{os.sep}" for name in _TOOL_FOLDERS) + (f"{folder / 'runs'}{os.sep}",)
    found = set()
    for text in paths:
        if not isinstance(text, str) or text.startswith(skipped) or "/reef-k-" in text or "/site-packages/" in text:
            continue
        path = Path(text)
        try:
            found.add(path.relative_to(folder).as_posix())
        except ValueError:
            if path.suffix not in _MODULE_SUFFIXES:  # outside the solution, an imported module is an installed one
                found.add(text)
    return sorted(found)


def _explained(error: dict, notebook, output_path: Path) -> dict:
    """The error with the user's own cell index (papermill drops its old error banners first), and,
    when the exception has no message (a magic's UsageError), what the cell printed instead."""
    index = error.get("cell_index")
    if isinstance(index, int):
        kept = [position for position, cell in enumerate(notebook.cells)
                if "papermill-error-cell-tag" not in cell.get("metadata", {}).get("tags", [])]
        if 0 <= index < len(kept):
            error["cell_index"] = kept[index]
    if not error.get("message") and output_path.exists():
        try:
            executed = read_notebook(output_path)
        except ReefError:
            return error
        failed = [cell for cell in executed.cells if (cell.get("metadata", {}).get("papermill") or {}).get("exception")]
        for cell in failed[:1]:
            text = " ".join(str(output.get("text") or output.get("evalue") or "") for output in cell.get("outputs", [])
                            if output.get("name") == "stderr" or output.get("output_type") == "error")
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
        replay[index] = {"source": cell.source, "outputs": cell.get("outputs", []),
                         "execution_count": cell.get("execution_count"), "failed": failed}
    return replay


def failure_record(request: RunRequest, status: str, error: BaseException) -> dict:
    """The record of a run that never produced one itself (its worker died, or it could not start)."""
    solution = open_solution(request.source)
    chosen = solution.workflow(request.workflow)
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return {
        "record_version": RECORD_VERSION,
        "run_id": new_run_id(),
        "run_key": request.key,
        "solution": {"name": solution.name, "version": solution.version, "path": str(solution.path.resolve())},
        "workflow": chosen.name,
        "notebook": {"path": _relative(chosen.notebook, solution.path), "sha256": request.notebook_sha256, "output_path": ""},
        "parameters": request.parameters,
        "metrics": {},
        "status": status,
        "error": {"name": type(error).__name__, "message": _one_line(error), "cell_index": None},
        "started": now,
        "ended": now,
        "duration_s": 0.0,
        "environment": _environment(_kernel_spec(request.kernel), None, request.environment),
        "provenance": {"reefnb_version": _reefnb_version(), "git": git_provenance(solution.path), "command": ""},
    }


def start_kernel(kernel: str, cwd: str | Path, log_path: Path):
    """Start a kernel for a run, its output going to ``log_path``.

    On POSIX the kernel talks over unix sockets (ZMQ ``ipc``) in a private temporary folder:
    parallel runs then cannot race for the same TCP port, a known failure of parallel papermill
    runs, and the traffic never leaves the machine.
    """
    from jupyter_client.manager import AsyncKernelManager as KernelManager  # nbclient's loop polls it while a cell runs
    from jupyter_core.utils import run_sync

    if os.name == "posix":
        folder = tempfile.mkdtemp(prefix="reef-k-")  # short: unix socket paths are limited to ~100 bytes
        manager = KernelManager(kernel_name=kernel, transport="ipc", ip=os.path.join(folder, "k"))
    else:
        manager = KernelManager(kernel_name=kernel)
    token, environment = processes.kernel_environment()
    try:
        with open(log_path, "ab") as log_file:
            run_sync(manager.start_kernel)(cwd=str(cwd), stdout=log_file, stderr=log_file, env=environment)
    except BaseException:
        _remove_socket_folder(manager)  # no kernel, so no _shutdown to remove it
        raise
    finally:
        processes.track(token, _kernel_pid(manager))
    return manager


def _kernel_pid(manager) -> int | None:
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


def kernel_alive(manager) -> bool:
    from jupyter_core.utils import run_sync

    return bool(run_sync(manager.is_alive)())


def _shutdown(manager) -> None:
    from jupyter_core.utils import run_sync

    left = processes.tracked(_kernel_pid(manager))
    if left is not None:
        left.note()  # its descendants, before they are orphaned by the shutdown
    try:
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=True)
    except Exception as error:  # the kernel may be gone already; nothing more to do
        log.debug("kernel shutdown: %s", error)
    if left is not None:
        left.end()  # whatever the kernel started, wherever it went
    _remove_socket_folder(manager)


def _remove_socket_folder(manager) -> None:
    if getattr(manager, "transport", "") == "ipc":
        import shutil

        folder = os.path.dirname(manager.ip)
        if os.path.basename(folder).startswith("reef-k-"):
            shutil.rmtree(folder, ignore_errors=True)


def _execute(notebook, output_path: Path, values: dict, kernel_name: str, cwd: Path, timeout, session: _Session, progress: bool) -> None:
    import papermill

    _register_engine()
    deadline = None if timeout is None else time.monotonic() + timeout
    papermill_log = logging.getLogger("papermill")
    unknown_parameters = _UnknownParameters(notebook_parameters(notebook))

    def cell_timeout(cell) -> int | None:
        return None if deadline is None else max(1, math.ceil(deadline - time.monotonic()))

    papermill_log.addFilter(unknown_parameters)
    try:
        papermill.execute_notebook(
            notebook,
            str(output_path),
            parameters=values,
            engine_name=ENGINE_NAME,
            kernel_name=kernel_name,
            progress_bar=progress,
            cwd=str(cwd),
            timeout_func=cell_timeout,
            reef_session=session,
            **({"km": session.kernel_manager} if session.kernel_manager is not None else {}),
        )
    finally:
        papermill_log.removeFilter(unknown_parameters)


class _UnknownParameters(logging.Filter):
    """papermill's "Passed unknown parameter: NAME", which it logs for every typed (annotated) parameter it cannot read.

    A parameter of the notebook's parameters cell as reef reads it was checked against its type before the run:
    papermill's warning about it is a false alarm and is dropped. Any other name is said once, in reef's words.
    """

    PREFIX = "Passed unknown parameter: "

    def __init__(self, declared) -> None:
        super().__init__()
        self.declared, self.said = set(declared), set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self.PREFIX):
            return True
        name = message[len(self.PREFIX):]
        if name not in self.declared and name not in self.said:
            self.said.add(name)
            log.warning("parameter '%s' is not in the notebook's parameters cell: it is injected unchecked", name)
        return False


def _classify(exception: BaseException, session: _Session, timeout) -> tuple[str, dict]:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exception, PapermillExecutionError):
        return "failed", {
            "name": exception.ename,
            "message": _one_line(exception.evalue),
            "cell_index": session.cell_index,
            "execution_count": exception.exec_count,
            "traceback": _ANSI.sub("", "\n".join(exception.traceback)),
        }
    if isinstance(exception, CellTimeoutError):
        return "timeout", {
            "name": "Timeout",
            "message": f"the run did not finish within its {timeout:g} s limit",
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
    return "failed", {"name": type(exception).__name__, "message": _one_line(exception), "cell_index": session.cell_index}


def _choose_kernel(solution: Solution, kernel: str | None, environment: str | None) -> tuple[str | None, str | None]:
    """The kernel to run in: given, or the named environment's, or the one ``reef init`` made."""
    from reefnb.provision.envs import EnvError, get_environment

    if environment is not None:
        try:
            chosen = get_environment(environment).kernel
        except EnvError:
            if environment in solution.data.get("environments", {}):
                where = solution.manifest_path.parent if solution.manifest_path else solution.path
                raise ReefError(f"environment '{environment}' is declared but not made yet: run `reef init {where} --env {environment}`") from None
            raise
        if kernel is not None and kernel != chosen:
            raise ReefError(f"--kernel {kernel} and --env {environment} disagree (that environment's kernel is {chosen})")
        return chosen, environment
    if kernel is None and solution.manifest_path is not None:
        from reefnb.provision.install import read_lock

        locked = (read_lock(solution) or {}).get("environment") or {}
        if locked.get("kernel"):
            return locked["kernel"], locked.get("name")
    return kernel, None


def _kernel_spec(name: str) -> dict:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    if name == "python":  # jupyter_client's KernelManager (so papermill) takes it for the native kernel
        from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

        name = NATIVE_KERNEL_NAME
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        available = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise ReefError(f"kernel '{name}' not found (available kernels: {available})") from None
    environment = (spec.metadata or {}).get("reef", {}).get("environment")
    return {"name": name, "display_name": spec.display_name, "language": spec.language, "argv": list(spec.argv),
            "environment": environment}


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
        "python": {key: fingerprint[key] for key in ("version", "implementation", "executable", "prefix") if key in fingerprint} or None,
        "packages": dict(sorted(fingerprint.get("packages", {}).items(), key=lambda item: item[0].lower())),
    }


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


def _json_safe(values: dict) -> dict:
    import json

    return json.loads(json.dumps(values, default=str))


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 500 else text[:497] + "..."


def _reefnb_version() -> str:
    from reefnb import __version__

    return __version__


_registered = False


def _register_engine() -> None:
    """Register the reef papermill engine: fingerprint the live kernel, log its stderr, track cells."""
    global _registered
    if _registered:
        return
    from nbclient.exceptions import DeadKernelError
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class ReefNotebookClient(PapermillNotebookClient):
        def __init__(self, nb_man, reef_session: _Session, **kwargs):
            super().__init__(nb_man, **kwargs)
            self.reef_session = reef_session
            self.on_cell_executed = self._note_processes

        def output(self, outs, msg, display_id, cell_index):
            budget = self.reef_session.output_budget
            keep = budget.admit(outs, msg, cell_index, self.clear_before_next_output)
            out = super().output(outs, msg, display_id, cell_index) if keep else None
            budget.mark(outs)
            return out

        def _note_processes(self, **_) -> None:
            kernel = processes.tracked(_kernel_pid(self.km))
            if kernel is not None:
                kernel.note()

        def execute(self, **kwargs):
            self.reset_execution_trackers()
            session = self.reef_session
            try:
                with self.setup_kernel(stdout=session.kernel_log, stderr=session.kernel_log, **kwargs):
                    self._fingerprint_kernel()
                    self._limit_kernel_output()
                    self._tell_run_folder()
                    self._start_file_audit()
                    if session.checkpoint or session.replay is not None:
                        from reefnb.runs.checkpoints import KERNEL_HELPERS, environment_lock

                        self._silent(KERNEL_HELPERS)
                        session.key = environment_lock(self.kernel_name, session.fingerprint)
                        if session.replay is not None:
                            self._plan_replay()
                    try:
                        self.papermill_execute_cells()
                        self._collect_files_read()
                    except DeadKernelError:
                        session.exit_code = self._kernel_exit_code()
                        raise
                    info = self.wait_for_reply(self.kc.kernel_info())
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                    self.set_widgets_metadata()
            finally:
                if not self.owns_km and self.kc is not None:  # a kernel started for us: its owner shuts it down
                    self.kc.stop_channels()
            return self.nb

        def execute_cell(self, cell, cell_index, *args, **kwargs):
            # Count in the user's notebook: the cells papermill added are not theirs.
            session = self.reef_session
            added = sum(bool(ADDED_CELL_TAGS & set(c.metadata.get("tags", []))) for c in self.nb.cells[:cell_index])
            session.cell_index = cell_index - added
            if session.key is None or cell.cell_type != "code":
                return super().execute_cell(cell, cell_index, *args, **kwargs)
            from reefnb.runs.checkpoints import checkpoint_path, next_key

            session.key = next_key(session.key, cell.source)
            if session.restored_from is not None and cell_index <= session.restored_from:
                old = session.replay[cell_index]  # restored, not executed: the failed run's outputs stand
                cell.outputs = old.get("outputs", [])
                cell.execution_count = old.get("execution_count")
                session.replayed += 1
                session.written.append(checkpoint_path(session.key))
                if cell_index == session.restored_from:
                    self._silent(f"__reef_load({str(checkpoint_path(session.key))!r})")
                return cell
            result = super().execute_cell(cell, cell_index, *args, **kwargs)
            if session.checkpoint:
                path = checkpoint_path(session.key)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._silent(f"__reef_dump({str(path)!r})")
                session.written.append(path)
            return result

        def _plan_replay(self) -> None:
            """The last cell before the failure with a complete checkpoint under this run's keys."""
            from reefnb.runs.checkpoints import checkpoint_complete, next_key

            session = self.reef_session
            key = session.key
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                key = next_key(key, cell.source)
                old = session.replay.get(index)
                if old is None or old.get("source") != cell.source or old.get("failed"):
                    break
                if checkpoint_complete(key):
                    session.restored_from = index

        def _silent(self, code: str) -> None:
            reply = self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False))
            content = (reply or {}).get("content", {})
            if content.get("status") != "ok":
                raise RuntimeError(f"reef checkpoint code failed in the kernel: {content.get('ename')}: {content.get('evalue')}")

        def _start_file_audit(self) -> None:
            if not self.reef_session.trace_files:
                return
            if (self.nb.metadata.get("kernelspec") or {}).get("language", "python").lower() == "python":
                self._silent(FILE_AUDIT_CODE)
                self.reef_session.files_read = []

        def _collect_files_read(self) -> None:
            if self.reef_session.files_read is None:
                return
            message_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"reef": FILE_AUDIT_EXPRESSION})
            answer = ((self.wait_for_reply(message_id) or {}).get("content", {}).get("user_expressions", {}).get("reef", {}))
            try:
                self.reef_session.files_read = list(json.loads(ast.literal_eval(answer.get("data", {}).get("text/plain", "'[]'"))))
            except (ValueError, SyntaxError, TypeError):
                log.warning("the kernel could not report the files it read: %s", answer.get("evalue", answer))

        def _tell_run_folder(self) -> None:
            if self.reef_session.fingerprint is not None and self.reef_session.run_folder is not None:
                self._silent(f"__import__('os').environ[{RUN_FOLDER_VARIABLE!r}] = {str(self.reef_session.run_folder)!r}")

        def _limit_kernel_output(self) -> None:
            """An IPython kernel drops a cell's output beyond the limit itself (see reefnb.runs.output_limit)."""
            if self.reef_session.fingerprint is None:  # not a Python kernel: the client's budget alone bounds it
                return
            code = kernel_limit_code(self.reef_session.output_budget.limit)
            reply = self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False))
            content = (reply or {}).get("content", {})
            if content.get("status") != "ok":
                log.warning("the kernel could not limit its output: %s: %s", content.get("ename"), content.get("evalue"))

        def _fingerprint_kernel(self) -> None:
            message_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"reef": KERNEL_FINGERPRINT_EXPRESSION})
            reply = self.wait_for_reply(message_id)
            answer = (reply or {}).get("content", {}).get("user_expressions", {}).get("reef", {})
            if answer.get("status") == "ok":
                self.reef_session.fingerprint = parse_kernel_fingerprint(answer.get("data", {}).get("text/plain"))
            else:
                log.warning("the kernel could not report its environment: %s", answer.get("evalue", answer))

        def _kernel_exit_code(self) -> int | None:
            process = getattr(getattr(self.km, "provisioner", None), "process", None)
            if process is None:
                return None
            try:
                return process.wait(timeout=2)
            except Exception:  # still running or already reaped: no code to report
                return process.poll()

    class ReefEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                     start_timeout=60, execution_timeout=None, reef_session=None, **kwargs):
            kwargs.pop("input_path", None)
            kwargs.pop("timeout", None)
            kwargs.pop("startup_timeout", None)
            client = ReefNotebookClient(
                nb_man,
                reef_session=reef_session or _Session(),
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **kwargs,
            )
            return client.execute()

    papermill_engines.register(ENGINE_NAME, ReefEngine)
    _registered = True


def parameters_for_display(record: dict) -> str:
    """``name=value`` pairs of a record's parameters, for one-line summaries."""
    return " ".join(f"{key}={value!r}" for key, value in record.get("parameters", {}).items())

