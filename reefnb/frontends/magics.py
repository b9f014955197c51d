"""The ``%reef`` line magic: reef's verbs in a notebook, shown as HTML, DataFrames and widgets.

``%load_ext reefnb`` registers it. A line is split as a shell splits it and parsed by
``reefnb.frontends.verbs.build_parser()``, so the magic takes exactly the CLI's verbs and options. The verb of the
table (``reefnb.frontends.verbs.VERBS``) then calls the command layer with this notebook as its front end
(``Notebook``) and shows its notebook view (HTML, DataFrames, widgets), or prints its text when it has none. A
mistake the user can fix (a ReefError, bad usage, an invalid manifest) is a short red message, never a
traceback; ``--help`` shows help. With ``--json`` a verb returns its JSON result as Python data.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from reefnb.common.exceptions import ManifestError, ReefError, UsageError
from reefnb.common.version import __version__
from reefnb.frontends.lab_editor import LabEditor
from reefnb.frontends.verbs import VERBS, FrontEnd, build_parser, wants_json
from reefnb.frontends.verbs.verb import Arguments, SweepWatch
from reefnb.frontends.widgets import SweepProgressWidget, message
from reefnb.provision.declare import NOTEBOOK_EDITOR, running_notebook, write_notebook_declarations


@magics_class
class ReefMagics(Magics):
    """The ``%reef`` magic."""

    @line_magic
    def reef(self, line: str = "") -> Any:
        """Run a reef verb here: ``%reef VERB [OPTIONS]``, the same verbs and options as the ``reef`` command.

        ``%reef run SOLUTION -p NAME VALUE`` returns the run as a DataFrame; ``%reef sweep`` and
        ``%reef benchmark`` show live progress, then return the runs; ``%reef results`` returns the
        results frame; ``%reef init SOURCE`` shows the dependency panel with "Install missing";
        ``%reef require PKG``, ``%reef tool NAME[SPEC]`` and ``%reef artifact NAME URL --sha256 HEX``
        declare what this notebook needs. ``%reef --help`` and ``%reef VERB --help`` say more.
        """
        return run_magic(line, self.shell, getattr(self, "editor", None))


def load_ipython_extension(ipython) -> None:
    """``%load_ext reefnb``: register ``%reef``; in a kernel JupyterLab started, declarations may go to its
    notebook's model."""
    magics = ReefMagics(ipython)
    ipython.register_magics(magics)
    session = os.environ.get("JPY_SESSION_NAME")  # set by jupyter_server for the kernel of a notebook
    if _in_kernel(ipython) and session and session.endswith(".ipynb"):
        magics.editor = LabEditor(session, lambda: _lab_request(ipython), _declaration_refused)


def _lab_request(ipython) -> bool:
    """Whether the cell running now came from JupyterLab (or Notebook 7): its execute request names the cell."""
    parent = ipython.kernel.get_parent() or {}
    return bool((parent.get("metadata") or {}).get("cellId"))


def _declaration_refused(notebook: Path, declarations: dict, display_id: str | None) -> None:
    """JupyterLab did not take a declaration (no Reef extension): the file, and the cell's output says to reload."""
    write_notebook_declarations(notebook, declarations)
    if display_id:
        display(
            message(
                [
                    f"{notebook.name}: the declaration was written to the file (JupyterLab's Reef extension did not "
                    "take it): reload it (File ▸ Reload Notebook from Disk) before saving, or the editor's copy "
                    "overwrites it"
                ],
                "warning",
            ),
            raw=True,
            display_id=display_id,
            update=True,
        )


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext reefnb``: remove ``%reef``."""
    manager = ipython.magics_manager
    manager.magics["line"].pop("reef", None)
    manager.registry.pop(ReefMagics.__name__, None)


class Notebook(FrontEnd):
    """What a verb may ask of the notebook the magic runs in: its kernel's shell, and JupyterLab's copy of the
    notebook (``editor``), where declarations go when it is open there."""

    def __init__(self, shell=None, editor=None):
        super().__init__()
        self.shell = shell
        self.editor = editor

    def shows_progress(self, args: Arguments) -> bool:
        return _in_kernel(self.shell)

    @contextlib.contextmanager
    def watching_sweep(self, args: Arguments, title: str) -> Iterator[SweepWatch]:
        """A live progress widget, shown before the first run starts (none with --json: the data is the answer)."""
        if wants_json(args):
            yield SweepWatch()
            return
        widget = SweepProgressWidget(title)
        display(widget)
        yield SweepWatch(progress=widget.update)

    def running_notebook(self, verb: str) -> Path:
        notebook = running_notebook(getattr(self.shell, "user_ns", None))
        if notebook is None:
            raise ReefError(
                f"%reef {verb}: cannot tell which notebook this kernel runs (JupyterLab tells the kernel through "
                "JPY_SESSION_NAME; it is not set here): give its path (--notebook PATH)"
            )
        return notebook

    @contextlib.contextmanager
    def declaring(self, args: Arguments) -> Iterator[None]:
        """Into JupyterLab's open copy of the running notebook, when it is open there (``NOTEBOOK_EDITOR``)."""
        if not (getattr(args, "from_session", False) and self.editor is not None):
            yield
            return
        args.display_id = self.editor.display_id = f"reef-declaration-{uuid.uuid4().hex}"  # what a refusal updates
        token = NOTEBOOK_EDITOR.set(self.editor)
        try:
            yield
        finally:
            NOTEBOOK_EDITOR.reset(token)


def run_magic(line: str, shell=None, editor=None) -> Any:
    """Parse ``line`` as the reef command line and run its verb with notebook output.

    ``editor`` (a ``reefnb.provision.declare.NotebookEditor``): where declarations into the running notebook go
    when JupyterLab holds it open (else its file is rewritten).
    """
    args = _parsed(line)
    if args is None:
        return None
    verb, front = VERBS[args.verb], Notebook(shell, editor)
    try:
        if wants_json(args):
            result = verb.call(args, front)
            return verb.data(result) if verb.data is not None else result
        if verb.notebook is not None:
            return verb.notebook(args, front)
        text = verb.text_of(verb.call(args, front), args)
        if text:
            print(text)
    except ManifestError as error:
        display(message(error.problems), raw=True)
    except ReefError as error:
        display(message(str(error).splitlines() or [type(error).__name__]), raw=True)
    return None


def _parsed(line: str) -> Arguments | None:
    """The parsed arguments of a line with a verb to run; None when there is nothing to run (a mistake, shown as
    a red message; help, the version or no verb, printed)."""
    try:
        argv = shlex.split(line)
    except ValueError as error:  # an unclosed quote
        display(message(f"%reef: {error}"), raw=True)
        return None
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help: argparse printed the help and asked to exit, which a kernel must not
        return None
    except UsageError as error:
        verb = next((word for word in argv if not word.startswith("-")), None)
        display(message([str(error), f"see %reef {verb + ' ' if verb in VERBS else ''}--help"]), raw=True)
        return None
    if args.version:
        print(f"reefnb {__version__}")
        return None
    if not args.verb:
        parser.print_help()
        return None
    return args


def _in_kernel(shell) -> bool:
    """Whether a Jupyter front end shows this shell's output (so widgets, and papermill's cell bar, render)."""
    return getattr(shell, "kernel", None) is not None
