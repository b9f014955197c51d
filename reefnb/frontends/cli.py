"""The ``reef`` command: a thin shell over the reefnb Python API.

The parser is built by ``build_parser`` so that the ``%reef`` magic can parse the same verbs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from reefnb.common.exceptions import ManifestError, ReefError

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
RESULT_FORMATS = ("table", "csv", "json", "markdown")


class ReefArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the magic can reuse it."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


class UsageError(ReefError):
    """Bad command-line usage."""


MAX_TIMEOUT_S = 366 * 24 * 3600  # a year: longer limits overflow the clocks they are handed to


def seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds, at most MAX_TIMEOUT_S (not inf, nan, 1e400 or -1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0 and at most {MAX_TIMEOUT_S}")
    return value


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least {minimum}")
        return value

    parse.__name__ = "count"
    return parse


def scale(text: str) -> float:
    """An argparse type: a finite factor above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number above 0")
    return value


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
    run.add_argument("solution", metavar="SOLUTION", nargs="?", help="a solution folder, its solution.json, or a notebook")
    run.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a parameter (repeatable); cast to the type of the parameters cell")
    run.add_argument("-f", "--parameter-file", metavar="PARAMS.json|yaml", help="parameters from a JSON or YAML file")
    run.add_argument("--checkpoint", action="store_true", help="keep the kernel's state after each cell, so a failure can be resumed")
    run.add_argument("--resume", metavar="RUN_ID", help="run a failed run again from its last checkpoint")
    run.add_argument("--no-telemetry", dest="telemetry", action="store_false", default=None,
                     help="do not sample the run's CPU, memory, disk, energy and GPU (default: every 200 ms)")
    run.add_argument("--no-trace-files", dest="trace_files", action="store_false",
                     help="do not record the files the kernel reads (an audit hook; reef export packs them; sweeps never record them)")
    run.add_argument("--max-output", metavar="SIZE", help="output kept per cell, the rest dropped with a marker (default: 10M, or $REEF_MAX_CELL_OUTPUT)")
    _run_options(run)

    sweep = verb("sweep", "run a workflow once per point of a parameter grid")
    sweep.add_argument("solution", metavar="SOLUTION", help="a solution folder, its solution.json, or a notebook")
    sweep.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    sweep.add_argument("-p", "--parameter", nargs="+", action="append", default=[], metavar="NAME V1",
                       help="NAME V1 V2 ...: values to sweep (repeatable); default: the workflow's sweep grid")
    sweep.add_argument("--grid", metavar="FILE", help="the grid from a JSON or YAML file: NAME: [V1, V2, ...]")
    _sweep_options(sweep)

    benchmark = verb("benchmark", "run the benchmark workflow over its sweep grid from the manifest")
    benchmark.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    _sweep_options(benchmark)

    params = verb("params", "print a notebook's typed parameters (a JSON Schema with --json)")
    params.add_argument("source", metavar="NOTEBOOK|SOLUTION", help="a notebook, a solution folder or its solution.json")
    params.add_argument("-w", "--workflow", default="run", help="the workflow whose notebook to read (default: run)")

    results = verb("results", "show recorded runs; `results push|pull` shares them through a registry")
    results.add_argument("action", nargs="?", choices=["push", "pull"], metavar="push|pull",
                         help="push: share this machine's runs in a registry; pull: merge the runs others shared (default: show)")
    results.add_argument("--solution", "-s", help="only the runs of this solution (name or folder)")
    results.add_argument("--status", choices=["ok", "failed", "timeout", "killed", "interrupted"], help="only runs of this status")
    results.add_argument("--where", metavar="EXPRESSION", help="only runs that match, e.g. 'param.backend == \"tflite\" and metric.time_ms < 5' "
                         "(==, !=, <, <=, >, >=, in, and, or, not on param.*, metric.*, env.*, status, started...; run in SQL)")
    results.add_argument("--since", metavar="WHEN", help="only runs started since WHEN: an ISO date/time (UTC unless given) or an age (90m, 12h, 7d, 2w)")
    results.add_argument("--format", choices=RESULT_FORMATS, default="table", help="output format (default: table)")
    results.add_argument("--all-columns", action="store_true", help="table/markdown: every column, env.* too")
    results.add_argument("--columns", nargs="+", metavar="COLUMN", help="table/markdown: only these columns (metric names, param.*, "
                         "env.*); default: the manifest's dashboard columns when --solution is a folder, else all")
    results.add_argument("--registry", metavar="NAME", help="push|pull: this registry (default: the only one; pull: all)")
    results.add_argument("--identify", action="store_true", help="push: share your user and host names too (default: an anonymous id)")
    results.add_argument("--with-files", action="store_true", help="push: share the files the runs attached too (reefnb.attach)")
    results.add_argument("--files-limit", metavar="SIZE", default="10M", help="push --with-files: at most this much in all (default: 10M)")
    detect = verb("detect", "print this machine's and an environment's fingerprint")
    detect.add_argument("--env", dest="environment", metavar="NAME", help="inspect this reef environment (default: the current python)")
    detect.add_argument("--refresh", action="store_true", help="ignore the cache")
    detect.add_argument("--with", dest="extra", action="append", default=[], metavar="DETECTOR",
                        help="also run an on-request detector (e.g. tensorflow)")

    init = verb("init", "check a solution's requirements, then install what is missing")
    init.add_argument("source", metavar="SOURCE", help="a solution folder, its solution.json, a .reef.zip package or NAME[@RANGE] "
                      "from a registry (verified, then imported into $REEF_HOME/solutions/NAME-VERSION)")
    where = init.add_mutually_exclusive_group()
    where.add_argument("--env", dest="environment", metavar="NAME", help="the environment to make or update (default: the solution's name)")
    where.add_argument("--native", action="store_true", help="install into the current python environment instead")
    init.add_argument("--yes", "-y", action="store_true", help="allow --native to replace installed packages")
    init.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    init.add_argument("--offline", action="store_true", help="no downloads: use cached, fallback or generated artifacts")
    init.add_argument("--find-links", action="append", default=[], metavar="DIR", help="also look for packages here (repeatable)")
    init.add_argument("--no-index", action="store_true", help="install only from --find-links")
    init.add_argument("--trust", action="store_true", help="a package's own code may run (artifact generators) and its requirements "
                      "may be URLs, unpinned, unhashed or sdists (README: Security model)")
    init.add_argument("--artifact", dest="artifacts", action="append", default=[], metavar="NAME[=PATH]",
                      help="also fetch this on-demand artifact now; NAME=PATH: take it from your file, verified by its sha256 "
                      "(an artifact the package does not ship); repeatable")

    env = verb("env", "named environments: create, list, remove")
    env_verbs = env.add_subparsers(dest="env_verb", metavar="ACTION", parser_class=ReefArgumentParser, required=True)
    create = env_verbs.add_parser("create", help="create an environment with packages and a Jupyter kernel")
    create.add_argument("name", metavar="NAME")
    create.add_argument("packages", nargs="*", metavar="PKG", help="PEP 508 requirements")
    create.add_argument("--python", help="base interpreter (default: this one)")
    create.add_argument("--replace", action="store_true", help="replace an existing environment of that name")
    create.add_argument("--find-links", action="append", default=[], metavar="DIR", help="also look for packages here")
    create.add_argument("--no-index", action="store_true", help="install only from --find-links")
    env_verbs.add_parser("list", help="list environments")
    remove = env_verbs.add_parser("remove", help="remove an environment and its kernel")
    remove.add_argument("name", metavar="NAME")
    for sub in env_verbs.choices.values():
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")

    verb("ls", "list the solutions initialised on this machine")
    find = verb("find", "print where an initialised solution lives")
    find.add_argument("name", metavar="NAME")
    activate = verb("activate", "print the line that activates a solution's environment")
    activate.add_argument("name", metavar="NAME")
    remove_solution = verb("rm", "forget a solution and remove its environment (never the download cache)")
    remove_solution.add_argument("name", metavar="NAME")
    _results_verbs(verb)
    _declaring_verbs(verb)
    _sharing_verbs(verb)
    _registry_verbs(verb)
    _serve_verb(verb)
    return parser


