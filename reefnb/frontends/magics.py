"""The ``%reef`` line magic: reef's verbs in a notebook, shown as HTML, DataFrames and widgets.

``%load_ext reefnb`` registers it. A line is split as a shell splits it and parsed by
``reefnb.frontends.arguments.build_parser()``, so the magic takes exactly the CLI's verbs and options; each
verb then calls the command layer (``reefnb.frontends.commands``) and shows notebook output where the CLI
prints text. A mistake the user can fix (a ReefError, bad usage, an invalid manifest) is a short red
message, never a traceback; ``--help`` shows help. With ``--json`` a verb returns the CLI's JSON result
as Python data.
"""

from __future__ import annotations

import io
import os
import shlex
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from reefnb.common.exceptions import ManifestError, ReefError
from reefnb.common.version import __version__
from reefnb.frontends import commands
from reefnb.frontends.arguments import UsageError, build_parser, options_from
from reefnb.frontends.lab_editor import LabEditor
from reefnb.frontends.rendering import format_size
from reefnb.frontends.results_view import ResultsFrame
from reefnb.frontends.terminal import COMMANDS, NO_ENVIRONMENTS, NO_SOLUTIONS
from reefnb.frontends.widgets import (
    DependencyPanel,
    ParametersForm,
    ParetoExplorer,
    SweepProgressWidget,
    bundle,
    escape,
    fingerprint_bundle,
    message,
    message_html,
    requirement_table,
    run_summary,
    table_bundle,
)
from reefnb.provision.declare import NOTEBOOK_EDITOR, running_notebook, write_notebook_declarations
from reefnb.runs.spec import RunSpec, SweepSpec

DECLARING_VERBS = ("require", "tool", "artifact")


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
    """``%load_ext reefnb``: register ``%reef``; in a kernel JupyterLab started, declarations may go to its notebook's model."""
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
                    f"{notebook.name}: the declaration was written to the file (JupyterLab's Reef extension did not take it): "
                    "reload it (File ▸ Reload Notebook from Disk) before saving, or the editor's copy overwrites it"
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


def run_magic(line: str, shell=None, editor=None) -> Any:
    """Parse ``line`` as the reef command line and run its verb with notebook output.

    ``editor`` (a ``reefnb.provision.declare.NotebookEditor``): where declarations into the running notebook go
    when JupyterLab holds it open (else its file is rewritten).
    """
    args = _parsed(line)
    if args is None:
        return None
    try:
        if args.verb in DECLARING_VERBS:
            _choose_notebook(args, shell)
        if args.verb == "export" and args.source is None:
            args.source = running_notebook(getattr(shell, "user_ns", None))
            if args.source is None:
                raise ReefError("%reef export: cannot tell which notebook this kernel runs: give its path")
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            return COMMANDS[args.verb](args, io.StringIO())[1]
        if getattr(args, "from_session", False) and editor is not None:
            args.display_id = editor.display_id = (
                f"reef-declaration-{uuid.uuid4().hex}"  # the output a refused declaration updates
            )
            token = NOTEBOOK_EDITOR.set(editor)
            try:
                return VERBS[args.verb](args, shell)
            finally:
                NOTEBOOK_EDITOR.reset(token)
        return VERBS.get(args.verb, _text)(args, shell)
    except ManifestError as error:
        display(message(error.problems), raw=True)
    except ReefError as error:
        display(message(str(error).splitlines() or [type(error).__name__]), raw=True)
    return None


def _parsed(line: str):
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
        display(message([str(error), f"see %reef {verb + ' ' if verb in COMMANDS else ''}--help"]), raw=True)
        return None
    if args.version:
        print(f"reefnb {__version__}")
        return None
    if not args.verb:
        parser.print_help()
        return None
    return args


# --- verbs: each shows its output and returns what a notebook keeps (a DataFrame, a panel) or None ---


def _printed(args) -> str:
    """What the ``reef`` command prints for this verb."""
    out = io.StringIO()
    COMMANDS[args.verb](args, out)
    return out.getvalue().rstrip("\n")


def _text(args, shell) -> None:
    """Verbs that print a line or two (find, activate, rm, and any verb without its own view)."""
    text = _printed(args)
    if text:
        print(text)


def _validate(args, shell) -> None:
    display(message(["✓ " + _printed(args)], "ok"), raw=True)


def _run(args, shell):
    spec = RunSpec.from_arguments(args, parameters=dict(args.parameter))
    record = commands.run(spec, resume=args.resume, progress=_in_kernel(shell), trust=args.trust)
    display(run_summary(record), raw=True)
    return ResultsFrame.of(commands.records_frame([record]), commands.source_dashboard_columns(args.solution))


def _sweep(args, shell, workflow: str | None = None):
    grid = commands.sweep_grid(
        getattr(args, "grid", None), getattr(args, "parameter", [])
    )  # as `reef sweep` reads them
    widget = SweepProgressWidget(f"{args.verb} {args.solution}")
    display(widget)
    spec = SweepSpec.from_arguments(args, workflow=workflow or args.workflow, grid=grid)
    records = commands.sweep(spec, progress=widget.update, trust=args.trust)
    failed = sum(record["status"] != "ok" for record in records)
    skipped = getattr(records, "skipped", 0)
    summary = f"{len(records)} runs: {len(records) - failed} ok, {failed} not ok" + (
        f", {skipped} recorded before (not run again)" if skipped else ""
    )
    moved = getattr(records, "moved", None)  # points run again because they ran elsewhere before
    display(message([summary, moved] if moved else [summary], "error" if failed else "ok"), raw=True)
    return ResultsFrame.of(commands.records_frame(records), commands.source_dashboard_columns(args.solution))


