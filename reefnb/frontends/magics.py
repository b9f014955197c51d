"""The ``%reef`` line magic: reef's verbs in a notebook, shown as HTML, DataFrames and widgets.

``%load_ext reefnb`` registers it. A line is split as a shell splits it and parsed by
``reefnb.frontends.cli.build_parser()``, so the magic takes exactly the CLI's verbs and options; each verb
then shows notebook output where the CLI prints text. A mistake the user can fix (a ReefError,
bad usage, an invalid manifest) is a short red message, never a traceback; ``--help`` shows help.
With ``--json`` a verb returns the CLI's JSON result as Python data.
"""

from __future__ import annotations

import inspect
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
    from reefnb.frontends.lab_editor import LabEditor

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
    from reefnb.frontends.widgets import message
    from reefnb.provision.declare import write_notebook_declarations

    write_notebook_declarations(notebook, declarations)
    if display_id:
        display(message([f"{notebook.name}: the declaration was written to the file (JupyterLab's Reef extension did not take it): "
                         "reload it (File ▸ Reload Notebook from Disk) before saving, or the editor's copy overwrites it"], "warning"),
                raw=True, display_id=display_id, update=True)


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
    from reefnb.frontends.cli import COMMANDS, UsageError, build_parser
    from reefnb.frontends.widgets import message

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
        from reefnb.common.version import __version__

        print(f"reefnb {__version__}")
        return None
    if not args.verb:
        parser.print_help()
        return None
    try:
        if args.verb in DECLARING_VERBS:
            _choose_notebook(args, shell)
        if args.verb == "export" and args.source is None:
            from reefnb.provision.declare import running_notebook

            args.source = running_notebook(getattr(shell, "user_ns", None))
            if args.source is None:
                raise ReefError("%reef export: cannot tell which notebook this kernel runs: give its path")
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            return COMMANDS[args.verb](args, io.StringIO())[1]
        if getattr(args, "from_session", False) and editor is not None:
            from reefnb.provision.declare import NOTEBOOK_EDITOR

            args.display_id = editor.display_id = f"reef-declaration-{uuid.uuid4().hex}"  # the output a refused declaration updates
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


# --- verbs: each shows its output and returns what a notebook keeps (a DataFrame, a panel) or None ---


def _command(args) -> tuple[int, Any, str]:
    """Run the CLI's own verb function: its exit code, JSON-able result and the text it printed."""
    from reefnb.frontends.cli import COMMANDS

    out = io.StringIO()
    code, result = COMMANDS[args.verb](args, out)
    return code, result, out.getvalue().rstrip("\n")


def _text(args, shell) -> None:
    """Verbs that print a line or two (find, activate, rm, and any verb without its own view)."""
    _, _, text = _command(args)
    if text:
        print(text)


def _validate(args, shell) -> None:
    from reefnb.frontends.widgets import message

    _, _, text = _command(args)
    display(message(["✓ " + text], "ok"), raw=True)


def _run(args, shell):
    from reefnb import records_to_frame, run
    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import run_summary

    if args.resume:
        from reefnb.runs.execute import resume

        record = resume(args.resume, timeout=args.timeout, progress=_in_kernel(shell))
    elif not args.solution:
        from reefnb.frontends.cli import UsageError

        raise UsageError("reef run: give a SOLUTION (or --resume RUN_ID)")
    else:
        record = run(args.solution, **_options(run, args, parameters=dict(args.parameter), progress=_in_kernel(shell)))
    display(run_summary(record), raw=True)
    return ResultsFrame.of(records_to_frame([record]), _dashboard_columns(args.solution))