def _results_verbs(verb: Callable) -> None:
    """pareto / dashboard: analyse the recorded runs (reefnb.analysis.pareto, reefnb.analysis.plots, reefnb.analysis.dashboard)."""
    pareto = verb("pareto", "the Pareto frontier of the ok runs: the best trade-offs between metrics")
    pareto.add_argument("--solution", "-s", help="only the runs of this solution (name or folder; a folder gives default objectives)")
    pareto.add_argument("--min", nargs="+", action="extend", default=[], metavar="METRIC", help="metrics to minimise (metric.NAME or NAME)")
    pareto.add_argument("--max", nargs="+", action="extend", default=[], metavar="METRIC", help="metrics to maximise")
    pareto.add_argument("--plot", metavar="FILE.html|png|svg", help="also draw the first two objectives (offline HTML, PNG or SVG)")
    pareto.add_argument("--color", default="env.name", metavar="COLUMN", help="colour the plot's points by this column (default: env.name)")
    pareto.add_argument("--log", choices=["x", "y", "xy"], help="log scale on these plot axes")
    pareto.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default: table)")
    dashboard = verb("dashboard", "write an offline HTML dashboard of the recorded runs (charts, summaries, run details)")
    dashboard.add_argument("--solution", "-s", help="only the runs of this solution (name or folder; a folder gives the manifest's defaults)")
    dashboard.add_argument("-o", "--output", default="dashboard.html", metavar="FILE.html", help="where to write it (default: dashboard.html)")
    dashboard.add_argument("--min", nargs="+", action="extend", default=[], metavar="METRIC", help="objectives to minimise (default: the manifest's)")
    dashboard.add_argument("--max", nargs="+", action="extend", default=[], metavar="METRIC", help="objectives to maximise")


def _declaring_verbs(verb: Callable) -> None:
    """require / tool / artifact: what a notebook needs, stored in its metadata.reef and its solution.json."""
    require = verb("require", "declare packages a notebook needs (in its metadata.reef, and its solution.json)")
    require.add_argument("packages", nargs="+", metavar="PKG-SPEC", help="PEP 508 requirements, e.g. 'numpy>=1.24'")
    tool = verb("tool", "declare command-line tools a notebook needs, e.g. gcc>=9")
    tool.add_argument("tools", nargs="+", metavar="NAME[SPEC]", help="a tool reef knows (gcc, cmake, git...) and an optional version range")
    for sub in (require, tool):
        sub.add_argument("--remove", action="store_true", help="remove these declarations (by name) instead")
    artifact = verb("artifact", "declare a dataset or model a notebook needs (reef init downloads and verifies it)")
    artifact.add_argument("name", metavar="NAME")
    artifact.add_argument("urls", nargs="+", metavar="URL", help="where to download it (http, https or file); more URLs are mirrors")
    artifact.add_argument("--sha256", required=True, metavar="HEX", help="the file's sha256: every download is verified")
    artifact.add_argument("--size", type=int, metavar="BYTES", help="the file's size in bytes")
    artifact.add_argument("--unpack", action="store_true", help="unpack the archive (.tar.gz, .zip...) after verifying it")
    artifact.add_argument("--license", metavar="LICENSE", help="its licence, e.g. CC-BY-4.0")
    artifact.add_argument("--kind", choices=["dataset", "model", "other"], default="dataset", help="(default: dataset)")
    artifact.add_argument("--description", metavar="TEXT")
    for sub in (require, tool, artifact):
        sub.add_argument("--notebook", metavar="PATH", help="the notebook to declare in (%%reef: the running notebook)")
        sub.add_argument("--solution", metavar="PATH", help="the solution to declare in (default: the one whose workflows use the notebook)")



