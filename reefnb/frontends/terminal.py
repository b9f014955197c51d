"""The ``reef`` command's front end: run a parsed verb of the table (``reefnb.frontends.verbs``) and write its text,
or its JSON with ``--json``; the exit code.

``Terminal`` is what a verb may ask of a terminal: to ask before running code from elsewhere, progress bars on
stderr, lines said as a sweep goes. The verbs that run no notebook answer at once: the core is imported by the
command a verb calls, so that `reef detect` loads detection and not papermill, numpy, tornado, packaging or the
store (``tests/frontends/test_cli_imports.py`` checks what ``reef detect``, ``ls``, ``rm``, ``results`` and
``export`` load).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from reefnb.common.exceptions import ReefError
from reefnb.frontends import commands
from reefnb.frontends.rendering import record_text
from reefnb.frontends.verbs import VERBS, FrontEnd, wants_json
from reefnb.frontends.verbs.verb import Arguments, SweepWatch


class Terminal(FrontEnd):
    """The ``reef`` process: it runs nothing but the verb, so what a run leaves behind is the run's."""

    exclusive_process = True

    def __init__(self, out: TextIO):
        super().__init__(out)

    def trusts(self, args: Arguments, source: Any, what: str = "notebooks", packages: bool = False) -> bool:
        """``--trust``, or, on a terminal, the answer to a question: a package's code (``packages``: the verb takes
        a package file), or a folder made from one whose trust was not recorded, is code from elsewhere (no, or
        Ctrl-D: nothing runs). Elsewhere the verb refuses it without --trust."""
        if getattr(args, "trust", False):
            return True
        if not source or not sys.stdin.isatty() or wants_json(args):
            return False
        shown = source if packages and commands.is_package(source) else commands.untrusted_folder(source)
        if shown is None:
            return False
        try:
            answer = input(f"{shown}: run its {what} on this machine? They are code from elsewhere [y/N] ")
        except EOFError:  # Ctrl-D, or a closed terminal: no
            answer = ""
            print(file=self.out)
        if answer.strip().lower() not in ("y", "yes"):
            raise ReefError(f"{shown}: not trusted; nothing was run")
        return True

    def shows_progress(self, args: Arguments) -> bool:
        return not wants_json(args) and sys.stderr.isatty()

    @contextlib.contextmanager
    def watching_sweep(self, args: Arguments, title: str) -> Iterator[SweepWatch]:
        """A bar on stderr (on a terminal) and a line per run as it ends (unless --json)."""
        bar = None
        if self.shows_progress(args):
            from tqdm import tqdm

            bar = tqdm(total=0, unit="run", desc="sweep", leave=False)

        def on_progress(state) -> None:
            if bar is not None:
                bar.total = state.total - state.skipped
                bar.n = state.done
                bar.set_postfix_str(f"ok {state.ok} failed {state.failed} running {state.running}", refresh=True)

        def on_record(record: dict) -> None:
            if not wants_json(args):
                line = record_text(record, short=True)
                (bar.write(line, file=self.out) if bar is not None else print(line, file=self.out, flush=True))

        try:
            yield SweepWatch(on_progress, on_record)
        finally:
            if bar is not None:
                bar.close()

    def download_progress(self, args: Arguments) -> Callable[[str, int, int | None], None] | None:
        """A download bar per artifact on a terminal."""
        if not self.shows_progress(args):
            return None
        from tqdm import tqdm

        bars = {}

        def report(name: str, done: int, total: int | None) -> None:
            bar = bars.get(name)
            if bar is None:
                bar = bars[name] = tqdm(total=total, desc=name, unit="B", unit_scale=True, leave=True)
            bar.update(done - bar.n)
            if total is not None and done >= total:
                bar.close()

        return report


def run_verb(args: Arguments, out: TextIO) -> int:
    """Run the parsed verb: write its text, or its result as JSON with ``--json``; the exit code."""
    verb = VERBS[args.verb]
    result = verb.call(args, Terminal(out))
    if not wants_json(args):
        verb.text(result, args, out)
    elif verb.data is not None:
        json.dump(verb.data(result), out, indent=2, sort_keys=False, default=str)
        print(file=out)
    return verb.exit_code(result, args)