def _sweep(args, shell, workflow: str | None = None):
    from reefnb import records_to_frame, sweep
    from reefnb.frontends.cli import UsageError
    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import SweepProgressWidget, message

    grid = {}
    if getattr(args, "grid", None):  # as `reef sweep --grid FILE` reads it
        from reefnb.solution.params import read_parameter_file

        grid = read_parameter_file(args.grid)
        bad = [name for name, values in grid.items() if not isinstance(values, list) or not values]
        if bad:
            raise UsageError(f"{args.grid}: /{bad[0]}: expected a non-empty list of values")
    for values in getattr(args, "parameter", []):
        if len(values) < 2:
            raise UsageError(f"reef sweep: -p {values[0]} needs at least one value")
        grid[values[0]] = values[1:]
    widget = SweepProgressWidget(f"{args.verb} {args.solution}")
    display(widget)
    overrides: dict[str, Any] = {"grid": grid or None, "progress": widget.update}
    if workflow:
        overrides["workflow"] = workflow
    records = sweep(args.solution, **_options(sweep, args, **overrides))
    failed = sum(record["status"] != "ok" for record in records)
    skipped = getattr(records, "skipped", 0)
    summary = f"{len(records)} runs: {len(records) - failed} ok, {failed} not ok" + (f", {skipped} recorded before (not run again)" if skipped else "")
    display(message([summary], "error" if failed else "ok"), raw=True)
    return ResultsFrame.of(records_to_frame(records), _dashboard_columns(args.solution))


def _benchmark(args, shell):
    return _sweep(args, shell, workflow="benchmark")


def _results(args, shell):
    """The results frame: compact (the --columns, else the manifest's dashboard columns), whole with --all-columns."""
    from reefnb import load_solution, results
    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import message

    if args.format in ("csv", "markdown") or args.action:
        return _text(args, shell)
    solution, columns = args.solution, args.columns
    if solution and (Path(solution) / "solution.json").is_file():
        columns = columns or _dashboard_columns(solution)
        solution = load_solution(solution).name
    frame = results(solution=solution, status=args.status, where=args.where, since=args.since)
    if frame.empty:
        display(message(["no runs recorded" + (f" for {solution}" if solution else "")], "info"), raw=True)
    return frame if args.all_columns or frame.empty else ResultsFrame.of(frame, columns)


def _detect(args, shell) -> None:
    from reefnb.frontends.widgets import fingerprint_bundle

    _, fingerprint, _ = _command(args)
    display(fingerprint_bundle(fingerprint), raw=True)


def _init(args, shell):
    from reefnb.frontends.widgets import DependencyPanel
    from reefnb.provision.install import plan_init
    from reefnb.sharing.sources import init, open_init_source

    source = args.source
    if Path(source).exists():  # the button may be clicked after the working folder changed
        source = Path(source).resolve()
    pip_options = [option for folder in args.find_links for option in ("--find-links", str(Path(folder).resolve()))]
    pip_options += ["--no-index"] if args.no_index else []
    folder, pinned, _ = open_init_source(source, dry_run=args.dry_run)  # a package or a registry name: imported first
    try:
        plan = plan_init(folder, env=args.environment, native=args.native, offline=args.offline, pinned=pinned, artifacts=args.artifacts)
    finally:
        if args.dry_run:
            from reefnb.sharing.package import discard_dry_run

            discard_dry_run(Path(folder))

    def install(progress: Callable) -> dict:
        return init(source, env=args.environment, native=args.native, yes=args.yes, offline=args.offline,
                    pip_options=pip_options, progress=progress, artifacts=args.artifacts, trust=args.trust)

    return DependencyPanel(plan, install, dry_run=args.dry_run, yes=args.yes)


def _env(args, shell) -> None:
    from reefnb.frontends.widgets import message, table_bundle

    _, result, text = _command(args)
    if args.env_verb != "list":
        display(message([text], "ok"), raw=True)
    elif not result:
        display(message([text], "info"), raw=True)
    else:
        rows = [(item["name"], item["python_version"], item["kernel"], " ".join(item["packages"]) or "–", item["path"]) for item in result]
        display(table_bundle(("name", "python", "kernel", "packages", "path"), rows), raw=True)


def _ls(args, shell) -> None:
    from reefnb.frontends.cli import _size
    from reefnb.frontends.widgets import message, table_bundle

    _, result, text = _command(args)
    if not result:
        display(message([text], "info"), raw=True)
        return
    rows = [(item["name"], item["version"], item["environment"] or "(native)", _size(item["environment_bytes"] + item["solution_bytes"]),
             item["path"] + ("" if item["exists"] else "  (folder missing)")) for item in result]
    display(table_bundle(("name", "version", "environment", "size", "path"), rows), raw=True)