def _sharing_verbs(verb: Callable) -> None:
    """export / import / reproduce: artifact packages (reefnb.sharing.package, reefnb.analysis.reproduce)."""
    export = verb("export", "write a notebook or solution as a shareable package (NAME.reef.zip)")
    export.add_argument("source", nargs="?", metavar="NOTEBOOK|SOLUTION", help="a notebook, a solution folder or its solution.json "
                        "(%%reef: the running notebook)")
    export.add_argument("-o", "--output", required=True, metavar="NAME.reef.zip", help="the package file to write")
    export.add_argument("--include", action="append", default=[], metavar="PATH", help="also pack this file (repeatable)")
    export.add_argument("--author", action="append", default=[], metavar="NAME", help="an author (repeatable)")
    export.add_argument("--license", metavar="SPDX", help="the licence, e.g. Apache-2.0")
    export.add_argument("--paper", metavar="DOI", help="the paper's DOI")
    export.add_argument("--allow-secret-in-code", action="store_true", help="export even when a notebook's code holds a secret "
                        "(code is exported as written; outputs, records and parameters are scrubbed anyway)")
    export.add_argument("--no-files", dest="with_files", action="store_false", help="leave out the files the runs attached "
                        "(reefnb.attach; packed under results/RUN_ID/files/ by default)")
    export.add_argument("--strict", action="store_true", help="exit 1 when the export has warnings (files read from outside the "
                        "solution, imports not installed)")
    export.add_argument("--external", action="append", default=[], type=_name_and_path, metavar="NAME=PATH",
                        help="a file outside the solution (a path parameter's value) becomes artifact NAME, not packed: its sha256 "
                        "and size are recorded, the parameter names external/NAME/FILE, and whoever runs it supplies the file "
                        "(--artifact NAME=PATH); repeatable")
    import_ = verb("import", "check a package and extract it (runs nothing)")
    import_.add_argument("package", metavar="PACKAGE.reef.zip")
    import_.add_argument("-o", "--output", metavar="FOLDER", help="where to extract (default: ./NAME; must be new or empty)")
    reproduce = verb("reproduce", "rerun a package's or solution's expected experiments and judge every metric")
    reproduce.add_argument("source", metavar="PACKAGE|SOLUTION", help="a .reef.zip package, a solution folder or its solution.json")
    reproduce.add_argument("-w", "--workflow", help="only the expectations of this workflow")
    reproduce.add_argument("--tolerance-scale", type=scale, default=1.0, metavar="X", help="multiply every tolerance by X (default: 1)")
    reproduce.add_argument("--folder", metavar="FOLDER", help="import a package here (default: a new folder under $REEF_HOME/reproductions)")
    reproduce.add_argument("--trust", action="store_true", help="run a package's notebooks without asking")
    reproduce.add_argument("--report", metavar="FILE.html|json", help="write the HTML and JSON reports here, one beside the other "
                           "(default: reproduce-report.* in the solution folder)")
    reproduce.add_argument("--env", dest="environment", metavar="new|native|NAME",
                           help="where to run: new (a fresh environment with the lock's versions; the default for a package), "
                           "native (this python, nothing installed) or an existing reef environment")
    reproduce.add_argument("--find-links", action="append", default=[], metavar="DIR", help="--env new: also look for packages here")
    reproduce.add_argument("--no-index", action="store_true", help="--env new: install only from --find-links")
    reproduce.add_argument("--profile", metavar="NAME", help="only this profile's experiments, e.g. smoke (the kick-the-tires path) or full")
    reproduce.add_argument("--artifact", dest="artifacts", action="append", default=[], type=_name_and_path, metavar="NAME=PATH",
                           help="your copy of an artifact the package does not ship (see reef export --external), verified by "
                           "its sha256; repeatable")

def _registry_verbs(verb: Callable) -> None:
    """registry / publish / search / pull: git registries of published components (reefnb.sharing.registry)."""
    registry = verb("registry", "git registries of published solutions, datasets and models: add, list, remove, configure, forget")
    actions = registry.add_subparsers(dest="registry_verb", metavar="ACTION", parser_class=ReefArgumentParser, required=True)
    add = actions.add_parser("add", help="add a registry (a git URL or a repository folder) and clone it")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL")
    actions.add_parser("list", help="list the registries added here")
    remove = actions.add_parser("remove", help="forget a registry and delete its clone (its pins are kept)")
    remove.add_argument("name", metavar="NAME")
    configure = actions.add_parser("configure", help="set who may sign a registry's packages (reef-registry.json), and pin it here")
    configure.add_argument("name", metavar="NAME")
    configure.add_argument("--signer", action="append", default=[], metavar="ID=KEY.pub",
                           help="allow this identity (e.g. alice@example.org) with this OpenSSH public key; repeatable")
    configure.add_argument("--remove-signer", action="append", default=[], metavar="ID", help="no longer allow this identity")
    required = configure.add_mutually_exclusive_group()
    required.add_argument("--require-signatures", dest="require_signatures", action="store_true", default=None,
                          help="refuse unsigned packages, and packages signed by anyone not listed")
    required.add_argument("--no-require-signatures", dest="require_signatures", action="store_false",
                          help="accept unsigned packages (signed ones are still verified)")
    forget = actions.add_parser("forget", help="drop a pin: accept a version's new bytes (or a registry's new signers) on the next pull")
    forget.add_argument("spec", nargs="?", metavar="NAME@VERSION", help="the version whose pinned sha256 to forget")
    forget.add_argument("--signers", action="store_true", help="forget the registry's pinned signing policy")
    forget.add_argument("--registry", metavar="NAME", help="the registry (default: the only one added)")
    for sub in actions.choices.values():
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
    publish = verb("publish", "publish a package (NAME.reef.zip) in a registry; a published version never changes")
    publish.add_argument("package", metavar="PACKAGE.reef.zip")
    publish.add_argument("--registry", metavar="NAME", help="the registry (default: the only one added)")
    publish.add_argument("--sign", metavar="KEY", help="sign the package with this OpenSSH private key (ssh-keygen -Y sign, namespace reef)")
    search = verb("search", "find published components by name, kind, description or keyword")
    search.add_argument("text", nargs="?", default="", metavar="TEXT", help="words to match (default: list everything)")
    search.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")
    pull = verb("pull", "fetch a published component and what it needs (verified), and import them")
    pull.add_argument("spec", metavar="NAME[@VERSION|@RANGE]", help="e.g. hello-sweep, hello-sweep@1.2.0, hello-sweep@^1.2, 'x@>=1,<2'")
    pull.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")
    pull.add_argument("-o", "--output", metavar="FOLDER", help="import the component here (default: $REEF_HOME/solutions/NAME-VERSION)")
    pull.add_argument("--dry-run", action="store_true", help="resolve the versions only; fetch and import nothing")


