"""The papermill engine reef executes notebooks with.

papermill finds it through the ``papermill.engine`` entry point (``reef``, see pyproject.toml), as it
finds any engine. :class:`ReefEngine` builds a :class:`ReefNotebookClient`, papermill's nbclient client
with nbclient's hooks set:

- ``on_notebook_start`` (the kernel is up, no cell ran yet): fingerprint the kernel's environment,
  limit each cell's output in the kernel (``reefnb.runs.output_limit``), tell the kernel its run folder,
  start the audit of the files it reads, define the checkpoint helpers and plan a resume
  (``reefnb.runs.checkpoints``);
- ``on_cell_start``: the failing cell's index in the user's notebook, the checkpoint key chain;
- ``on_cell_executed``: note the kernel's processes (``reefnb.runs.processes``), checkpoint the kernel's state.

What one execution learns (the fingerprint, the failing cell, the checkpoints written ...) goes into the
:class:`RunSession` the caller passes as ``reef_session``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillException

from reefnb.common.files import write_text_atomically
from reefnb.common.paths import reef_home
from reefnb.kernel.recording import ADDED_CELL_TAGS, RUN_FOLDER_VARIABLE
from reefnb.provision.detection import KERNEL_FINGERPRINT_EXPRESSION, parse_kernel_fingerprint
from reefnb.runs import processes
from reefnb.runs.checkpoints import KERNEL_HELPERS, checkpoint_complete, checkpoint_path, environment_lock, next_key
from reefnb.runs.output_limit import OutputBudget, cell_output_limit, kernel_limit_code

log = logging.getLogger(__name__)

ENGINE_NAME = "reef"  # the name of the papermill.engine entry point

# Run in the kernel before the first cell: remember each file opened for reading (``sys.addaudithook``).
# ``sys._reef_files_read_report()`` gives them back as one JSON list, without the kernel's own caches and
# installed code, which only the kernel knows where they are: its prefixes and site folders, matplotlib's
# cache and config folders (its font list), IPython's and Jupyter's folders, ``__pycache__``.
FILE_AUDIT_CODE = """
def __reef_audit():
    import os, sys
    seen, writing = set(), os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def hook(event, args):
        if event != "open" or len(seen) > 20000 or not args or isinstance(args[0], int) or args[0] is None:
            return
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            return
        if mode is None and isinstance(flags, int) and flags & writing:
            return
        try:
            seen.add(os.path.abspath(os.fsdecode(args[0])))
        except Exception:
            pass

    def folders():
        found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
        variables = ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")
        found += [os.environ.get(name) for name in variables]
        calls = [("site", "getsitepackages"), ("site", "getusersitepackages"), ("matplotlib", "get_cachedir"),
                 ("matplotlib", "get_configdir"), ("IPython.paths", "get_ipython_dir"),
                 ("jupyter_core.paths", "jupyter_config_dir"), ("jupyter_core.paths", "jupyter_data_dir"),
                 ("jupyter_core.paths", "jupyter_runtime_dir")]
        for module, name in calls:
            try:
                found += [getattr(sys.modules[module], name)()]
            except Exception:
                pass
        cwd, result = os.path.join(os.getcwd(), ""), set()
        for folder in found:
            for text in ([folder] if isinstance(folder, str) else folder or []):
                for path in {os.path.abspath(text), os.path.realpath(text)}:
                    path = os.path.join(path, "")
                    if path != os.sep and not cwd.startswith(path):  # never the folder the notebook runs in
                        result.add(path)
        return tuple(result)

    def report():
        import json
        skipped = folders()
        kept = (p for p in seen if not p.startswith(skipped) and "__pycache__" not in p.split(os.sep))
        kept = (p for p in kept if os.path.isfile(p))
        return json.dumps(sorted(kept))

    sys._reef_files_read = seen
    sys._reef_files_read_report = report
    sys.addaudithook(hook)
