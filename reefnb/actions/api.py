"""A solution's actions for other code: ``reefnb.use(SOLUTION).NAME(**input)`` and ``reef serve``.

The manifest's ``api.actions`` names each action's entry (``MODULE:ATTR`` of the solution's own code) and the
JSON Schemas of its input and output. ``use`` loads the actions once (a model loads then, not per call) and
checks every input and output against those schemas. When the solution's environment is not this python (or
with several workers, or a timeout), the actions run in worker processes on that environment's python, spoken
to with checked frames on pipes of their own (``reefnb.actions.worker``); the caller sees the same object
either way.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import queue
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from reefnb.actions import worker as action_worker
from reefnb.common.exceptions import ActionFailed, ActionInputError, ActionTimeout, ReefError, WorkerProtocolError
from reefnb.common.json_input import json_pointer, schema_validator
from reefnb.provision.envs import get_environment
from reefnb.provision.initialised import refuse_untrusted
from reefnb.provision.install import read_lock
from reefnb.sharing.package import is_package
from reefnb.sharing.registry import is_spec
from reefnb.sharing.sources import open_init_source
from reefnb.solution.confinement import resolve_inside
from reefnb.solution.manifest import Solution, load_solution

log = logging.getLogger(__name__)

WORKER_SCRIPT = Path(action_worker.__file__)
LOAD_TIMEOUT_S = 600.0  # with a call timeout, loading the actions may take at least this long


@dataclass(frozen=True)
class Action:
    """One declared action: its name, entry and schemas."""

    name: str
    entry: str
    description: str = ""
    input: dict = field(default_factory=lambda: {"type": "object"})
    output: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "input": self.input, "output": self.output}

    @cached_property
    def input_validator(self):
        return schema_validator(self.input)  # NaN and infinities are no number, and no bound lets them through

    @cached_property
    def output_validator(self):
        return schema_validator(self.output)


def declared_actions(solution: Solution) -> dict[str, Action]:
    """The actions of a validated solution; ReefError naming the manifest when it declares none."""
    actions = solution.data.get("api", {}).get("actions", {})
    if not actions:
        raise ReefError(f"{solution.manifest_path or solution.path}: /api/actions: this solution declares no actions")
    return {
        name: Action(
            name,
            spec["entry"],
            spec.get("description", ""),
            spec.get("input", {"type": "object"}),
            spec.get("output", {}),
        )
        for name, spec in actions.items()
    }


def demo_page(solution: Solution) -> Path | None:
    """The HTML page the solution declares at ``/api/demo`` (inside its folder), or None."""
    name = solution.data.get("api", {}).get("demo")
    return resolve_inside(solution.path, name) if name else None


class InProcess:
    """Actions loaded into this python (the caller's environment is the solution's).

    A call here cannot be stopped, so it has no timeout (``use(timeout=...)`` runs the actions in a worker
    process instead). ``SystemExit`` from an action is its failure, not the caller's exit; so is
    ``KeyboardInterrupt`` raised in a thread other than the main one (in the main thread it may be Ctrl-C).
    """

    python = sys.executable

    def __init__(self, folder: Path, entries: dict[str, str]):
        try:
            self.functions = action_worker.load_entries(folder, entries)
        except action_worker.LoadError as error:
            raise ActionFailed(f"{folder}: {error}") from None
        self.lock = threading.Lock()  # models (TFLite interpreters) are not safe to call from two threads

    def call(self, name: str, arguments: dict) -> Any:
        with self.lock:
            try:
                return json.loads(action_worker.call(self.functions[name], arguments))
            except KeyboardInterrupt as error:
                if threading.current_thread() is threading.main_thread():
                    raise
                raise ActionFailed(action_worker.one_line(error)) from None
            except (Exception, SystemExit) as error:
                raise ActionFailed(action_worker.one_line(error)) from None

    def close(self) -> None:
        self.functions = {}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


_REPLIES = json.JSONDecoder(parse_constant=_no_constant)  # made once: a decoder per call costs more than the call
_REQUESTS = json.JSONEncoder(separators=(",", ":"))


class Worker:
    """Actions loaded into a worker process on ``python``; replaced when it dies, breaks the protocol or takes
    longer than ``timeout`` seconds for a call (``None``: no limit). See ``reefnb.actions.worker``."""

    def __init__(self, python: str, folder: Path, entries: dict[str, str], timeout: float | None = None):
        self.python, self.folder, self.entries, self.timeout = python, folder, entries, timeout
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.requests = self.replies = -1
        self.unread = b""
        self.nonce, self.sequence = secrets.token_hex(8), itertools.count()  # request ids never repeat
        self.stderr = None
        self.closed = False
        with self.lock:
            self._start()

    @property
    def load_timeout(self) -> float | None:
        """Loading (a model) may take longer than a call: at least LOAD_TIMEOUT_S."""
        return None if self.timeout is None else max(self.timeout, LOAD_TIMEOUT_S)

    def _start(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        requests_read, self.requests = os.pipe()
        self.replies, replies_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [self.python, "-u", str(WORKER_SCRIPT), str(requests_read), str(replies_write)],
                stdin=subprocess.DEVNULL,
                stdout=self.stderr,
                stderr=self.stderr,
                pass_fds=(requests_read, replies_write),
                cwd=self.folder,
                start_new_session=True,  # its own process group: a timeout stops what the action started too
            )
        except OSError as error:
            self._stop()
            raise ActionFailed(f"{self.folder}: cannot start a worker on {self.python}: {error.strerror}") from None
        finally:
            os.close(requests_read)
            os.close(replies_write)
        os.set_blocking(self.requests, False)
        self.writable, self.readable, self.unread = select.poll(), select.poll(), b""
        self.writable.register(self.requests, select.POLLOUT)
        self.readable.register(self.replies, select.POLLIN)
        try:
            reply = self._exchange(
                {"folder": str(self.folder), "entries": self.entries}, ("ready", "error"), self.load_timeout
            )
        except TimeoutError:
            self._stop(kill=True)
            raise ActionFailed(
                f"{self.folder}: the worker on {self.python} took longer than {self.load_timeout:g} s to load "
                "the actions"
            ) from None
        except WorkerProtocolError as error:
            self._stop(kill=True)
            raise ActionFailed(
                f"{self.folder}: the worker on {self.python} sent a broken reply while loading ({error})"
            ) from None
        except BaseException:  # Ctrl-C while it loads: no worker left behind
            self._stop(kill=True)
            raise
        if reply.get("ready") is not True:
            self._stop()
            raise ActionFailed(f"{self.folder}: worker on {self.python}: {reply.get('error')}")
        log.info("worker %d on %s loaded %s", self.process.pid, self.python, ", ".join(self.entries))

    def _exchange(self, message: dict, answers: tuple[str, ...], timeout: float | None) -> dict:
        """Send one request; its reply, checked. Raises TimeoutError, WorkerProtocolError (what was wrong), or
        ActionFailed when the worker exits (it is stopped then)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        request_id = f"{self.nonce}-{next(self.sequence)}"
        request = action_worker.frame(_REQUESTS.encode({"id": request_id, **message}).encode("utf-8"))
        try:
            self._send(request, deadline)
            payload = action_worker.read_frame(lambda size: self._receive(size, deadline))
        except (BrokenPipeError, ConnectionResetError):
            payload = None
        except ValueError as error:  # not a frame
            raise WorkerProtocolError(str(error)) from None
        if payload is None:
            code = self.process.wait()
            words = self._last_words()
            self._stop()
            raise ActionFailed(f"the worker on {self.python} exited (code {code}){words}")
        try:
            reply = _REPLIES.decode(payload.decode("utf-8"))
        except ValueError:
            raise WorkerProtocolError("a frame that is not JSON") from None
        if not isinstance(reply, dict):
            raise WorkerProtocolError(f"a JSON {type(reply).__name__}, not an object")
        if reply.get("id") != request_id:
            raise WorkerProtocolError("the answer to another request")
        given = [key for key in answers if key in reply]
        if len(given) != 1 or ("error" in given and not isinstance(reply["error"], str)):
            raise WorkerProtocolError(f"not one of {', '.join(answers)}")
        return reply

    def _send(self, data: bytes, deadline: float | None) -> None:
        view = memoryview(data)
        while view:
            self._wait(self.writable, deadline)
            try:
                view = view[os.write(self.requests, view) :]
            except BlockingIOError:
                continue

    def _receive(self, size: int, deadline: float | None) -> bytes:
        """At most ``size`` bytes of the reply channel (b"" at its end); what one read gets beyond is kept."""
        if not self.unread:
            self._wait(self.readable, deadline)
            self.unread = os.read(self.replies, max(size, 1 << 16))
        chunk, self.unread = self.unread[:size], self.unread[size:]
        return chunk

    @staticmethod
    def _wait(poller, deadline: float | None) -> None:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if poller.poll(None if left is None else 1000 * min(left, 3600)):  # poll takes at most INT_MAX ms
                return
            if left is not None and time.monotonic() >= deadline:
                raise TimeoutError

    def _pending(self) -> bool:
        """Bytes (or the end) waiting on the reply channel while no request is out: the worker is out of step."""
        return bool(self.unread or self.readable.poll(0))

    def _last_words(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0, 2)
        self.stderr.seek(max(0, self.stderr.tell() - 2000))
        lines = [line for line in self.stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return f": {lines[-1].strip()}" if lines else ""

    def call(self, name: str, arguments: dict) -> Any:
        with self.lock:
            if self.process is not None and self._pending():
                code = self.process.poll()
                why = "wrote outside a reply" if code is None else f"exited (code {code})"
                log.warning("worker %d on %s %s: replaced", self.process.pid, self.python, why)
                self._stop(kill=True)
            if self.process is None:
                if self.closed:
                    raise ActionFailed("the actions are closed")
                self._start()
            try:
                reply = self._exchange({"action": name, "input": arguments}, ("output", "error"), self.timeout)
            except TimeoutError:
                self._replace()
                raise ActionTimeout(
                    f"action '{name}' took longer than {self.timeout:g} s (--action-timeout): its worker was "
                    "stopped and a new one started"
                ) from None
            except WorkerProtocolError as error:
                self._replace()
                raise WorkerProtocolError(
                    f"the worker on {self.python} sent a broken reply ({error}): it was stopped and a new one started"
                ) from None
            except BaseException:  # its exit (ActionFailed), or Ctrl-C in the caller while the action runs
                self._replace()
                raise
        if "error" in reply:
            raise ActionFailed(reply["error"])
        return reply["output"]

    def _replace(self) -> None:
        """Stop the worker now and start a new one in the background
        (loading takes time; the caller answers at once)."""
        self._stop(kill=True)

        def start() -> None:
            with self.lock:
                if self.process is None and not self.closed:
                    try:
                        self._start()
                    except ActionFailed as error:
                        log.warning("%s", error)  # the next call tries again and reports it

        threading.Thread(target=start, name="reef-worker-start", daemon=True).start()

    def _stop(self, kill: bool = False) -> None:
        process, self.process = self.process, None
        for fd in (self.requests, self.replies):
            if fd >= 0:
                os.close(fd)  # the closed request channel ends the worker's loop
        self.requests = self.replies = -1
        self.unread = b""
        if process is not None:
            if not kill:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    kill = True
            if kill and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # the worker and what its action started
                except (ProcessLookupError, PermissionError):
                    process.kill()
            process.wait()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None

    def close(self) -> None:
        self.closed = True
        if not self.lock.acquire(blocking=False):  # a call is in flight: its worker goes now, the call fails at once
            process = self.process
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.lock.acquire()
        try:
            self._stop()
        finally:
            self.lock.release()


class Actions:
    """What ``reefnb.use`` returns: each declared action is an attribute, called with keyword arguments.

    ``call(name, input)`` is the same with the input as a dict (what ``reef serve`` uses). Calls may come
    from several threads: each takes a free runner (``workers`` of them). ``close()`` (or leaving a
    ``with`` block) stops the worker processes.

    Parameters
    ----------
    solution
        The solution whose actions these are.
    runners
        Where the actions run: this process, or worker processes; each call takes a free one.
    actions
        The solution's declared actions, by name.
    """

    def __init__(self, solution: Solution, runners: list, actions: dict[str, Action]):
        self.solution, self.actions = solution, actions
        self._runners = runners
        self._idle: queue.Queue = queue.Queue()
        for runner in runners:
            self._idle.put(runner)

    @property
    def names(self) -> list[str]:
        """The names of the declared actions, in the manifest's order."""
        return list(self.actions)

    @property
    def python(self) -> str:
        """The interpreter the actions run on."""
        return self._runners[0].python if self._runners else sys.executable

    @property
    def workers(self) -> int:
        """How many runners the calls share (worker processes, or this process)."""
        return len(self._runners)

    def describe(self) -> list[dict]:
        """Name, description and schemas of each action (``GET /v1/actions``).

        Returns
        -------
        list of dict
            One entry per action, in the manifest's order.
        """
        return [action.as_dict() for action in self.actions.values()]

    def call(self, name: str, arguments: Any) -> Any:
        """Check ``arguments`` against the action's input schema, call it, check its output.

        Parameters
        ----------
        name
            The action's name.
        arguments
            Its input, as its input schema describes it (a dict of keyword arguments).

        Returns
        -------
        Any
            The action's output, checked against its output schema.

        Raises
        ------
        ActionInputError
            For an unknown action or an input the schema refuses.
        ActionFailed
            When the action raises (its one line, ``SystemExit`` included), its worker dies or breaks the
            protocol (it is replaced), its output breaks the output schema, or the actions are closed.
        ActionTimeout
            When the call took longer than the timeout (its worker is killed and replaced).
        """
        action = self.actions.get(name)
        if action is None:
            raise ActionInputError(f"no action '{name}' (this solution has: {', '.join(self.actions)})")
        problem = _first_problem(action.input_validator, arguments)
        if problem:
            raise ActionInputError(f"action '{name}': input {problem}")
        if not self._runners:
            raise ActionFailed(f"{self.solution.name}: the actions are closed")
        runner = self._idle.get()
        try:
            output = runner.call(name, arguments)
        finally:
            self._idle.put(runner)
        problem = _first_problem(action.output_validator, output)
        if problem:
            raise ActionFailed(f"action '{name}': output {problem}")
        return output

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self.__dict__.get("actions", {}):
            known = ", ".join(self.__dict__.get("actions", {}))
            raise AttributeError(f"{name!r}: no such action (this solution has: {known})")

        def action(**arguments):
            return self.call(name, arguments)

        action.__name__ = name
        action.__doc__ = self.actions[name].description
        return action

    def __dir__(self):
        return [*super().__dir__(), *self.actions]

    def close(self) -> None:
        """Stop the worker processes; a call after this fails (``ActionFailed``)."""
        runners, self._runners = self._runners, []
        for runner in runners:
            runner.close()

    def __enter__(self) -> Actions:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        if self.__dict__.get("_runners"):
            self.close()

    def __repr__(self) -> str:
        return f"<actions of {self.solution.name}: {', '.join(self.actions)} on {self.python} x{self.workers}>"


def use(
    source: str | Path | Solution,
    environment: str | None = None,
    workers: int = 1,
    trust: bool = False,
    timeout: float | None = None,
) -> Actions:
    """The actions of a solution, loaded once, as attributes: ``use("solutions/x").detect(image=...)``.

    Other than this python, with ``workers`` > 1, or with a ``timeout``, the actions run in that many worker
    processes; otherwise in this process (where a call cannot be stopped, so it has no timeout).
    A solution from elsewhere (a package, a registry, an import under ``$REEF_HOME/solutions``) is code
    not trusted: refused unless ``trust``.

    Parameters
    ----------
    source
        A solution folder or manifest (also a ``.reef.zip`` package or ``NAME@RANGE`` from a registry,
        imported as ``reef init`` does).
    environment
        Where the actions run: a reef environment's name, a python interpreter's path, or ``"native"``
        (this python); by default the environment ``reef init`` made for the solution (its lock), else
        this python.
    workers
        How many worker processes share the calls (1 to 64).
    trust
        Run the actions of a solution from elsewhere.
    timeout
        Seconds a call may take (``None``: no limit); after it the call raises ``ActionTimeout`` and its
        worker process (with what the action started) is killed and replaced. Loading the actions may take
        at least ``LOAD_TIMEOUT_S`` (600 s).

    Returns
    -------
    Actions
        Each declared action as an attribute; close it (or use it in a ``with`` block) to stop the workers.

    Raises
    ------
    ReefError
        When ``workers`` is not a whole number from 1 to 64, ``timeout`` is not a positive number of
        seconds, the solution declares no actions, or it is from elsewhere and ``trust`` is not given.
    ManifestError
        When the solution's manifest (or its ``api`` section) is invalid.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ReefError(f"--workers must be a whole number from 1 to 64, got {workers!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0
    ):
        raise ReefError(f"--action-timeout must be a positive number of seconds, got {timeout!r}")
    solution = _trusted_solution(source, trust)
    actions = declared_actions(solution)
    entries = {name: action.entry for name, action in actions.items()}
    python = _python_for(solution, environment)
    folder = solution.path.resolve()
    runners: list = []
    try:
        if python is None and workers == 1 and timeout is None:
            runners.append(InProcess(folder, entries))
        else:
            for _ in range(workers):
                runners.append(Worker(python or sys.executable, folder, entries, timeout))
    except BaseException:
        for runner in runners:
            runner.close()
        raise
    return Actions(solution, runners, actions)


def _trusted_solution(source: str | Path | Solution, trust: bool) -> Solution:
    if isinstance(source, Solution):
        solution = source
    else:
        if (is_package(source) or is_spec(str(source))) and not Path(source).is_dir():
            if not trust:
                raise ReefError(
                    f"{source}: its actions are code from elsewhere: read it, then pass --trust to run them"
                )

            source = open_init_source(source)[0]
        solution = load_solution(source)
    if not trust:
        refuse_untrusted(solution, "actions")  # a folder made from a package, or a link to one (the one trust rule)
    return solution


def _python_for(solution: Solution, environment: str | None) -> str | None:
    """The python to run the actions on, None for this one."""
    if environment == "native":
        return None
    if environment is None:
        locked = read_lock(solution) or {}
        python = (
            (locked.get("python") or {}).get("executable")
            if (locked.get("environment") or {}).get("kind") != "native"
            else None
        )
        if not python or not Path(python).is_file():
            return None
    elif Path(environment).is_file():
        python = environment
    else:
        python = get_environment(environment).python
    return None if Path(python).absolute() == Path(sys.executable).absolute() else str(python)


def _first_problem(validator, value) -> str | None:
    import jsonschema

    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    pointer = json_pointer(list(error.absolute_path))
    message = " ".join(error.message.split())
    if len(message) > 200:  # a schema message quotes the value: a 20 MB image must not come back
        message = f"{error.validator} {json.dumps(error.validator_value)[:100]} not satisfied"
    return f"{pointer}: {message}"
