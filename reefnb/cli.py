"""The ``reef`` command: a thin shell over the reefnb Python API.

The parser is built by ``build_parser`` so that the ``%reef`` magic can parse the same verbs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .exceptions import ManifestError, ReefError

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
RESULT_FORMATS = ("table", "csv", "json", "markdown")


class ReefArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the magic can reuse it."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


class UsageError(ReefError):
    """Bad command-line usage."""


def build_parser() -> argparse.ArgumentParser:
    parser = ReefArgumentParser(prog="reef", description="Reproducible, parameterised notebook experiments.")
    parser.add_argument("--version", action="store_true", help="print reefnb's version and exit")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=ReefArgumentParser)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help)
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        return sub

    validate = verb("validate", "check a solution manifest and its notebooks")
    validate.add_argument("path", metavar="PATH", help="a solution folder or its solution.json")

    run = verb("run", "execute a workflow's notebook with parameters and record the run")
    run.add_argument("solution", metavar="SOLUTION", help="a solution folder, its solution.json, or a notebook")
    run.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a parameter (repeatable); cast to the type of the parameters cell")
    run.add_argument("-f", "--parameter-file", metavar="PARAMS.json|yaml", help="parameters from a JSON or YAML file")
    _run_options(run)

    sweep = verb("sweep", "run a workflow once per point of a parameter grid")
    sweep.add_argument("solution", metavar="SOLUTION", help="a solution folder, its solution.json, or a notebook")
    sweep.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    sweep.add_argument("-p", "--parameter", nargs="+", action="append", default=[], metavar="NAME V1",
                       help="NAME V1 V2 ...: values to sweep (repeatable); default: the workflow's sweep grid")
    sweep.add_argument("--fail-fast", action="store_true", help="stop at the first run that is not ok")
    _run_options(sweep)

    benchmark = verb("benchmark", "run the benchmark workflow over its sweep grid from the manifest")
    benchmark.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    benchmark.add_argument("--fail-fast", action="store_true", help="stop at the first run that is not ok")
    _run_options(benchmark)

    results = verb("results", "show recorded runs")
    results.add_argument("--solution", "-s", help="only the runs of this solution (name or folder)")
    results.add_argument("--status", choices=["ok", "failed", "timeout", "killed", "interrupted"], help="only runs of this status")
    results.add_argument("--format", choices=RESULT_FORMATS, default="table", help="output format (default: table)")
    results.add_argument("--all-columns", action="store_true", help="table/markdown: show env.* columns too")
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernel", help="Jupyter kernel to run in (default: the notebook's)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit for the whole run")


# --- verbs: each returns (exit code, JSON-able result) and prints text through `out` ---


def cmd_validate(args, out: TextIO) -> tuple[int, Any]:
    from . import load_solution

    try:
        solution = load_solution(args.path)
    except ManifestError as error:
        if args.json:
            return EXIT_USAGE, {"valid": False, "problems": error.problems}
        raise
    manifest = str(solution.manifest_path)
    if not args.json:
        print(f"{manifest}: valid ({solution.name}@{solution.version}, workflows: {', '.join(solution.workflows)})", file=out)
    return EXIT_OK, {"valid": True, "problems": [], "name": solution.name, "version": solution.version}


def cmd_run(args, out: TextIO) -> tuple[int, Any]:
    from . import run

    record = run(
        args.solution,
        workflow=args.workflow,
        parameters=dict(args.parameter),
        parameter_file=args.parameter_file,
        kernel=args.kernel,
        timeout=args.timeout,
        progress=not args.json and sys.stderr.isatty(),
    )
    if not args.json:
        print(format_record(record), file=out)
    return (EXIT_OK if record["status"] == "ok" else EXIT_RUN_FAILED), record


def cmd_sweep(args, out: TextIO) -> tuple[int, Any]:
    from . import sweep

    grid = {}
    for values in args.parameter:
        if len(values) < 2:
            raise UsageError(f"reef sweep: -p {values[0]} needs at least one value")
        grid[values[0]] = values[1:]
    return _sweep(args, out, lambda on_record: sweep(
        args.solution, workflow=args.workflow, grid=grid or None, fail_fast=args.fail_fast,
        kernel=args.kernel, timeout=args.timeout, on_record=on_record))


def cmd_benchmark(args, out: TextIO) -> tuple[int, Any]:
    from . import sweep

    return _sweep(args, out, lambda on_record: sweep(
        args.solution, workflow="benchmark", fail_fast=args.fail_fast,
        kernel=args.kernel, timeout=args.timeout, on_record=on_record))


def _sweep(args, out: TextIO, start: Callable) -> tuple[int, Any]:
    def on_record(record: dict) -> None:
        if not args.json:
            print(format_record(record, short=True), file=out, flush=True)

    records = start(on_record)
    if not args.json:
        failed = sum(record["status"] != "ok" for record in records)
        print(f"{len(records)} runs, {len(records) - failed} ok, {failed} not ok", file=out)
    return (EXIT_OK if all(record["status"] == "ok" for record in records) else EXIT_RUN_FAILED), records


def cmd_results(args, out: TextIO) -> tuple[int, Any]:
    from .frame import records_to_frame
    from .store import default_store

    solution = args.solution
    if solution and (Path(solution) / "solution.json").is_file():
        from . import load_solution

        solution = load_solution(solution).name
    records = default_store().records(solution=solution, status=args.status)
    if args.json or args.format == "json":
        return EXIT_OK, records
    frame = records_to_frame(records)
    if args.format == "csv":
        frame.to_csv(out, index=False)
    elif frame.empty:
        print("no runs recorded" + (f" for {solution}" if solution else ""), file=out)
    else:
        table = frame_for_display(frame, all_columns=args.all_columns)
        text = table.to_markdown(index=False) if args.format == "markdown" else table.to_string(index=False)
        print(text, file=out)
    return EXIT_OK, None


def frame_for_display(frame, all_columns: bool = False):
    """The results frame trimmed for reading: short run ids, no timestamps but the start."""
    columns = ["run_id", "solution", "workflow", "status"]
    columns += [c for c in frame.columns if c.startswith("param.")]
    columns += [c for c in frame.columns if c.startswith("metric.")]
    columns += ["duration_s"]
    if all_columns:
        columns += [c for c in frame.columns if c.startswith("env.")]
    table = frame[columns].copy()
    units = frame.attrs.get("units", {})
    table.columns = [f"{c} [{units[c]}]" if c in units else c for c in columns]
    return table


def format_record(record: dict, short: bool = False) -> str:
    """A run record for people: status line, then parameters and metrics."""
    from .recording import decode_value

    parameters = " ".join(f"{k}={v!r}" for k, v in record["parameters"].items())
    metrics = {name: decode_value(metric) for name, metric in record["metrics"].items()}
    units = {name: metric.get("unit") or "" for name, metric in record["metrics"].items()}
    solution = f"{record['solution']['name']}@{record['solution']['version']}"
    head = f"{record['run_id']}  {solution}  {record['workflow']}  {record['status']}  {record['duration_s']:.2f} s"
    error = record.get("error")
    problem = ""
    if error:
        cell = f" (cell {error['cell_index']})" if error.get("cell_index") is not None else ""
        problem = f"{error.get('name')}: {error.get('message')}{cell}"
    if short:
        shown = " ".join(f"{name}={_number(value)}{units[name] and ' ' + units[name]}" for name, value in metrics.items())
        return f"{head}  {parameters}  {problem or shown}".rstrip()
    lines = [head, f"  parameters: {parameters or '(defaults)'}"]
    if problem:
        lines.append(f"  error: {problem}")
    if metrics:
        width = max(map(len, metrics))
        lines.append("  metrics:")
        lines += [f"    {name:<{width}}  {_number(value)} {units[name]}".rstrip() for name, value in metrics.items()]
    lines.append(f"  notebook: {record['notebook']['output_path']}")
    return "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


COMMANDS: dict[str, Callable] = {
    "validate": cmd_validate,
    "run": cmd_run,
    "sweep": cmd_sweep,
    "benchmark": cmd_benchmark,
    "results": cmd_results,
}


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    logging.basicConfig(level=logging.WARNING, format="reef: %(levelname)s: %(message)s", stream=err)
    for noisy in ("papermill", "traitlets", "nbclient"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            from . import __version__

            print(f"reefnb {__version__}", file=out)
            return EXIT_OK
        if not args.verb:
            parser.print_help(out)
            return EXIT_USAGE
        code, result = COMMANDS[args.verb](args, out)
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            json.dump(result, out, indent=2, sort_keys=False, default=str)
            print(file=out)
        return code
    except ManifestError as error:
        for line in error.problems:
            print(line, file=err)
        return error.exit_code
    except ReefError as error:
        print(f"reef: error: {error}", file=err)
        return error.exit_code
    except KeyboardInterrupt:
        print("reef: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `reef results | head`: the reader left, nothing to report
        sys.stderr = open(os.devnull, "w")
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