def _declare(args, shell) -> None:
    from reefnb.frontends.widgets import bundle, escape, message_html, requirement_table

    _, result, text = _command(args)
    places = []
    if result["notebook"]:
        places.append(f"metadata.reef of {result['notebook']}")
    if result["solution"]:
        places.append(result["solution"])
    if result["in_editor"]:
        places[0] += " (the open notebook: saved with it)"
    verb = "removed from" if result["removed"] else "declared in"
    where = f"{verb} {' and '.join(places)}" + ("" if result["changed"] or result["in_editor"] else " (already there: nothing changed)")
    parts = [f'<div style="font-size:0.9em">{escape(where)}</div>']
    if result["checks"]:
        parts.insert(0, requirement_table(result["checks"]))
    if result["warnings"]:
        parts.append(message_html(result["warnings"], "warning"))
    if getattr(args, "from_session", False) and result["notebook"] in result["changed"]:
        parts.append(message_html([f"{Path(result['notebook']).name} changed on disk: reload it (File ▸ Reload Notebook from Disk) "
                                   "before saving, or the editor's copy overwrites the declaration (running this cell again restores it)."],
                                  "info"))
    display_id = getattr(args, "display_id", None) if result["in_editor"] else None
    display(bundle("".join(parts), text), raw=True, **({"display_id": display_id} if display_id else {}))


def _pareto(args, shell):
    """The Pareto explorer widget; --plot and --format csv print what the command prints."""
    from reefnb.common.exceptions import ReefError
    from reefnb.frontends.cli import _objectives_from_args, results_with_solution
    from reefnb.frontends.widgets import ParetoExplorer

    if args.plot or args.format == "csv":
        return _text(args, shell)
    frame, solution = results_with_solution(args.solution)
    frame = frame[frame["status"] == "ok"] if len(frame) else frame
    if frame.empty:
        raise ReefError("no ok runs recorded" + (f" for {args.solution}" if args.solution else "") + ": no frontier")
    objectives = {name: "min" for name in args.min} | {name: "max" for name in args.max}
    if not objectives and solution is not None:
        objectives = _objectives_from_args(args, frame, solution)
    return ParetoExplorer(frame, objectives=objectives or None, color=args.color, solution=solution)


def _params(args, shell):
    """The parameters of a notebook as a form that runs it (the schema of ``reef params``)."""
    from reefnb import open_solution
    from reefnb.frontends.widgets import ParametersForm

    _, schema, _ = _command(args)
    return ParametersForm(open_solution(args.source), schema, workflow=args.workflow)


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
    from reefnb.provision.declare import running_notebook

    if args.notebook is not None or args.solution is not None:
        return
    notebook = running_notebook(getattr(shell, "user_ns", None))
    if notebook is None:
        raise ReefError(f"%reef {args.verb}: cannot tell which notebook this kernel runs (JupyterLab tells the kernel through "
                        "JPY_SESSION_NAME; it is not set here): add --notebook PATH")
    args.notebook, args.from_session = str(notebook), True


def _options(function: Callable, args, **overrides) -> dict[str, Any]:
    """Keyword arguments for ``function`` (an API call taking the solution first) from the parsed options.

    Options are matched by name, so an option the parser gains reaches the API without a change here.
    """
    names = list(inspect.signature(function).parameters)[1:]
    options = {name: getattr(args, name) for name in names if hasattr(args, name)}
    options.update(overrides)
    return options


def _dashboard_columns(source) -> list[str] | None:
    """The manifest's dashboard columns (``dashboard.columns``) of a solution folder or manifest, if it names them."""
    from reefnb import load_solution

    if not source:
        return None
    try:
        return load_solution(source).data.get("dashboard", {}).get("columns")
    except (ReefError, OSError):  # a registry name, a notebook: the compact default then
        return None


def _in_kernel(shell) -> bool:
    """Whether a Jupyter front end shows this shell's output (so widgets, and papermill's cell bar, render)."""
    return getattr(shell, "kernel", None) is not None
