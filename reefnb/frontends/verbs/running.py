"""validate / run / sweep / benchmark / params: a solution's workflows (``reefnb.runs``)."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from reefnb.common.exceptions import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ManifestError, RecordPending
from reefnb.frontends import commands
from reefnb.frontends.arguments import TRUST_FOLDER_HELP, count, parameter_option, seconds
from reefnb.frontends.rendering import record_text
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb
from reefnb.runs.spec import RunSpec, SweepSpec


def outcome(records: list[dict]) -> int:
    """0 when every run is ok, else 1."""
    return EXIT_OK if all(record["status"] == "ok" for record in records) else EXIT_FAILED


# --- validate ---


def validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a solution folder or its solution.json")


def validate(args: Arguments, front: FrontEnd) -> dict:
    """The solution's summary; with --json, an invalid manifest is a result (its problems), not an error."""
    try:
        solution = commands.validate(args.path)
    except ManifestError as error:
        if args.json:
            return {"valid": False, "problems": error.problems}
        raise
    return {
        "valid": True,
        "problems": [],
        "name": solution.name,
        "version": solution.version,
        "manifest": str(solution.manifest_path),
        "workflows": list(solution.workflows),
    }


def validate_text(result: dict, args: Arguments, out: TextIO) -> None:
    workflows = ", ".join(result["workflows"])
    print(f"{result['manifest']}: valid ({result['name']}@{result['version']}, workflows: {workflows})", file=out)


def validate_data(result: dict) -> dict:
    return {key: value for key, value in result.items() if key not in ("manifest", "workflows")}


def validate_notebook(args: Arguments, front: FrontEnd) -> None:
    from IPython.display import display

    from reefnb.frontends.widgets import message

    display(message(["✓ " + VALIDATE.text_of(validate(args, front), args)], "ok"), raw=True)


VALIDATE = Verb(
    "validate",
    "check a solution manifest and its notebooks",
    validate_arguments,
    validate,
    validate_text,
    notebook=validate_notebook,
    data=validate_data,
    exit_code=lambda result, args: EXIT_OK if result["valid"] else EXIT_USAGE,
)


# --- run ---


def no_telemetry_option(parser: argparse.ArgumentParser, sampled: str) -> None:
    """``--no-telemetry``: ``telemetry`` False (None when not given: the run's own default)."""
    parser.add_argument(
        "--no-telemetry", dest="telemetry", action="store_false", default=None, help=f"do not sample {sampled}"
    )


def run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "solution", metavar="SOLUTION", nargs="?", help="a solution folder, its solution.json, or a notebook"
    )
    run.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    parameter_option(run, "set a parameter (repeatable); cast to the type of the parameters cell")
    run.add_argument("-f", "--parameter-file", metavar="PARAMS.json|yaml", help="parameters from a JSON or YAML file")
    run.add_argument(
        "--checkpoint", action="store_true", help="keep the kernel's state after each cell, so a failure can be resumed"
    )
    run.add_argument("--resume", metavar="RUN_ID", help="run a failed run again from its last checkpoint")
    no_telemetry_option(run, "the run's CPU, memory, disk, energy and GPU (default: every 200 ms)")
    run.add_argument(
        "--no-trace-files",
        dest="trace_files",
        action="store_false",
        help="do not record the files the kernel reads (an audit hook; reef export packs them; "
        "sweeps never record them)",
    )
    run.add_argument(
        "--max-output",
        metavar="SIZE",
        help="output kept per cell, the rest dropped with a marker (default: 10M, or $REEF_MAX_CELL_OUTPUT)",
    )
    run.add_argument("--env", dest="environment", metavar="NAME", help="run in this reef environment's kernel")
    run.add_argument(
        "--kernel", help="Jupyter kernel to run in (default: the environment reef init made, else the notebook's)"
    )
    run.add_argument("--timeout", type=seconds, metavar="SECONDS", help="limit for the whole run")
    run.add_argument("--trust", action="store_true", help=TRUST_FOLDER_HELP)


