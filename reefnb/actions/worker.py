"""Load a solution's actions and call them: in this process, or as a worker on another environment's python.

This module needs nothing but the standard library, so ``reefnb.actions.api`` runs it by its path with the
python of a solution's environment, where reefnb may not be installed::

    python action_worker.py        (then JSON lines on stdin/stdout)

The protocol, one JSON object per line: the first request is ``{"folder": F, "entries": {NAME: "MODULE:ATTR"}}``,
answered ``{"ready": true}`` or ``{"error": LINE}``; each later request ``{"action": NAME, "input": {...}}`` is
answered ``{"output": ...}`` or ``{"error": "ExceptionType: message"}``. The worker's own stdout (prints of the
solution's code, native libraries) goes to its stderr, so nothing but protocol lines reaches the caller.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from pathlib import Path


class LoadError(Exception):
    """An entry cannot be loaded: the message is one line naming the action."""


def load_entries(folder: str | Path, entries: dict[str, str]) -> dict:
    """Import each ``MODULE:ATTR`` from the solution ``folder`` once; a class is instantiated once (its model loads
    there). Returns ``{name: callable}``. A module that resolves outside ``folder`` (a same-named module imported
    earlier, or an installed one) is refused: an action is the solution's own code."""
    folder = Path(folder).resolve()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    loaded = {}
    for name, entry in entries.items():
        module_name, _, attribute = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise LoadError(f"action '{name}': cannot import {module_name}: {one_line(error)}") from None
        where = Path(getattr(module, "__file__", None) or "").resolve()
        if not where.is_relative_to(folder):
            raise LoadError(f"action '{name}': module {module_name} is {where}, not the solution's own code in {folder}")
        target = getattr(module, attribute, None)
        if target is None:
            raise LoadError(f"action '{name}': {module_name} has no attribute '{attribute}'")
        if inspect.isclass(target):
            try:
                target = target()
            except Exception as error:
                raise LoadError(f"action '{name}': {entry}() failed: {one_line(error)}") from None
        if not callable(target):
            raise LoadError(f"action '{name}': {entry} is not callable")
        loaded[name] = target
    return loaded


def call(function, arguments: dict) -> str:
    """Call an action with the input's fields as keyword arguments; its output as JSON text (numpy values become
    plain numbers and lists; NaN and infinities are refused, as JSON has none)."""
    return json.dumps(function(**arguments), default=plain, allow_nan=False, separators=(",", ":"))


def plain(value):
    """``json.dumps`` default: numpy arrays and scalars (anything with ``tolist``/``item``) as plain data."""
    for method in ("tolist", "item"):
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    text = text if len(text) <= 500 else text[:497] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def serve_lines(requests, replies) -> None:
    """The worker loop over two text streams (see the module's docstring)."""

    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    first = requests.readline()
    try:
        hello = json.loads(first)
        functions = load_entries(hello["folder"], hello["entries"])
    except LoadError as error:
        reply({"error": str(error)})
        return
    except Exception as error:
        reply({"error": f"worker: {one_line(error)}"})
        return
    reply({"ready": True})
    for line in requests:
        try:
            request = json.loads(line)
            function = functions[request["action"]]
            text = call(function, request["input"])
        except Exception as error:
            reply({"error": one_line(error)})
            continue
        replies.write('{"output":' + text + "}\n")
        replies.flush()


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints (Python's and native code's) go to stderr
    sys.stdout = sys.stderr
    requests = open(sys.stdin.fileno(), encoding="utf-8", closefd=False)
    serve_lines(requests, replies)


if __name__ == "__main__":
    main()
