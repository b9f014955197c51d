"""results [push|pull]: the recorded runs (``reefnb.analysis.frame``), shared through registries
(``reefnb.sharing.registry``)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reefnb.frontends import commands
from reefnb.frontends.arguments import options_from
from reefnb.frontends.rendering import TERMINAL_FIELDS, display_columns, with_units
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb, wants_json

RESULT_FORMATS = ("table", "csv", "json", "markdown")


def results_arguments(results: argparse.ArgumentParser) -> None:
    results.add_argument(
        "action",
        nargs="?",
        choices=["push", "pull"],
        metavar="push|pull",
        help="push: share this machine's runs in a registry; pull: merge the runs others shared (default: show)",
    )
    results.add_argument("--solution", "-s", help="only the runs of this solution (name or folder)")
    results.add_argument(
        "--status", choices=["ok", "failed", "timeout", "killed", "interrupted"], help="only runs of this status"
    )
    results.add_argument(
        "--where",
        metavar="EXPRESSION",
        help="only runs that match, e.g. 'param.backend == \"tflite\" and metric.time_ms < 5' "
        "(==, !=, <, <=, >, >=, in, and, or, not on param.*, metric.*, env.*, status, started...; run in SQL)",
    )
    results.add_argument(
        "--since",
        metavar="WHEN",
        help="only runs started since WHEN: an ISO date/time (UTC unless given) or an age (90m, 12h, 7d, 2w)",
    )
    results.add_argument("--format", choices=RESULT_FORMATS, default="table", help="output format (default: table)")
    results.add_argument("--all-columns", action="store_true", help="table/markdown: every column, env.* too")
    results.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        help="table/markdown: only these columns (metric names, param.*, "
        "env.*); default: the manifest's dashboard columns when --solution is a folder, else all",
    )
    results.add_argument(
        "--registry", metavar="NAME", help="push|pull: this registry (default: the only one; pull: all)"
    )
    results.add_argument(
        "--identify", action="store_true", help="push: share your user and host names too (default: an anonymous id)"
    )
    results.add_argument(
        "--with-files", action="store_true", help="push: share the files the runs attached too (reefnb.attach)"
    )
    results.add_argument(
        "--files-limit",
        metavar="SIZE",
        default="10M",
        help="push --with-files: at most this much in all (default: 10M)",
    )


def results(args: Arguments, front: FrontEnd) -> Any:
    """push: what was shared; pull: what was merged; else the runs (their records with --json, else a frame)."""
    if args.action == "push":
        return commands.push_results(options_from(commands.PushOptions, args))
    if args.action == "pull":
        return commands.pull_results(args.solution, args.registry)
    query = options_from(commands.ResultsQuery, args)
    return commands.result_records(query) if wants_json(args) else commands.results(query)


def results_text(found: Any, args: Arguments, out: TextIO) -> None:
    if args.action == "push":
        files = f", {found['files']} attached files" if args.with_files else ""
        print(
            f"registry {found['registry']}: {found['pushed']} runs shared as {found['contributor']} "
            f"({found['already']} were already there){files}",
            file=out,
        )
        for problem in found.get("files_left_out", []):
            print(f"warning: {problem}", file=out)
    elif args.action == "pull":
        refused = f", {len(found['refused'])} files refused (see the warnings)" if found["refused"] else ""
        print(f"{found['records']} shared runs, {found['new']} new here{refused}", file=out)
    else:
        runs_text(found, args, out)


def runs_text(found: commands.Results, args: Arguments, out: TextIO) -> None:
    """The runs as a table (the manifest's columns unless --columns or --all-columns), markdown or CSV."""
    frame = found.frame
    if args.format == "csv":
        frame.to_csv(out, index=False)
    elif frame.empty:
        print("no runs recorded" + (f" for {found.solution}" if found.solution else ""), file=out)
    else:
        shown = args.columns or (None if args.all_columns else found.columns)
        environment = [c for c in frame.columns if str(c).startswith("env.")] if args.all_columns else []
        columns = display_columns(
            frame, shown, strict=args.columns is not None, fields=TERMINAL_FIELDS, after=["duration_s", *environment]
        )
        table = with_units(frame, columns)
        print(table.to_markdown(index=False) if args.format == "markdown" else table.to_string(index=False), file=out)


def results_notebook(args: Arguments, front: FrontEnd) -> Any:
    """The results frame: compact (--columns, else the manifest's dashboard columns), whole with --all-columns;
    csv, markdown, push and pull print their text."""
    from IPython.display import display

    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import message

    found = results(args, front)
    if args.format in ("csv", "markdown") or args.action:
        print(RESULTS.text_of(found, args))
        return None
    frame = found.frame
    if frame.empty:
        display(message(["no runs recorded" + (f" for {found.solution}" if found.solution else "")], "info"), raw=True)
    return frame if args.all_columns or frame.empty else ResultsFrame.of(frame, args.columns or found.columns)


RESULTS = Verb(
    "results",
    "show recorded runs; `results push|pull` shares them through a registry",
    results_arguments,
    results,
    results_text,
    notebook=results_notebook,
)

VERBS = (RESULTS,)