def _sweep_options(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_mutually_exclusive_group()
    targets.add_argument("--env", dest="environments", nargs="+", metavar="E", help="run every point in each of these environments")
    targets.add_argument("--kernel", dest="kernels", nargs="+", metavar="K", help="run every point on each of these kernels")
    parser.add_argument("--jobs", "-j", type=count(1), metavar="N", help="parallel runs here (default: what cores and memory allow)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a Dask cluster: tcp://HOST:PORT, or local:N for a local one")
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS", help="limit for each run")
    parser.add_argument("--retries", type=count(0), default=0, metavar="N", help="try a run whose kernel died up to N more times")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first run that is not ok")
    parser.add_argument("--rerun", action="store_true", help="run points already recorded ok again")
    parser.add_argument("--no-telemetry", dest="telemetry", action="store_false", default=None,
                        help="do not sample each run's CPU, memory, disk, energy and GPU")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", dest="environment", metavar="NAME", help="run in this reef environment's kernel")
    parser.add_argument("--kernel", help="Jupyter kernel to run in (default: the environment reef init made, else the notebook's)")
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS", help="limit for the whole run")


# --- verbs: each returns (exit code, JSON-able result) and prints text through `out` ---


def cmd_validate(args, out: TextIO) -> tuple[int, Any]:
    from reefnb import load_solution

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
    from reefnb import run
    from reefnb.runs.processes import exclusive

    if args.resume:
        if args.solution or args.parameter or args.parameter_file:
            raise UsageError("reef run --resume RUN_ID takes its solution and parameters from that run: give neither")
        from reefnb.runs.execute import resume

        record = resume(args.resume, timeout=args.timeout, progress=not args.json and sys.stderr.isatty())
        if not args.json:
            print(format_record(record), file=out)
        return (EXIT_OK if record["status"] == "ok" else EXIT_RUN_FAILED), record
    if not args.solution:
        raise UsageError("reef run: give a SOLUTION (or --resume RUN_ID)")
    with exclusive():  # this process runs nothing else: orphans reparented to it during the run are the run's
        record = run(
            args.solution,
            checkpoint=args.checkpoint,
            workflow=args.workflow,
            parameters=dict(args.parameter),
            parameter_file=args.parameter_file,
            kernel=args.kernel,
            environment=args.environment,
            timeout=args.timeout,
            progress=not args.json and sys.stderr.isatty(),
            max_output=args.max_output,
            telemetry=args.telemetry,
            trace_files=args.trace_files,
        )
    if not args.json:
        print(format_record(record), file=out)
    return (EXIT_OK if record["status"] == "ok" else EXIT_RUN_FAILED), record


def cmd_sweep(args, out: TextIO) -> tuple[int, Any]:
    grid = {}
    if args.grid:
        from reefnb.solution.params import read_parameter_file

        grid = read_parameter_file(args.grid)
        bad = [name for name, values in grid.items() if not isinstance(values, list) or not values]
        if bad:
            raise UsageError(f"{args.grid}: /{bad[0]}: expected a non-empty list of values")
    for values in args.parameter:
        if len(values) < 2:
            raise UsageError(f"reef sweep: -p {values[0]} needs at least one value")
        grid[values[0]] = values[1:]
    return _sweep(args, out, workflow=args.workflow, grid=grid or None)


def cmd_benchmark(args, out: TextIO) -> tuple[int, Any]:
    return _sweep(args, out, workflow="benchmark", grid=None)


def _sweep(args, out: TextIO, workflow: str, grid: dict | None) -> tuple[int, Any]:
    from reefnb import sweep

    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=0, unit="run", desc="sweep", leave=False)

    def on_progress(state) -> None:
        if bar is not None:
            bar.total = state.total - state.skipped
            bar.n = state.done
            bar.set_postfix_str(f"ok {state.ok} failed {state.failed} running {state.running}", refresh=True)

    def on_record(record: dict) -> None:
        if not args.json:
            line = format_record(record, short=True)
            (bar.write(line, file=out) if bar is not None else print(line, file=out, flush=True))

    try:
        records = sweep(
            args.solution, workflow=workflow, grid=grid, environments=args.environments, kernels=args.kernels,
            jobs=args.jobs, scheduler=args.scheduler, timeout=args.timeout, retries=args.retries,
            fail_fast=args.fail_fast, rerun=args.rerun, progress=on_progress, on_record=on_record, telemetry=args.telemetry)
    finally:
        if bar is not None:
            bar.close()
    if not args.json:
        failed = sum(record["status"] != "ok" for record in records)
        print(f"{len(records)} runs, {len(records) - failed} ok, {failed} not ok, {records.skipped} skipped (recorded ok before)", file=out)
    return (EXIT_OK if all(record["status"] == "ok" for record in records) else EXIT_RUN_FAILED), list(records)