def run(args: Arguments, front: FrontEnd) -> dict:
    """The run's record, whatever its status: the run the arguments ask for (a ``RunSpec``), or ``--resume``."""
    spec = RunSpec.from_arguments(args, parameters=dict(args.parameter))
    return commands.run(
        spec,
        resume=args.resume,
        progress=front.shows_progress(args),
        trust=front.trusts(args, args.solution),
        exclusive_process=front.exclusive_process,
    )


def run_text(record: dict, args: Arguments, out: TextIO) -> None:
    print(record_text(record), file=out)


def run_notebook(args: Arguments, front: FrontEnd) -> Any:
    """The run's summary, and the run as a results frame."""
    from IPython.display import display

    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import run_summary

    record = run(args, front)
    display(run_summary(record), raw=True)
    return ResultsFrame.of(commands.records_frame([record]), commands.source_dashboard_columns(args.solution))


RUN = Verb(
    "run",
    "execute a workflow's notebook with parameters and record the run",
    run_arguments,
    run,
    run_text,
    notebook=run_notebook,
    exit_code=lambda record, args: outcome([record]),
)


# --- sweep and benchmark ---


def sweep_options(parser: argparse.ArgumentParser) -> None:
    """Where and how a sweep's runs go (``reef sweep`` and ``reef benchmark``)."""
    targets = parser.add_mutually_exclusive_group()
    targets.add_argument(
        "--env", dest="environments", nargs="+", metavar="E", help="run every point in each of these environments"
    )
    targets.add_argument(
        "--kernel", dest="kernels", nargs="+", metavar="K", help="run every point on each of these kernels"
    )
    parser.add_argument(
        "--jobs", "-j", type=count(1), metavar="N", help="parallel runs here (default: what cores and memory allow)"
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask cluster: tcp://HOST:PORT, or local:N for a local one"
    )
    parser.add_argument(
        "--executor",
        metavar="NAME",
        help="run the sweep's points with a registered executor (entry point group reefnb.executors): local, dask, "
        "or a plugin's (default: dask with --scheduler, else local)",
    )
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS", help="limit for each run")
    parser.add_argument(
        "--retries", type=count(0), default=0, metavar="N", help="try a run whose kernel died up to N more times"
    )
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first run that is not ok")
    parser.add_argument("--rerun", action="store_true", help="run points already recorded ok again")
    no_telemetry_option(parser, "each run's CPU, memory, disk, energy and GPU")
    parser.add_argument("--trust", action="store_true", help=TRUST_FOLDER_HELP)


def sweep_arguments(sweep: argparse.ArgumentParser) -> None:
    sweep.add_argument("solution", metavar="SOLUTION", help="a solution folder, its solution.json, or a notebook")
    sweep.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    sweep.add_argument(
        "-p",
        "--parameter",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME V1",
        help="NAME V1 V2 ...: values to sweep (repeatable); default: the workflow's sweep grid",
    )
    sweep.add_argument("--grid", metavar="FILE", help="the grid from a JSON or YAML file: NAME: [V1, V2, ...]")
    sweep_options(sweep)


def benchmark_arguments(benchmark: argparse.ArgumentParser) -> None:
    benchmark.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    sweep_options(benchmark)


class SweepRecords(list):
    """A sweep's records in grid order, with ``skipped``, ``moved`` (``commands.sweep``) and ``pending``: the
    RecordPending raised once every point ran, when some records wait beside the store (said after the summary)."""

    skipped = 0
    moved: str | None = None
    pending: RecordPending | None = None


def sweep(args: Arguments, front: FrontEnd) -> SweepRecords:
    """The sweep's records (``-p``/``--grid``: the grid; the benchmark: the workflow's own grid)."""
    benchmark = args.verb == "benchmark"
    grid = None if benchmark else commands.sweep_grid(args.grid, args.parameter)
    trust = front.trusts(args, args.solution)
    spec = SweepSpec.from_arguments(args, workflow="benchmark" if benchmark else args.workflow, grid=grid)
    with front.watching_sweep(args, f"{args.verb} {args.solution}") as watch:
        pending = None
        try:
            found = commands.sweep(spec, progress=watch.progress, on_record=watch.on_record, trust=trust)
        except RecordPending as error:  # every point ran; some records wait beside the store
            if getattr(error, "records", None) is None:
                raise
            found, pending = error.records, error
    records = SweepRecords(found)
    records.skipped, records.moved, records.pending = (
        getattr(found, "skipped", 0),
        getattr(found, "moved", None),
        pending,
    )
    return records