def _benchmark(args, shell):
    return _sweep(args, shell, workflow="benchmark")


def _results(args, shell):
    """The results frame: compact (the --columns, else the manifest's dashboard columns), whole with --all-columns."""
    if args.format in ("csv", "markdown") or args.action:
        return _text(args, shell)
    found = commands.results(options_from(commands.ResultsQuery, args))
    frame = found.frame
    if frame.empty:
        display(message(["no runs recorded" + (f" for {found.solution}" if found.solution else "")], "info"), raw=True)
    return frame if args.all_columns or frame.empty else ResultsFrame.of(frame, args.columns or found.columns)


def _detect(args, shell) -> None:
    display(fingerprint_bundle(commands.detect(args.environment, refresh=args.refresh, extra=args.extra)), raw=True)


def _init(args, shell):
    """The dependency panel: the requirements checked where the solution runs now (``commands.run_place``), what
    "Install missing" would change, the button."""
    request = options_from(commands.InitRequest, args)
    preview = commands.preview_init(request)

    def install(progress: Callable) -> dict:
        return commands.init(request, progress=progress).lock

    def recheck() -> commands.RequirementsHere | None:
        return commands.init_requirements_here(request, commands.preview_init(request))

    return DependencyPanel(
        preview, install, dry_run=args.dry_run, here=commands.init_requirements_here(request, preview), recheck=recheck
    )


def _env(args, shell) -> None:
    if args.env_verb != "list":
        display(message([_printed(args)], "ok"), raw=True)
        return
    environments = commands.list_environments()
    if not environments:
        display(message([NO_ENVIRONMENTS], "info"), raw=True)
        return
    rows = [
        (item["name"], item["python_version"], item["kernel"], " ".join(item["packages"]) or "–", item["path"])
        for item in environments
    ]
    display(table_bundle(("name", "python", "kernel", "packages", "path"), rows), raw=True)


def _ls(args, shell) -> None:
    solutions = commands.initialised_solutions()
    if not solutions:
        display(message([NO_SOLUTIONS], "info"), raw=True)
        return
    rows = [
        (
            item["name"],
            item["version"],
            item["environment"] or "(native)",
            format_size(item["environment_bytes"] + item["solution_bytes"]),
            item["trust"],
            item["path"] + ("" if item["exists"] else "  (folder missing)"),
        )
        for item in solutions
    ]
    display(table_bundle(("name", "version", "environment", "size", "trust", "path"), rows), raw=True)


def _declare(args, shell) -> None:
    out = io.StringIO()
    _, result = COMMANDS[args.verb](args, out)
    places = []
    if result["notebook"]:
        places.append(f"metadata.reef of {result['notebook']}")
    if result["solution"]:
        places.append(result["solution"])
    if result["in_editor"]:
        places[0] += " (the open notebook: saved with it)"
    verb = "removed from" if result["removed"] else "declared in"
    where = f"{verb} {' and '.join(places)}" + (
        "" if result["changed"] or result["in_editor"] else " (already there: nothing changed)"
    )
    parts = [f'<div style="font-size:0.9em">{escape(where)}</div>']
    if result["checks"]:
        parts.insert(0, requirement_table(result["checks"]))
    if result["warnings"]:
        parts.append(message_html(result["warnings"], "warning"))
    if getattr(args, "from_session", False) and result["notebook"] in result["changed"]:
        parts.append(
            message_html(
                [
                    f"{Path(result['notebook']).name} changed on disk: reload it (File ▸ Reload Notebook from Disk) "
                    "before saving, or the editor's copy overwrites the declaration (running this cell again restores it)."
                ],
                "info",
            )
        )
    display_id = getattr(args, "display_id", None) if result["in_editor"] else None
    display(
        bundle("".join(parts), out.getvalue().rstrip("\n")),
        raw=True,
        **({"display_id": display_id} if display_id else {}),
    )


def _pareto(args, shell):
    """The Pareto explorer widget; --plot and --format csv print what the command prints."""
    if args.plot or args.format == "csv":
        return _text(args, shell)
    found = commands.frontier_runs(args.solution, commands.named_objectives(args.minimise, args.maximise))
    return ParetoExplorer(
        found.frame,
        objectives=found.objectives or None,
        color=commands.chart_color(found.solution, args.color),
        solution=found.solution,
    )


def _params(args, shell):
    """The parameters of a notebook as a form that runs it (the schema of ``reef params``)."""
    found = commands.parameters(args.source, args.workflow)
    return ParametersForm(found.solution, found.schema, workflow=found.workflow or "run")


VERBS: dict[str, Callable] = {
    "pareto": _pareto,
    "params": _params,
    "validate": _validate,
    "run": _run,
    "sweep": _sweep,
    "benchmark": _benchmark,
    "results": _results,
    "detect": _detect,
    "init": _init,
    "env": _env,
    "ls": _ls,
    "require": _declare,
    "tool": _declare,
    "artifact": _declare,
}


# --- helpers ---


def _choose_notebook(args, shell) -> None:
    """Declarations go to the running notebook unless ``--notebook`` or ``--solution`` says where."""
    if args.notebook is not None or args.solution is not None:
        return
    notebook = running_notebook(getattr(shell, "user_ns", None))
    if notebook is None:
        raise ReefError(
            f"%reef {args.verb}: cannot tell which notebook this kernel runs (JupyterLab tells the kernel through "
            "JPY_SESSION_NAME; it is not set here): add --notebook PATH"
        )
    args.notebook, args.from_session = str(notebook), True


def _in_kernel(shell) -> bool:
    """Whether a Jupyter front end shows this shell's output (so widgets, and papermill's cell bar, render)."""
    return getattr(shell, "kernel", None) is not None
