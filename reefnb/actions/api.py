"""A solution's actions for other code: ``reefnb.use(SOLUTION).NAME(**input)`` and ``reef serve``.

The manifest's ``api.actions`` names each action's entry (``MODULE:ATTR`` of the solution's own code) and the
JSON Schemas of its input and output. ``use`` loads the actions once (a model loads then, not per call) and
checks every input and output against those schemas. When the solution's environment is not this python, the
actions run in worker processes on that environment's python, spoken to with JSON lines
(``reefnb.actions.worker``); the caller sees the same object either way.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from reefnb.actions import worker as action_worker
from reefnb.common.exceptions import ActionFailed, ActionInputError, ReefError
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
        name: Action(name, spec["entry"], spec.get("description", ""), spec.get("input", {"type": "object"}), spec.get("output", {}))
        for name, spec in actions.items()
    }


def demo_page(solution: Solution) -> Path | None:
    """The HTML page the solution declares at ``/api/demo`` (inside its folder), or None."""
    name = solution.data.get("api", {}).get("demo")
    return resolve_inside(solution.path, name) if name else None


class InProcess:
    """Actions loaded into this python (the caller's environment is the solution's)."""

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
            except Exception as error:
                raise ActionFailed(action_worker.one_line(error)) from None

    def close(self) -> None:
        self.functions = {}


class Worker:
    """Actions loaded into a worker process on ``python``; restarted on the next call when it dies."""

    def __init__(self, python: str, folder: Path, entries: dict[str, str]):
        self.python, self.folder, self.entries = python, folder, entries
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.stderr = None
        with self.lock:
            self._start()

    def _start(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [self.python, "-u", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
            cwd=self.folder,
        )
        reply = self._exchange({"folder": str(self.folder), "entries": self.entries})
        if not reply.get("ready"):
            self._stop()
            raise ActionFailed(f"{self.folder}: worker on {self.python}: {reply.get('error')}")
        log.info("worker %d on %s loaded %s", self.process.pid, self.python, ", ".join(self.entries))

    def _exchange(self, message: dict) -> dict:
        try:
            self.process.stdin.write(json.dumps(message, separators=(",", ":")) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except OSError:
            line = ""
        if not line:
            code = self.process.wait()
            self._stop()
            raise ActionFailed(f"the worker on {self.python} exited (code {code}){self._last_words()}")
        return json.loads(line)

    def _last_words(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0, 2)
        self.stderr.seek(max(0, self.stderr.tell() - 2000))
        lines = [line for line in self.stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return f": {lines[-1].strip()}" if lines else ""

    def call(self, name: str, arguments: dict) -> Any:
        with self.lock:
            if self.process is None:
                self._start()
            reply = self._exchange({"action": name, "input": arguments})
        if "error" in reply:
            raise ActionFailed(reply["error"])
        return reply["output"]

    def _stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                process.wait(timeout=10)  # the closed stdin ends its loop
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None

    def close(self) -> None:
        with self.lock:
            self._stop()


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
            When the action raises (its one line), its worker dies, its output breaks the output
            schema, or the actions are closed.
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


def use(source: str | Path | Solution, env: str | None = None, workers: int = 1, trust: bool = False) -> Actions:
    """The actions of a solution, loaded once, as attributes: ``use("solutions/x").detect(image=...)``.

    Other than this python, or with ``workers`` > 1, the actions run in that many worker processes.
    A solution from elsewhere (a package, a registry, an import under ``$REEF_HOME/solutions``) is code
    not trusted: refused unless ``trust``.

    Parameters
    ----------
    source
        A solution folder or manifest (also a ``.reef.zip`` package or ``NAME@RANGE`` from a registry,
        imported as ``reef init`` does).
    env
        Where the actions run: a reef environment's name, a python interpreter's path, or ``"native"``
        (this python); by default the environment ``reef init`` made for the solution (its lock), else
        this python.
    workers
        How many worker processes share the calls (1 to 64).
    trust
        Run the actions of a solution from elsewhere.

    Returns
    -------
    Actions
        Each declared action as an attribute; close it (or use it in a ``with`` block) to stop the workers.

    Raises
    ------
    ReefError
        When ``workers`` is not a whole number from 1 to 64, the solution declares no actions, or it is
        from elsewhere and ``trust`` is not given.
    ManifestError
        When the solution's manifest (or its ``api`` section) is invalid.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ReefError(f"--workers must be a whole number from 1 to 64, got {workers!r}")
    solution = _trusted_solution(source, trust)
    actions = declared_actions(solution)
    entries = {name: action.entry for name, action in actions.items()}
    python = _python_for(solution, env)
    folder = solution.path.resolve()
    runners: list = []
    try:
        if python is None and workers == 1:
            runners.append(InProcess(folder, entries))
        else:
            for _ in range(workers):
                runners.append(Worker(python or sys.executable, folder, entries))
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
                raise ReefError(f"{source}: its actions are code from elsewhere: read it, then pass --trust to run them")

            source = open_init_source(source)[0]
        solution = load_solution(source)
    if not trust:
        refuse_untrusted(solution, "actions")  # a folder made from a package, or a link to one (the one trust rule)
    return solution


def _python_for(solution: Solution, env: str | None) -> str | None:
    """The python to run the actions on, None for this one."""
    if env == "native":
        return None
    if env is None:
        locked = read_lock(solution) or {}
        python = (locked.get("python") or {}).get("executable") if (locked.get("environment") or {}).get("kind") != "native" else None
        if not python or not Path(python).is_file():
            return None
    elif Path(env).is_file():
        python = env
    else:
        python = get_environment(env).python
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