def cmd_params(args, out: TextIO) -> tuple[int, Any]:
    from reefnb import open_solution
    from reefnb.solution.notebook import notebook_language, notebook_parameters, parameters_schema, read_notebook

    solution = open_solution(args.source)
    notebook_path = solution.workflow(args.workflow).notebook
    notebook = read_notebook(notebook_path)
    parameters = notebook_parameters(notebook)
    schema = parameters_schema(parameters, title=f"parameters of {notebook_path.name}")
    language = notebook_language(notebook)
    if language != "python":
        schema["$comment"] = (f"a {language.capitalize()} notebook: the typed parameter contract (annotations, ranges, choices) is for Python "
                              "notebooks; these are its parameters cell's names and defaults, injected by papermill's translator")
    if not args.json:
        if language != "python":
            print(f"{notebook_path}: {schema['$comment']}", file=out)
        if not parameters:
            print(f"{notebook_path}: no cell tagged 'parameters'", file=out)
        for name, prop in schema["properties"].items():
            rules = ", ".join(f"{key} {prop[key]}" for key in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if key in prop)
            default = json.dumps(prop["default"]) if "default" in prop else parameters[name].default_source
            line = f"{name:<16} {prop.get('type', 'any'):<8} = {default:<14} {rules}"
            print((line + (f"  # {prop['description']}" if prop.get("description") else "")).rstrip(), file=out)
    return EXIT_OK, schema