__reef_audit()
del __reef_audit
"""
# As one JSON string: IPython's text/plain of a list stops at 1,000 items ("...").
FILE_AUDIT_EXPRESSION = "getattr(__import__('sys'), '_reef_files_read_report', lambda: '[]')()"

# What a Python kernel's package list depends on, cheap to ask (a run used to spend 0.12-0.26 s of its time reading
# every distribution's metadata in a 300-package environment): the interpreter, and each folder of ``sys.path`` with
# its modification time (installing, upgrading or removing a distribution adds or removes a ``*.dist-info`` folder in
# it); the kernel's working folder, which a run's own files change, by the names of the distributions in it.
KERNEL_SIGNATURE_EXPRESSION = (
    "(lambda os, sys, platform, json: json.dumps({"
    "'version': platform.python_version(), 'implementation': platform.python_implementation(), "
    "'executable': sys.executable, 'prefix': sys.prefix, "
    "'paths': [[p, sorted(n for n in os.listdir(p) if n.endswith(('.dist-info', '.egg-info'))) if "
    "os.path.abspath(p) == os.getcwd() "
    "else os.stat(p).st_mtime_ns] for p in (entry or '.' for entry in sys.path) if os.path.isdir(p)]}))"
    "(__import__('os'), __import__('sys'), __import__('platform'), __import__('json'))"
)
KERNEL_PACKAGES_FOLDER = ("cache", "kernel-packages")  # under reef_home(): one JSON file per signature


@dataclass
class RunSession:
    """What the reef engine is told for one execution, and what it learns during it."""

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
    output_budget: OutputBudget = field(default_factory=lambda: OutputBudget(cell_output_limit()))
    files_read: list | None = None  # what the kernel opened for reading (an audit hook), Python kernels only
    trace_files: bool = False  # install that audit hook (RunSpec.trace_files)
    run_folder: Path | None = None  # told to a Python kernel (reefnb.run_folder()), where it writes what it attaches
    executed: Any = None  # the notebook being executed, as papermill writes it (the run's record is read from it)


def kernel_packages(signature: dict | None) -> dict | None:
    """The packages of the kernel whose environment has this signature (``KERNEL_SIGNATURE_EXPRESSION``), as an
    earlier run read them; None when no run read them yet, or the cache cannot be read."""
    if not isinstance(signature, dict):
        return None
    path = _packages_cache(signature)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    packages = data.get("packages") if isinstance(data, dict) else None
    return (
        packages if isinstance(packages, dict) and all(isinstance(value, str) for value in packages.values()) else None
    )


def remember_kernel_packages(signature: dict | None, packages: dict) -> None:
    """Keep what a kernel said of its packages for the next run whose kernel has the same signature."""
    if not isinstance(signature, dict):
        return
    try:
        write_text_atomically(_packages_cache(signature), json.dumps({"packages": packages}, separators=(",", ":")))
    except OSError as error:  # a read-only REEF_HOME: the next run asks the kernel again
        log.debug("cannot cache the kernel's packages: %s", error)


def _packages_cache(signature: dict) -> Path:
    digest = hashlib.sha256(json.dumps(signature, sort_keys=True).encode("utf-8")).hexdigest()
    return reef_home().joinpath(*KERNEL_PACKAGES_FOLDER, f"{digest}.json")


def kernel_pid(manager) -> int | None:
    """The process id of the kernel a kernel manager started (None when it started none)."""
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


class ReefNotebookClient(PapermillNotebookClient):
    """papermill's client with reef's hooks; ``reef_session`` receives what the execution learns."""

    def __init__(self, nb_man, reef_session: RunSession, **kwargs):
        super().__init__(nb_man, **kwargs)
        self.reef_session = reef_session
        self.on_notebook_start = self._prepare_kernel
        self.on_cell_start = self._cell_started
        self.on_cell_executed = self._cell_executed

    # --- hooks ---

    async def _prepare_kernel(self, **_) -> None:
        session = self.reef_session
        if not (self._python_kernel() and await self._prepare_python_kernel()):
            await self._prepare_step_by_step()
        if session.checkpoint or session.replay is not None:
            session.key = environment_lock(self.kernel_name, session.fingerprint)
            if session.replay is not None:
                self._plan_replay()

    async def _prepare_python_kernel(self) -> bool:
        """A Python kernel prepared in one round trip: its set-up code run and its environment's signature asked
        at once, the packages taken from the cache when the signature is known (``kernel_packages``); False when
        the kernel did not run it all (the step-by-step way then says which part failed)."""
        session = self.reef_session
        content = await self._run_silently("\n".join(self._setup_code()), reef=KERNEL_SIGNATURE_EXPRESSION)
        if content.get("status") != "ok":
            log.debug(
                "preparing the kernel in one step failed (%s: %s): step by step",
                content.get("ename"),
                content.get("evalue"),
            )
            return False
        answer = content.get("user_expressions", {}).get("reef", {})
        signature = (
            parse_kernel_fingerprint(answer.get("data", {}).get("text/plain")) if answer.get("status") == "ok" else None
        )
        packages = kernel_packages(
            signature
        )  # None without a signature (a sys.path folder it cannot read): asked below
        if packages is None:
            await self._fingerprint_kernel()
            if session.fingerprint is not None:
                remember_kernel_packages(signature, session.fingerprint.get("packages", {}))
        else:
            session.fingerprint = {
                key: signature[key] for key in ("version", "implementation", "executable", "prefix") if key in signature
            }
            session.fingerprint["packages"] = packages
        if session.trace_files:
            session.files_read = []
        return True

    async def _prepare_step_by_step(self) -> None:
        session = self.reef_session
        await self._fingerprint_kernel()
        if session.fingerprint is not None:  # a Python kernel
            await self._limit_kernel_output()
            if session.run_folder is not None:
                await self._run_required(self._run_folder_code())
        await self._start_file_audit()
        if session.checkpoint or session.replay is not None:
            await self._run_required(KERNEL_HELPERS)

    def _setup_code(self) -> list[str]:
        """What a Python kernel runs before the first cell: the output limit, its run folder, the audit of the
        files it reads, the checkpoint helpers (those the run asks for)."""
        session = self.reef_session
        code = [kernel_limit_code(session.output_budget.limit)]
        if session.run_folder is not None:
            code.append(self._run_folder_code())
        if session.checkpoint or session.replay is not None:
            code.append(KERNEL_HELPERS)
        if session.trace_files:  # last: a failure before it leaves no audit hook for the step-by-step way to add again
            code.append(FILE_AUDIT_CODE)
        return code

    def _run_folder_code(self) -> str:
        return f"__import__('os').environ[{RUN_FOLDER_VARIABLE!r}] = {str(self.reef_session.run_folder)!r}"

    def _python_kernel(self) -> bool:
        return (self.nb.metadata.get("kernelspec") or {}).get("language", "python").lower() == "python"

    def _cell_started(self, cell, cell_index: int, **_) -> None:
        session = self.reef_session
        # Count in the user's notebook: the cells papermill added are not theirs.
        added = sum(bool(ADDED_CELL_TAGS & set(c.metadata.get("tags", []))) for c in self.nb.cells[:cell_index])
        session.cell_index = cell_index - added
        if session.key is not None and cell.cell_type == "code":
            session.key = next_key(session.key, cell.source)

    async def _cell_executed(self, cell, execute_reply, **_) -> None:
        kernel = processes.tracked(kernel_pid(self.km))
        if kernel is not None:
            kernel.note()
        session = self.reef_session
        if session.checkpoint and session.key is not None and not self._raises(cell, execute_reply):
            path = checkpoint_path(session.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            await self._run_required(f"__reef_dump({str(path)!r})")
            session.written.append(path)

    # --- overrides, where no hook can do the job ---

    def output(self, outs, msg, display_id, cell_index):
        # Each output message is admitted or dropped as it arrives: no hook sees single outputs, and
        # on_cell_executed comes after the whole flood is in memory.
        budget = self.reef_session.output_budget
        keep = budget.admit(outs, msg, cell_index, self.clear_before_next_output)
        out = super().output(outs, msg, display_id, cell_index) if keep else None
        budget.mark(outs)
        return out

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        # A resumed run restores the cells up to its checkpoint instead of executing them: a hook can
        # observe a cell, never skip it. A restored cell still gets the on_cell_start hook.
        session = self.reef_session
        if session.restored_from is None or cell_index > session.restored_from or cell.cell_type != "code":
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        self._cell_started(cell, cell_index)
        old = session.replay[cell_index]  # restored, not executed: the failed run's outputs stand
        cell.outputs = old.get("outputs", [])
        cell.execution_count = old.get("execution_count")
        session.replayed += 1
        session.written.append(checkpoint_path(session.key))
        if cell_index == session.restored_from:
            await self._run_required(f"__reef_load({str(checkpoint_path(session.key))!r})")
        return cell

    execute_cell = run_sync(async_execute_cell)  # what papermill calls, bound to this class's coroutine

    def papermill_execute_cells(self):
        # Wrapped, not hooked: the files the kernel read are asked for after the last cell while the kernel
        # still runs (papermill's synchronous setup_kernel runs no on_notebook_complete hook, and that one
        # would come after the kernel's cleanup), and a DeadKernelError passes every hook by.
        try:
            super().papermill_execute_cells()
            self._collect_files_read()
        except DeadKernelError:
            self.reef_session.exit_code = self._kernel_exit_code()
            raise

    # --- helpers ---

    def _raises(self, cell, execute_reply) -> bool:
        """Whether nbclient will raise this cell's error (the cell did not allow it)."""
        content = (execute_reply or {}).get("content", {})
        if content.get("status") != "error":
            return False
        allowed = (
            self.allow_errors
            or content.get("ename") in self.allow_error_names
            or "raises-exception" in cell.metadata.get("tags", [])
        )
        return self.force_raise_errors or not allowed

    async def _run_silently(self, code: str, **expressions) -> dict:
        """Run code in the kernel without output or history; the reply's content."""
        message_id = await ensure_async(
            self.kc.execute(code, silent=True, store_history=False, user_expressions=expressions or None)
        )
        return ((await self.async_wait_for_reply(message_id)) or {}).get("content", {})

    async def _run_required(self, code: str) -> None:
        content = await self._run_silently(code)
        if content.get("status") != "ok":
            raise RuntimeError(
                f"reef checkpoint code failed in the kernel: {content.get('ename')}: {content.get('evalue')}"
            )

    async def _evaluate(self, expression: str) -> dict:
        """The kernel's answer to one user expression (``status`` and ``data`` or the error)."""
        return (await self._run_silently("", reef=expression)).get("user_expressions", {}).get("reef", {})

    async def _fingerprint_kernel(self) -> None:
        answer = await self._evaluate(KERNEL_FINGERPRINT_EXPRESSION)
        if answer.get("status") == "ok":
            self.reef_session.fingerprint = parse_kernel_fingerprint(answer.get("data", {}).get("text/plain"))
        else:
            log.warning("the kernel could not report its environment: %s", answer.get("evalue", answer))

    async def _limit_kernel_output(self) -> None:
        """An IPython kernel drops a cell's output beyond the limit itself (see reefnb.runs.output_limit);
        for other kernels the client's budget alone bounds it."""
        content = await self._run_silently(kernel_limit_code(self.reef_session.output_budget.limit))
        if content.get("status") != "ok":
            log.warning("the kernel could not limit its output: %s: %s", content.get("ename"), content.get("evalue"))

    async def _start_file_audit(self) -> None:
        if not self.reef_session.trace_files:
            return
        if self._python_kernel():
            await self._run_required(FILE_AUDIT_CODE)
            self.reef_session.files_read = []

    def _collect_files_read(self) -> None:
        if self.reef_session.files_read is None:
            return
        message_id = self.kc.execute(
            "", silent=True, store_history=False, user_expressions={"reef": FILE_AUDIT_EXPRESSION}
        )
        answer = (self.wait_for_reply(message_id) or {}).get("content", {}).get("user_expressions", {}).get("reef", {})
        try:
            self.reef_session.files_read = list(
                json.loads(ast.literal_eval(answer.get("data", {}).get("text/plain", "'[]'")))
            )
        except (ValueError, SyntaxError, TypeError):
            log.warning("the kernel could not report the files it read: %s", answer.get("evalue", answer))

    def _plan_replay(self) -> None:
        """The last cell before the failure with a complete checkpoint under this run's keys."""
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

    def _kernel_exit_code(self) -> int | None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is None:
            return None
        try:
            return process.wait(timeout=2)
        except Exception:  # still running or already reaped: no code to report
            return process.poll()