def sweep_summary(records: SweepRecords) -> str:
    failed = sum(record["status"] != "ok" for record in records)
    return (
        f"{len(records)} runs, {len(records) - failed} ok, {failed} not ok, "
        f"{records.skipped} skipped (recorded ok before)"
    )


def sweep_text(records: SweepRecords, args: Arguments, out: TextIO) -> None:
    """The summary (each run's line was said as it ended); then the records waiting beside the store, as an error."""
    print(sweep_summary(records), file=out)
    if records.moved:
        print(records.moved, file=out)
    if records.pending is not None:
        raise records.pending


def sweep_data(records: SweepRecords) -> list[dict]:
    if records.pending is not None:
        raise records.pending
    return list(records)


def sweep_notebook(args: Arguments, front: FrontEnd) -> Any:
    """Live progress (``front.watching_sweep``), the summary, the runs as a results frame."""
    from IPython.display import display

    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import message

    records = sweep(args, front)
    failed = sum(record["status"] != "ok" for record in records)
    summary = f"{len(records)} runs: {len(records) - failed} ok, {failed} not ok" + (
        f", {records.skipped} recorded before (not run again)" if records.skipped else ""
    )
    lines = [summary, *([records.moved] if records.moved else [])]  # moved: points that ran elsewhere before
    display(message(lines, "error" if failed else "ok"), raw=True)
    if records.pending is not None:
        raise records.pending
    return ResultsFrame.of(commands.records_frame(records), commands.source_dashboard_columns(args.solution))


SWEEP = Verb(
    "sweep",
    "run a workflow once per point of a parameter grid",
    sweep_arguments,
    sweep,
    sweep_text,
    notebook=sweep_notebook,
    data=sweep_data,
    exit_code=lambda records, args: outcome(records),
)
BENCHMARK = Verb(
    "benchmark",
    "run the benchmark workflow over its sweep grid from the manifest",
    benchmark_arguments,
    sweep,
    sweep_text,
    notebook=sweep_notebook,
    data=sweep_data,
    exit_code=lambda records, args: outcome(records),
)


# --- params ---


def params_arguments(params: argparse.ArgumentParser) -> None:
    params.add_argument(
        "source", metavar="NOTEBOOK|SOLUTION", help="a notebook, a solution folder or its solution.json"
    )
    params.add_argument(
        "-w",
        "--workflow",
        help="the workflow whose notebook to read (default: run; for a notebook, the workflow of its solution "
        "that runs it)",
    )


def params(args: Arguments, front: FrontEnd) -> commands.Parameters:
    return commands.parameters(args.source, args.workflow)


def params_text(found: commands.Parameters, args: Arguments, out: TextIO) -> None:
    """One line per parameter: name, type, default, rules, description."""
    schema = found.schema
    if found.language != "python":
        print(f"{found.notebook}: {schema['$comment']}", file=out)
    if not found.cell:
        print(f"{found.notebook}: no cell tagged 'parameters'", file=out)
    for name, prop in schema["properties"].items():
        rules = ", ".join(
            f"{key} {prop[key]}"
            for key in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
            if key in prop
        )
        default = json.dumps(prop["default"]) if "default" in prop else found.cell[name].default_source
        line = f"{name:<16} {prop.get('type', 'any'):<8} = {default:<14} {rules}"
        print((line + (f"  # {prop['description']}" if prop.get("description") else "")).rstrip(), file=out)


def params_notebook(args: Arguments, front: FrontEnd) -> Any:
    """The parameters of a notebook as a form that runs it (the schema of ``reef params``)."""
    from reefnb.frontends.widgets import ParametersForm

    found = params(args, front)
    return ParametersForm(found.solution, found.schema, workflow=found.workflow or "run")


PARAMS = Verb(
    "params",
    "print a notebook's typed parameters (a JSON Schema with --json)",
    params_arguments,
    params,
    params_text,
    notebook=params_notebook,
    data=lambda found: found.schema,
)

VERBS = (VALIDATE, RUN, SWEEP, BENCHMARK, PARAMS)