def cmd_results(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.analysis.frame import results
    from reefnb.runs.store import default_store

    solution, columns = args.solution, args.columns
    if solution and (Path(solution) / "solution.json").is_file():
        from reefnb import load_solution

        loaded = load_solution(solution)
        solution = loaded.name
        if columns is None and not args.all_columns:
            columns = loaded.data.get("dashboard", {}).get("columns")
    if args.action:
        return _share_results(args, solution, out)
    if args.json or args.format == "json":
        return EXIT_OK, default_store().records(solution=solution, status=args.status, where=args.where, since=args.since)
    frame = results(solution=solution, status=args.status, where=args.where, since=args.since)
    if args.format == "csv":
        frame.to_csv(out, index=False)
    elif frame.empty:
        print("no runs recorded" + (f" for {solution}" if solution else ""), file=out)
    else:
        table = frame_for_display(frame, all_columns=args.all_columns, columns=columns, strict=args.columns is not None)
        text = table.to_markdown(index=False) if args.format == "markdown" else table.to_string(index=False)
        print(text, file=out)
    return EXIT_OK, None


def cmd_detect(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision import detection as detect

    python = None
    if args.environment:
        from reefnb.provision.envs import get_environment

        python = get_environment(args.environment).python
    names = None
    if args.extra:
        names = [*detect.default_detector_names(), *args.extra]
    fingerprint = detect.detect(names, python=python, env_name=args.environment, refresh=args.refresh)
    if not args.json:
        print(detect.format_fingerprint(fingerprint), file=out)
    return EXIT_OK, fingerprint


def cmd_init(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.install import InitError, plan_lines
    from reefnb.sharing.sources import init

    pip_options = [option for folder in args.find_links for option in ("--find-links", folder)]
    pip_options += ["--no-index"] if args.no_index else []
    shown = {}

    def on_plan(plan) -> None:
        shown["plan"] = plan
        if not args.json:
            print("\n".join(plan_lines(plan)), file=out, flush=True)

    progress = None if args.json or not sys.stderr.isatty() else _byte_progress()
    try:
        lock = init(args.source, env=args.environment, native=args.native, yes=args.yes, dry_run=args.dry_run,
                    offline=args.offline, pip_options=pip_options, on_plan=on_plan, progress=progress,
                    artifacts=args.artifacts, trust=args.trust)
    except InitError as error:
        if args.json:
            return error.exit_code, {"ok": False, "error": str(error), "plan": error.plan.as_dict()}
        raise
    plan = shown["plan"]
    if not args.json:
        if args.dry_run:
            print("dry run: nothing changed", file=out)
        else:
            kernel = lock["environment"]["kernel"]
            print(f"ready: {plan.solution.name} in {lock['environment']['path']}" + (f" (kernel {kernel})" if kernel else ""), file=out)
    return EXIT_OK, {"ok": True, "plan": plan.as_dict(), "lock": lock}


def _byte_progress():
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


def cmd_env(args, out: TextIO) -> tuple[int, Any]:
    from dataclasses import asdict

    from reefnb.provision import envs

    if args.env_verb == "create":
        pip_options = [option for folder in args.find_links for option in ("--find-links", folder)]
        pip_options += ["--no-index"] if args.no_index else []
        environment = envs.create_environment(args.name, args.packages, python=args.python, pip_options=pip_options, replace=args.replace)
        if not args.json:
            print(f"created {environment.name}: python {environment.python_version}, kernel {environment.kernel}, {environment.path}", file=out)
        return EXIT_OK, asdict(environment)
    if args.env_verb == "remove":
        envs.remove_environment(args.name)
        if not args.json:
            print(f"removed {args.name}", file=out)
        return EXIT_OK, {"removed": args.name}
    environments = envs.list_environments()
    if not args.json:
        if not environments:
            print("no environments (create one with `reef env create NAME PKG...`)", file=out)
        for environment in environments:
            packages = " ".join(environment.packages) or "-"
            print(f"{environment.name:<20} python {environment.python_version:<8} kernel {environment.kernel:<24} {packages}", file=out)
    return EXIT_OK, [asdict(environment) for environment in environments]


def cmd_ls(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.initialised import list_solutions

    solutions = list_solutions()
    if not args.json:
        if not solutions:
            print("no solutions initialised (run `reef init FOLDER`)", file=out)
        for entry in solutions:
            size = _size(entry["environment_bytes"] + entry["solution_bytes"])
            missing = "" if entry["exists"] else "  (folder missing)"
            print(f"{entry['name']:<24} {entry['version']:<10} env {entry['environment'] or '(native)':<20} {size:>9}  {entry['path']}{missing}", file=out)
    return EXIT_OK, solutions


def cmd_find(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.initialised import find_solution

    entry = find_solution(args.name)
    if not args.json:
        print(entry["path"], file=out)
    return EXIT_OK, entry


def cmd_activate(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.initialised import activation

    result = activation(args.name)
    if not args.json:
        print(result["source"], file=out)
    return EXIT_OK, result


def cmd_rm(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.initialised import remove_solution

    removed = remove_solution(args.name)
    if not args.json:
        what = [f"environment {removed['environment']}"] if removed["environment"] else []
        what += [f"folder {removed['folder']}"] if removed["folder"] else []
        print(f"removed {args.name}" + (f" ({', '.join(what)})" if what else ""), file=out)
    return EXIT_OK, removed


def cmd_require(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.declare import declare_packages

    return _declared(args, out, declare_packages(args.packages, notebook=args.notebook, solution=args.solution, remove=args.remove))


def cmd_tool(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.declare import declare_tools

    return _declared(args, out, declare_tools(args.tools, notebook=args.notebook, solution=args.solution, remove=args.remove))


def cmd_artifact(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.provision.declare import artifact_spec, declare_artifact

    spec = artifact_spec(args.urls, args.sha256, size=args.size, unpack=args.unpack, license=args.license, kind=args.kind,
                         description=args.description)
    return _declared(args, out, declare_artifact(args.name, spec, notebook=args.notebook, solution=args.solution))



def cmd_export(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.package import export_package

    if args.source is None:
        raise UsageError("reef export: give the NOTEBOOK or SOLUTION to export")
    summary = export_package(args.source, args.output, include=args.include, authors=args.author, license=args.license,
                             paper=args.paper, allow_secret_in_code=args.allow_secret_in_code, external=dict(args.external),
                             with_files=args.with_files)
    warnings = summary["warnings"]
    if not args.json:
        for warning in warnings:
            print(f"warning: {warning}", file=out)
        print(f"{summary['package']}: {summary['solution']}, {len(summary['members'])} files, {len(summary['runs'])} runs, "
              f"{len(summary['expected'])} expected results (sha256 {summary['sha256'][:12]})", file=out)
        if warnings:
            print(f"exported with {len(warnings)} warning{'s' if len(warnings) != 1 else ''}", file=out)
    return (EXIT_RUN_FAILED if warnings and args.strict else EXIT_OK), summary


def cmd_import(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.package import import_package

    folder = import_package(args.package, args.output)
    if not args.json:
        print(f"{args.package}: verified and extracted into {folder} (nothing was run)", file=out)
    return EXIT_OK, {"package": args.package, "folder": str(folder)}


def cmd_reproduce(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.analysis.reproduce import REPRODUCED, report_lines, reproduce
    from reefnb.sharing.package import is_package

    trust = args.trust
    if is_package(args.source) and not trust and sys.stdin.isatty() and not args.json:
        try:
            answer = input(f"{args.source}: run its notebooks on this machine? They are code from elsewhere [y/N] ")
        except EOFError:  # Ctrl-D, or a closed terminal: no
            answer = ""
            print(file=out)
        trust = answer.strip().lower() in ("y", "yes")
        if not trust:
            raise ReefError(f"{args.source}: not trusted; nothing was run")
    pip_options = [option for folder in args.find_links for option in ("--find-links", folder)]
    pip_options += ["--no-index"] if args.no_index else []

    def on_plan(plan) -> None:
        if not args.json:
            from reefnb.provision.install import plan_lines

            print("\n".join(plan_lines(plan)), file=out, flush=True)

    report = reproduce(args.source, workflow=args.workflow, tolerance_scale=args.tolerance_scale, folder=args.folder, trust=trust,
                       report=args.report, profile=args.profile, env=args.environment, pip_options=pip_options, on_plan=on_plan,
                       artifacts=dict(args.artifacts))
    if not args.json:
        print("\n".join(report_lines(report)), file=out)
    return (EXIT_OK if report["verdict"] == REPRODUCED else EXIT_RUN_FAILED), report


def _name_and_path(text: str) -> tuple[str, str]:
    """``NAME=PATH`` (an --external or --artifact value)."""
    name, equals, path = text.partition("=")
    if not (equals and name and path):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH")
    return name, path


def _declared(args, out: TextIO, declaration) -> tuple[int, Any]:
    """A declaration is stored even when it is not met here: the lines say so, the exit code stays 0."""
    from reefnb.provision.declare import declaration_lines

    if not args.json:
        print("\n".join(declaration_lines(declaration)), file=out)
    return EXIT_OK, declaration.as_dict()


def _size(count: int) -> str:
    from reefnb.provision.artifacts import format_size

    return format_size(count)


def results_with_solution(argument: str | None):
    """The results frame for ``--solution`` (a name or a folder), and the Solution that gives them their
    meaning: the folder's, else one initialised here or pulled with results under that name."""
    from reefnb.analysis.frame import results_and_solution

    return results_and_solution(argument)


def _objectives_from_args(args, frame, solution) -> dict[str, str]:
    from reefnb.analysis.dashboard import default_objectives

    objectives = {name: "min" for name in args.min}
    objectives.update({name: "max" for name in args.max})
    if not objectives:
        objectives = default_objectives(solution, frame)
    if not objectives:
        metrics = ", ".join(c for c in frame.columns if c.startswith("metric.")) or "none"
        raise UsageError(f"name the objectives with --min/--max METRIC (metric columns: {metrics})")
    return objectives


def cmd_pareto(args, out: TextIO) -> tuple[int, Any]:
    import warnings

    from reefnb.analysis.dashboard import declared_objectives, format_metric
    from reefnb.analysis.frame import metric_meaning
    from reefnb.analysis.pareto import normalise_objectives, pareto_front

    frame, solution = results_with_solution(args.solution)
    frame = frame[frame["status"] == "ok"] if len(frame) else frame
    metrics = metric_meaning(solution, frame)  # units, goals, formats: the manifest's, else the records'
    if frame.empty:
        raise ReefError("no ok runs recorded" + (f" for {args.solution}" if args.solution else "") + ": no frontier")
    objectives = normalise_objectives(frame, _objectives_from_args(args, frame, solution))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        front = pareto_front(frame, objectives)
    for warning in caught:
        logging.getLogger("reefnb").warning(str(warning.message))
    columns = [c for c in ["run_id", "env.name", *(c for c in frame.columns if c.startswith("param.")), *objectives] if c in front]
    plot = None
    if args.plot:
        from reefnb.analysis.plots import pareto_chart, save_chart

        if len(objectives) < 2:
            raise UsageError("--plot needs two objectives")
        x, y = list(objectives)[:2]
        chart = pareto_chart(frame, x, y, directions=declared_objectives(objectives, metrics, [*args.min, *args.max]), color=args.color,
                             log_x="x" in (args.log or ""), log_y="y" in (args.log or ""))
        plot = str(save_chart(chart, args.plot))
    result = {"objectives": objectives, "runs": len(frame), "front": json.loads(front[columns].to_json(orient="records")), "plot": plot}
    if args.json or args.format == "json":
        return EXIT_OK, result
    if args.format == "csv":
        front[columns].to_csv(out, index=False)
    else:
        units = {**frame.attrs.get("units", {}), **{f"metric.{name}": spec["unit"] for name, spec in metrics.items() if spec.get("unit")}}
        table = front[columns].copy()
        for column in columns:  # numbers in the declared format (the unit goes in the header)
            fmt = metrics.get(column.removeprefix("metric."), {}).get("format") if column.startswith("metric.") else None
            if fmt:
                table[column] = [format_metric(value, {"format": fmt}) for value in table[column]]
        table = table.rename(columns={c: f"{c} [{units[c]}]" for c in columns if c in units})
        declared = declared_objectives(objectives, metrics, [*args.min, *args.max])
        print(f"{len(front)} of {len(frame)} ok runs on the frontier of "
              + ", ".join(f"{d} {c}" + ("" if c in declared else " (assumed: no goal declared)") for c, d in objectives.items()), file=out)
        print(table.to_string(index=False), file=out)
    if plot:
        print(f"plot: {plot}", file=out)
    return EXIT_OK, result


def cmd_dashboard(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.analysis.dashboard import build_dashboard, require_runs

    frame, solution = results_with_solution(args.solution)
    require_runs(frame, args.solution)
    objectives = None
    if args.min or args.max:
        from reefnb.analysis.pareto import normalise_objectives

        objectives = normalise_objectives(frame, _objectives_from_args(args, frame, solution))
    path = build_dashboard(frame, args.output, solution=solution, objectives=objectives)
    if not args.json:
        print(f"dashboard: {path} ({len(frame)} runs)", file=out)
    return EXIT_OK, {"path": str(path), "runs": len(frame)}


def frame_for_display(frame, all_columns: bool = False, columns: list[str] | None = None, strict: bool = True):
    """The results frame trimmed for reading: run id, status, then ``columns`` (a metric's bare name
    is enough; with ``strict`` an unknown one is a UsageError, else it is left out), or every
    parameter and metric (and ``env.*`` with ``all_columns``)."""
    if columns:
        chosen = ["run_id", "status"]
        for name in columns:
            found = next((c for c in (name, f"metric.{name}", f"param.{name}") if c in frame.columns), None)
            if found is None and strict:
                known = ", ".join(c for c in frame.columns if c.startswith(("param.", "metric."))) or "none"
                raise UsageError(f"--columns: no column '{name}' in the results (columns: {known})")
            if found is not None and found not in chosen:
                chosen.append(found)
        columns = chosen
    else:
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
    from reefnb.kernel.recording import decode_value

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
    if record.get("system"):
        from reefnb.runs.telemetry import summary_line

        lines.append(f"  system: {summary_line(record['system'])}")
    if record.get("files") or record.get("files_refused"):
        from reefnb.runs.attachments import attachment_lines

        lines += attachment_lines(record)
    return "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _share_results(args, solution: str | None, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.registry import pull_results, push_results

    if args.action == "push":
        from reefnb.provision.artifacts import parse_size

        result = push_results(solution=solution, registry=args.registry, identify=args.identify, with_files=args.with_files,
                              files_limit=parse_size(args.files_limit, "--files-limit"))
        if not args.json:
            files = f", {result['files']} attached files" if args.with_files else ""
            print(f"registry {result['registry']}: {result['pushed']} runs shared as {result['contributor']}"
                  f" ({result['already']} were already there){files}", file=out)
            for problem in result.get("files_left_out", []):
                print(f"warning: {problem}", file=out)
    else:
        result = pull_results(solution=solution, registry=args.registry)
        if not args.json:
            refused = f", {len(result['refused'])} files refused (see the warnings)" if result["refused"] else ""
            print(f"{result['records']} shared runs, {result['new']} new here{refused}", file=out)
    return EXIT_OK, result


def cmd_registry(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.registry import add_registry, configure, forget, list_registries, remove_registry

    if args.registry_verb == "add":
        result = add_registry(args.name, args.url)
        text = f"added registry {result['name']}: {result['url']} (clone: {result['path']})"
    elif args.registry_verb == "remove":
        result = remove_registry(args.name)
        text = f"removed registry {result['name']} ({result['url']}); the registry itself is untouched"
    elif args.registry_verb == "configure":
        signers = {}
        for text in args.signer:
            identity, equals, key = text.partition("=")
            if not equals or not identity or not key:
                raise ReefError(f"--signer {text}: expected ID=KEY.pub, e.g. alice@example.org=~/.ssh/id_ed25519.pub")
            signers[identity] = key
        result = configure(args.name, signers, args.remove_signer, args.require_signatures)
        listed = ", ".join(signer["identity"] for signer in result["signers"]) or "none"
        text = (f"registry {result['registry']}: signers {listed}; signatures "
                f"{'required' if result['require_signatures'] else 'not required'}{'' if result['changed'] else ' (unchanged)'}")
    elif args.registry_verb == "forget":
        result = forget(args.spec, registry=args.registry, signers=args.signers)
        text = "\n".join(f"registry {entry['registry']}: forgot the pin of {entry['forgot']}" for entry in result)
    else:
        result = list_registries()
        text = "\n".join(f"{entry['name']:<16} {entry['components']:>4} components  {entry['url']}" for entry in result) \
            or "no registries (add one with `reef registry add NAME URL`)"
    if not args.json:
        print(text, file=out)
    return EXIT_OK, result


def cmd_publish(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.registry import publish

    result = publish(args.package, registry=args.registry, sign=args.sign)
    if not args.json:
        what = "published" if result["published"] else "already published with the same bytes: nothing to do"
        what += f", signed by {result['signer']}" if result["signer"] else ", signed" if result["signed"] else ""
        print(f"{result['name']}@{result['version']} ({result['kind']}, sha256 {result['sha256'][:12]}) in registry "
              f"{result['registry']}: {what}", file=out)
    return EXIT_OK, result


def cmd_search(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.registry import search

    found = search(args.text, registry=args.registry)
    if not args.json:
        for entry in found:
            print(f"{entry['name']:<24} {entry['latest']:<10} {entry['kind']:<8} {entry['registry']:<12} {entry['description']}".rstrip(),
                  file=out)
        if not found:
            print("nothing found" + (f" for '{args.text}'" if args.text else ""), file=out)
    return EXIT_OK, found


def cmd_pull(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.sharing.registry import pull

    result = pull(args.spec, registry=args.registry, target=args.output, dry_run=args.dry_run)
    if not args.json:
        for entry in result["components"]:
            where = entry.get("folder") or "(dry run: not fetched)"
            signed = f", signed by {entry['signer']}" if entry.get("signer") else ""
            print(f"{entry['name']}@{entry['version']} from {entry['registry']} (sha256 {entry['sha256'][:12]}{signed}): {where}", file=out)
    return EXIT_OK, result


def _serve_verb(verb: Callable) -> None:
    serve = verb("serve", "serve a solution's actions over HTTP: GET /v1/actions, POST /v1/actions/NAME, /healthz, /demo")
    serve.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=count(0), default=8765, help="port (default: 8765; 0 picks a free one)")
    serve.add_argument("--token", help="the bearer token clients send (default: a new random one, printed)")
    serve.add_argument("--workers", type=count(1), default=1, metavar="N", help="worker processes running the actions (default: 1)")
    serve.add_argument("--env", dest="environment", metavar="NAME|PYTHON|native", help="run the actions in this reef environment "
                       "or python (default: the one reef init made)")
    serve.add_argument("--max-body-mb", type=scale, default=20, metavar="MB", help="largest request body (default: 20)")
    serve.add_argument("--trust", action="store_true", help="run the actions of a solution imported from a package or registry")


def cmd_serve(args, out: TextIO) -> tuple[int, Any]:
    from reefnb.frontends.serve import ServeOptions, serve

    options = ServeOptions(host=args.host, port=args.port, token=args.token, workers=args.workers, env=args.environment,
                           trust=args.trust, max_body_bytes=int(args.max_body_mb * 1024 * 1024))
    logging.getLogger("reefnb.frontends.serve").setLevel(logging.INFO)
    logging.getLogger("reefnb.actions.api").setLevel(logging.INFO)
    ready = {}

    def on_ready(info: dict) -> None:
        ready.update(info)
        if args.json:
            print(json.dumps(info), file=out, flush=True)
            return
        print(f"serving {info['solution']} ({', '.join(info['actions'])}) on {info['url']} with {info['workers']} worker(s)", file=out)
        print(f"token: {info['token']}", file=out)
        if info["demo"]:
            print(f"demo: {info['demo']}", file=out)
        print(f"try: curl -H 'Authorization: Bearer {info['token']}' {info['url']}/v1/actions", file=out, flush=True)

    serve(args.solution, options, on_ready)
    args.json = False  # the ready line was the JSON
    return EXIT_OK, ready


COMMANDS: dict[str, Callable] = {
    "validate": cmd_validate,
    "run": cmd_run,
    "sweep": cmd_sweep,
    "benchmark": cmd_benchmark,
    "results": cmd_results,
    "params": cmd_params,
    "detect": cmd_detect,
    "init": cmd_init,
    "env": cmd_env,
    "ls": cmd_ls,
    "find": cmd_find,
    "activate": cmd_activate,
    "rm": cmd_rm,
    "require": cmd_require,
    "tool": cmd_tool,
    "artifact": cmd_artifact,
    "pareto": cmd_pareto,
    "dashboard": cmd_dashboard,
    "export": cmd_export,
    "import": cmd_import,
    "reproduce": cmd_reproduce,
    "registry": cmd_registry,
    "publish": cmd_publish,
    "search": cmd_search,
    "pull": cmd_pull,
    "serve": cmd_serve,
}


def _abandoned_cell_task(record: logging.LogRecord) -> bool:
    """Drop asyncio's "Task exception was never retrieved" for a cell whose kernel was stopped under it
    (Ctrl-C, a timeout): the run's outcome is reported once, as one line, not as a traceback."""
    exception = record.exc_info[1] if record.exc_info else None
    return not (exception is not None and type(exception).__name__ in ("DeadKernelError", "CancelledError", "KeyboardInterrupt"))


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``reef ARGS``: the exit code. Quiets papermill, traitlets and nbclient while it runs and puts their
    levels back after, so a process that calls it (a kernel, a test) keeps its own logging."""
    out = out or sys.stdout
    err = err or sys.stderr
    logging.basicConfig(level=logging.WARNING, format="reef: %(levelname)s: %(message)s", stream=err)
    noisy = {name: logging.getLogger(name).level for name in ("papermill", "traitlets", "nbclient")}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").addFilter(_abandoned_cell_task)
    try:
        return _main(argv, out, err)
    finally:
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger("asyncio").removeFilter(_abandoned_cell_task)


def _main(argv: list[str] | None, out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            from reefnb.common.version import __version__

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