class ReefEngine(NBClientEngine):
    """papermill's nbclient engine, executing with a :class:`ReefNotebookClient`.

    Takes the engine keyword ``reef_session`` (a :class:`RunSession`) besides papermill's own.
    """

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        reef_session=None,
        **kwargs,
    ):
        for unused in ("input_path", "timeout", "startup_timeout"):  # as papermill's engine drops them
            kwargs.pop(unused, None)
        session = reef_session or RunSession()
        client = ReefNotebookClient(
            nb_man,
            reef_session=session,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logging.getLogger("papermill"),
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        session.executed = nb_man.nb  # executed in place: what papermill returns and writes, never read back
        try:
            # A kernel the client started logs where the run's kernel.log is.
            return client.execute(stdout=session.kernel_log, stderr=session.kernel_log)
        finally:
            if not client.owns_km and client.kc is not None:  # a kernel started for the run: its owner shuts it down
                client.kc.stop_channels()


def register_engine() -> None:
    """Make sure papermill knows the reef engine.

    Installed, reefnb's ``papermill.engine`` entry point registered it when papermill loaded; a source
    checkout on ``sys.path`` without an install has no entry points, so it is registered here.
    """
    try:
        papermill_engines.get_engine(ENGINE_NAME)
    except PapermillException:
        papermill_engines.register(ENGINE_NAME, ReefEngine)
