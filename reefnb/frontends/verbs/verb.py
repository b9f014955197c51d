"""What a verb is: its parser, its call to the command layer, its text, its notebook view (``Verb``); and what a
verb may ask of the front end that runs it (``FrontEnd``: the ``reef`` process or the ``%reef`` magic).

Cheap on purpose: ``reef --help`` builds every verb's parser, so this module and the verb modules import no
stage; the command layer loads the stages a verb uses when it is called.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from reefnb.common.exceptions import EXIT_OK

Arguments = argparse.Namespace


def wants_json(args: Arguments) -> bool:
    """``--json``, or ``--format json`` where a verb has formats."""
    return bool(getattr(args, "json", False) or getattr(args, "format", None) == "json")


def _same(result: Any) -> Any:
    return result


def _ok(result: Any, args: Arguments) -> int:
    return EXIT_OK


@dataclass(frozen=True)
class Verb:
    """One verb of ``reef`` and ``%reef``, declared once.

    ``arguments`` adds its options to its parser (``--json`` is added for every verb). ``call`` parses nothing and
    prints nothing: it calls the command layer with the parsed arguments and returns its result; what it needs of
    the front end (trust, progress, the running notebook) it asks ``front``. ``text`` writes that result for people;
    ``data`` gives it as JSON-able data (``--json``; None: the verb writes its JSON itself as it goes, ``serve``);
    ``exit_code`` says how it went. ``notebook``, when given, is the magic's own view: it makes the call itself
    (``verb.call``) and displays HTML or widgets, returning what the notebook keeps; without one the magic prints
    ``text``.
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    call: Callable[[Arguments, FrontEnd], Any]
    text: Callable[[Any, Arguments, TextIO], None]
    notebook: Callable[[Arguments, FrontEnd], Any] | None = None
    data: Callable[[Any], Any] | None = _same
    exit_code: Callable[[Any, Arguments], int] = _ok

    def text_of(self, result: Any, args: Arguments) -> str:
        """What ``text`` writes, as one string (the magic shows it inside its HTML)."""
        out = io.StringIO()
        self.text(result, args, out)
        return out.getvalue().rstrip("\n")


@dataclass
class SweepWatch:
    """What a front end follows a sweep with: ``progress`` after each start and end, ``on_record`` each record."""

    progress: Callable[[Any], None] | None = None
    on_record: Callable[[dict], None] | None = None


class FrontEnd:
    """What a verb may ask of the front end that runs it; the defaults are a front end that asks nobody anything.

    ``out``: where lines said during a call go. ``exclusive_process``: this process runs nothing but the verb (the
    ``reef`` command), so processes left behind by a run are the run's.
    """

    exclusive_process = False

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout

    def tell(self, args: Arguments, lines: Iterable[str]) -> None:
        """Say these lines now, while the call goes on (a plan before installing), unless JSON was asked for."""
        if not wants_json(args):
            print("\n".join(lines), file=self.out, flush=True)

    def trusts(self, args: Arguments, source: Any, what: str = "notebooks", packages: bool = False) -> bool:
        """Whether the code of ``source`` may run: ``--trust`` (a terminal may ask)."""
        return bool(getattr(args, "trust", False))

    def shows_progress(self, args: Arguments) -> bool:
        """Whether a run shows papermill's cell bar."""
        return False

    @contextlib.contextmanager
    def watching_sweep(self, args: Arguments, title: str) -> Iterator[SweepWatch]:
        """How this front end follows a sweep while it runs."""
        yield SweepWatch()

    def download_progress(self, args: Arguments) -> Callable[[str, int, int | None], None] | None:
        """A callback for bytes downloaded per artifact, or None."""
        return None

    def running_notebook(self, verb: str) -> Path | None:
        """The notebook this front end runs in (the magic's), for verbs that default to it; None outside one."""
        return None

    def declaring(self, args: Arguments) -> contextlib.AbstractContextManager:
        """Where declarations into the running notebook go while a declaring verb runs (the magic: JupyterLab's
        copy of it, when the notebook is open there)."""
        return contextlib.nullcontext()
