"""The grammar of reef's verbs: the one parser the ``reef`` command and the ``%reef`` magic share.

``build_parser()`` gives an argparse parser that raises ``UsageError`` instead of exiting. It imports
nothing but argparse and reefnb's exceptions, so that ``reef --help`` and a usage mistake answer at once;
the core is loaded only once a verb is known (``reefnb.frontends.cli``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from typing import Any, TypeVar

from reefnb.common.exceptions import EXIT_FAILED, EXIT_USAGE, UsageError

EXIT_OK, EXIT_RUN_FAILED, EXIT_INTERRUPTED = 0, EXIT_FAILED, 130
RESULT_FORMATS = ("table", "csv", "json", "markdown")
MAX_TIMEOUT_S = 366 * 24 * 3600  # a year: longer limits overflow the clocks they are handed to

Options = TypeVar("Options")
__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "ReefArgumentParser",
    "UsageError",
    "build_parser",
    "options_from",
]


class ReefArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the magic can reuse it."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def options_from(options_class: type[Options], args: argparse.Namespace, **overrides: Any) -> Options:
    """An options dataclass of the command layer filled from parsed arguments of the same names (then ``overrides``):
    an option the parser gains reaches the command layer without a change in the front ends."""
    names = {spec.name for spec in dataclasses.fields(options_class)}
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return options_class(**(values | overrides))


# --- argument types ---


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


def name_and_path(text: str) -> tuple[str, str]:
    """An argparse type: ``NAME=PATH`` (an --external or --artifact value)."""
    name, equals, path = text.partition("=")
    if not (equals and name and path):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH")
    return name, path


def identity_and_key(text: str) -> tuple[str, str]:
    """An argparse type: ``ID=KEY.pub`` (a --signer value)."""
    identity, equals, key = text.partition("=")
    if not (equals and identity and key):
        raise argparse.ArgumentTypeError(f"{text!r}: expected ID=KEY.pub, e.g. alice@example.org=~/.ssh/id_ed25519.pub")
    return identity, key


# --- the parser ---

Verb = Callable[[str, str], argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``reef [--version] VERB [OPTIONS]``: every verb takes ``--json``."""
    parser = ReefArgumentParser(prog="reef", description="Reproducible, parameterised notebook experiments.")
    parser.add_argument("--version", action="store_true", help="print reefnb's version and exit")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=ReefArgumentParser)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help)
        _json_option(sub)
        return sub

    for add_verbs in (
        _running_verbs,
        _results_verb,
        _provisioning_verbs,
        _environment_verb,
        _local_verbs,
        _analysis_verbs,
        _declaring_verbs,
        _package_verbs,
        _reproduce_verb,
        _mlperf_verb,
        _registry_verb,
        _published_verbs,
        _serve_verb,
    ):
        add_verbs(verb)
    return parser


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _actions(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """The sub-verbs of a verb (``reef env create``...); each takes ``--json`` too (``_with_json``)."""
    return parser.add_subparsers(dest=dest, metavar="ACTION", parser_class=ReefArgumentParser, required=True)


def _with_json(actions: argparse._SubParsersAction) -> None:
    for sub in actions.choices.values():
        _json_option(sub)


def _find_links_options(parser: argparse.ArgumentParser, when: str = "") -> None:
    """``--find-links DIR`` (repeatable) and ``--no-index``: where the installer looks for packages."""
    parser.add_argument(
        "--find-links",
        action="append",
        default=[],
        metavar="DIR",
        help=f"{when}also look for packages here (repeatable)",
    )
    parser.add_argument("--no-index", action="store_true", help=f"{when}install only from --find-links")


def _running_verbs(verb: Verb) -> None:
    """validate / run / sweep / benchmark / params: a solution's workflows (reefnb.runs)."""
    validate = verb("validate", "check a solution manifest and its notebooks")
    validate.add_argument("path", metavar="PATH", help="a solution folder or its solution.json")
    _run_verb(verb("run", "execute a workflow's notebook with parameters and record the run"))
    sweep = verb("sweep", "run a workflow once per point of a parameter grid")
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
    _sweep_options(sweep)
    benchmark = verb("benchmark", "run the benchmark workflow over its sweep grid from the manifest")
    benchmark.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    _sweep_options(benchmark)
    params = verb("params", "print a notebook's typed parameters (a JSON Schema with --json)")
    params.add_argument(
        "source", metavar="NOTEBOOK|SOLUTION", help="a notebook, a solution folder or its solution.json"
    )
    params.add_argument(
        "-w",
        "--workflow",
        help="the workflow whose notebook to read (default: run; for a notebook, the workflow of its solution that runs it)",
    )


TRUST_FOLDER_HELP = "run a folder made from a package (reef import, init, pull, reproduce) whose trust was not recorded (README: Security model)"


def _parameter_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``-p NAME VALUE`` (repeatable), gathered as ``[[NAME, VALUE], ...]`` in ``parameter``."""
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help=help)


def _run_verb(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "solution", metavar="SOLUTION", nargs="?", help="a solution folder, its solution.json, or a notebook"
    )
    run.add_argument("-w", "--workflow", default="run", help="workflow to run (default: run)")
    _parameter_option(run, "set a parameter (repeatable); cast to the type of the parameters cell")
    run.add_argument("-f", "--parameter-file", metavar="PARAMS.json|yaml", help="parameters from a JSON or YAML file")
    run.add_argument(
        "--checkpoint", action="store_true", help="keep the kernel's state after each cell, so a failure can be resumed"
    )
    run.add_argument("--resume", metavar="RUN_ID", help="run a failed run again from its last checkpoint")
    run.add_argument(
        "--no-telemetry",
        dest="telemetry",
        action="store_false",
        default=None,
        help="do not sample the run's CPU, memory, disk, energy and GPU (default: every 200 ms)",
    )
    run.add_argument(
        "--no-trace-files",
        dest="trace_files",
        action="store_false",
        help="do not record the files the kernel reads (an audit hook; reef export packs them; sweeps never record them)",
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


def _sweep_options(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS", help="limit for each run")
    parser.add_argument(
        "--retries", type=count(0), default=0, metavar="N", help="try a run whose kernel died up to N more times"
    )
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first run that is not ok")
    parser.add_argument("--rerun", action="store_true", help="run points already recorded ok again")
    parser.add_argument(
        "--no-telemetry",
        dest="telemetry",
        action="store_false",
        default=None,
        help="do not sample each run's CPU, memory, disk, energy and GPU",
    )
    parser.add_argument("--trust", action="store_true", help=TRUST_FOLDER_HELP)


def _results_verb(verb: Verb) -> None:
    """results [push|pull]: the recorded runs (reefnb.analysis.frame), shared through registries (reefnb.sharing.registry)."""
    results = verb("results", "show recorded runs; `results push|pull` shares them through a registry")
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


def _provisioning_verbs(verb: Verb) -> None:
    """detect / init: what this machine has, and what a solution needs installed (reefnb.provision)."""
    detect = verb("detect", "print this machine's and an environment's fingerprint")
    detect.add_argument(
        "--env", dest="environment", metavar="NAME", help="inspect this reef environment (default: the current python)"
    )
    detect.add_argument("--refresh", action="store_true", help="ignore the cache")
    detect.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="DETECTOR",
        help="also run an on-request detector (e.g. tensorflow)",
    )
    init = verb("init", "check a solution's requirements, then install what is missing")
    init.add_argument(
        "source",
        metavar="SOURCE",
        help="a solution folder, its solution.json, a .reef.zip package or NAME[@RANGE] "
        "from a registry (verified, then imported into $REEF_HOME/solutions/NAME-VERSION)",
    )
    where = init.add_mutually_exclusive_group()
    where.add_argument(
        "--env",
        dest="environment",
        metavar="NAME",
        help="the environment to make or update (default: the solution's name)",
    )
    where.add_argument("--native", action="store_true", help="install into the current python environment instead")
    init.add_argument("--yes", "-y", action="store_true", help="allow --native to replace installed packages")
    init.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    init.add_argument(
        "--offline", action="store_true", help="no downloads: use cached, fallback or generated artifacts"
    )
    _find_links_options(init)
    init.add_argument(
        "--trust",
        action="store_true",
        help="a package's own code may run (artifact generators) and its requirements may be URLs, unpinned, unhashed or sdists; "
        "recorded in its folder, so run, sweep and serve take it after (README: Security model)",
    )
    init.add_argument(
        "--artifact",
        dest="artifacts",
        action="append",
        default=[],
        metavar="NAME[=PATH]",
        help="also fetch this on-demand artifact now; NAME=PATH: take it from your file, verified by its sha256 "
        "(an artifact the package does not ship); repeatable",
    )


def _environment_verb(verb: Verb) -> None:
    """env create|list|remove: named environments with a Jupyter kernel (reefnb.provision.envs)."""
    actions = _actions(verb("env", "named environments: create, list, remove"), "env_verb")
    create = actions.add_parser("create", help="create an environment with packages and a Jupyter kernel")
    create.add_argument("name", metavar="NAME")
    create.add_argument("packages", nargs="*", metavar="PKG", help="PEP 508 requirements")
    create.add_argument("--python", help="base interpreter (default: this one)")
    create.add_argument("--replace", action="store_true", help="replace an existing environment of that name")
    _find_links_options(create)
    actions.add_parser("list", help="list environments")
    remove = actions.add_parser("remove", help="remove an environment and its kernel")
    remove.add_argument("name", metavar="NAME")
    _with_json(actions)


def _local_verbs(verb: Verb) -> None:
    """ls / find / activate / rm: the solutions initialised on this machine (reefnb.provision.initialised)."""
    verb("ls", "list the solutions initialised on this machine")
    verb("find", "print where an initialised solution lives").add_argument("name", metavar="NAME")
    verb("activate", "print the line that activates a solution's environment").add_argument("name", metavar="NAME")
    verb("rm", "forget a solution and remove its environment (never the download cache)").add_argument(
        "name", metavar="NAME"
    )


def _objective_options(parser: argparse.ArgumentParser, minimise: str, maximise: str) -> None:
    parser.add_argument(
        "--min", dest="minimise", nargs="+", action="extend", default=[], metavar="METRIC", help=minimise
    )
    parser.add_argument(
        "--max", dest="maximise", nargs="+", action="extend", default=[], metavar="METRIC", help=maximise
    )


def _analysis_verbs(verb: Verb) -> None:
    """pareto / dashboard: analyse the recorded runs (reefnb.analysis.pareto, reefnb.analysis.plots, reefnb.analysis.dashboard)."""
    pareto = verb("pareto", "the Pareto frontier of the ok runs: the best trade-offs between metrics")
    pareto.add_argument(
        "--solution", "-s", help="only the runs of this solution (name or folder; a folder gives default objectives)"
    )
    _objective_options(pareto, "metrics to minimise (metric.NAME or NAME)", "metrics to maximise")
    pareto.add_argument(
        "--plot", metavar="FILE.html|png|svg", help="also draw the first two objectives (offline HTML, PNG or SVG)"
    )
    pareto.add_argument(
        "--color",
        metavar="COLUMN",
        help="colour the plot's points by this column (default: the manifest's dashboard colour, else env.name)",
    )
    pareto.add_argument("--log", choices=["x", "y", "xy"], help="log scale on these plot axes")
    pareto.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="output format (default: table)"
    )
    dashboard = verb(
        "dashboard", "write an offline HTML dashboard of the recorded runs (charts, summaries, run details)"
    )
    dashboard.add_argument(
        "--solution",
        "-s",
        help="only the runs of this solution (name or folder; a folder gives the manifest's defaults)",
    )
    dashboard.add_argument(
        "-o",
        "--output",
        default="dashboard.html",
        metavar="FILE.html",
        help="where to write it (default: dashboard.html)",
    )
    _objective_options(dashboard, "objectives to minimise (default: the manifest's)", "objectives to maximise")


def _declaring_verbs(verb: Verb) -> None:
    """require / tool / artifact: what a notebook needs, stored in its metadata.reef and its solution.json."""
    require = verb("require", "declare packages a notebook needs (in its metadata.reef, and its solution.json)")
    require.add_argument("packages", nargs="+", metavar="PKG-SPEC", help="PEP 508 requirements, e.g. 'numpy>=1.24'")
    tool = verb("tool", "declare command-line tools a notebook needs, e.g. gcc>=9")
    tool.add_argument(
        "tools",
        nargs="+",
        metavar="NAME[SPEC]",
        help="a tool reef knows (gcc, cmake, git...) and an optional version range",
    )
    for sub in (require, tool):
        sub.add_argument("--remove", action="store_true", help="remove these declarations (by name) instead")
    artifact = verb("artifact", "declare a dataset or model a notebook needs (reef init downloads and verifies it)")
    artifact.add_argument("name", metavar="NAME")
    artifact.add_argument(
        "urls", nargs="+", metavar="URL", help="where to download it (http, https or file); more URLs are mirrors"
    )
    artifact.add_argument(
        "--sha256", required=True, metavar="HEX", help="the file's sha256: every download is verified"
    )
    artifact.add_argument("--size", type=int, metavar="BYTES", help="the file's size in bytes")
    artifact.add_argument(
        "--unpack", action="store_true", help="unpack the archive (.tar.gz, .zip...) after verifying it"
    )
    artifact.add_argument("--license", metavar="LICENSE", help="its licence, e.g. CC-BY-4.0")
    artifact.add_argument("--kind", choices=["dataset", "model", "other"], default="dataset", help="(default: dataset)")
    artifact.add_argument("--description", metavar="TEXT")
    for sub in (require, tool, artifact):
        sub.add_argument("--notebook", metavar="PATH", help="the notebook to declare in (%%reef: the running notebook)")
        sub.add_argument(
            "--solution",
            metavar="PATH",
            help="the solution to declare in (default: the one whose workflows use the notebook)",
        )


def _package_verbs(verb: Verb) -> None:
    """export / import: artifact packages (reefnb.sharing.package)."""
    export = verb("export", "write a notebook or solution as a shareable package (NAME.reef.zip)")
    export.add_argument(
        "source",
        nargs="?",
        metavar="NOTEBOOK|SOLUTION",
        help="a notebook, a solution folder or its solution.json (%%reef: the running notebook)",
    )
    export.add_argument("-o", "--output", required=True, metavar="NAME.reef.zip", help="the package file to write")
    export.add_argument(
        "--include", action="append", default=[], metavar="PATH", help="also pack this file (repeatable)"
    )
    export.add_argument(
        "--author", dest="authors", action="append", default=[], metavar="NAME", help="an author (repeatable)"
    )
    export.add_argument("--license", metavar="SPDX", help="the licence, e.g. Apache-2.0")
    export.add_argument("--paper", metavar="DOI", help="the paper's DOI")
    export.add_argument(
        "--allow-secret-in-code",
        action="store_true",
        help="export even when a notebook's code holds a secret (code is exported as written; outputs, records and parameters are scrubbed anyway)",
    )
    export.add_argument(
        "--no-files",
        dest="with_files",
        action="store_false",
        help="leave out the files the runs attached (reefnb.attach; packed under results/RUN_ID/files/ by default)",
    )
    export.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the export has warnings (files read from outside the solution, imports not installed)",
    )
    export.add_argument(
        "--external",
        action="append",
        default=[],
        type=name_and_path,
        metavar="NAME=PATH",
        help="a file outside the solution (a path parameter's value) becomes artifact NAME, not packed: its sha256 "
        "and size are recorded, the parameter names external/NAME/FILE, and whoever runs it supplies the file "
        "(--artifact NAME=PATH); repeatable",
    )
    import_ = verb("import", "check a package and extract it (runs nothing)")
    import_.add_argument("package", metavar="PACKAGE.reef.zip")
    import_.add_argument(
        "-o", "--output", metavar="FOLDER", help="where to extract (default: ./NAME; must be new or empty)"
    )


def _reproduce_verb(verb: Verb) -> None:
    """reproduce: rerun a package's expected experiments and judge them (reefnb.analysis.reproduce)."""
    reproduce = verb("reproduce", "rerun a package's or solution's expected experiments and judge every metric")
    reproduce.add_argument(
        "source", metavar="PACKAGE|SOLUTION", help="a .reef.zip package, a solution folder or its solution.json"
    )
    reproduce.add_argument("-w", "--workflow", help="only the expectations of this workflow")
    reproduce.add_argument(
        "--tolerance-scale", type=scale, default=1.0, metavar="X", help="multiply every tolerance by X (default: 1)"
    )
    reproduce.add_argument(
        "--folder",
        metavar="FOLDER",
        help="import a package here (default: a new folder under $REEF_HOME/reproductions)",
    )
    reproduce.add_argument("--trust", action="store_true", help="run a package's notebooks without asking")
    reproduce.add_argument(
        "--report",
        metavar="FILE.html|json",
        help="write the HTML and JSON reports here, one beside the other (default: reproduce-report.* in the solution folder)",
    )
    reproduce.add_argument(
        "--env",
        dest="environment",
        metavar="new|native|NAME",
        help="where to run: new (a fresh environment with the package's whole lock, hash-checked; the default for a package), "
        "native (this machine, nothing installed: a Python notebook on this python, another language on its own kernel) "
        "or an existing reef environment",
    )
    _find_links_options(reproduce, when="--env new: ")
    reproduce.add_argument(
        "--profile",
        metavar="NAME",
        help="only this profile's experiments, e.g. smoke (the kick-the-tires path) or full",
    )
    reproduce.add_argument(
        "--artifact",
        dest="artifacts",
        action="append",
        default=[],
        type=name_and_path,
        metavar="NAME=PATH",
        help="your copy of an artifact the package does not ship (see reef export --external), verified by its sha256; repeatable",
    )


def _mlperf_verb(verb: Verb) -> None:
    """mlperf submission: an MLPerf Inference submission tree from a solution's LoadGen runs (reefnb.sharing.mlperf)."""
    actions = _actions(
        verb("mlperf", "MLPerf Inference: build a submission tree the round's checker reads"), "mlperf_verb"
    )
    submission = actions.add_parser(
        "submission",
        help="reuse or run each scenario's LoadGen performance and accuracy runs, then write the submission tree (docs/mlperf.md)",
    )
    submission.add_argument(
        "solution", metavar="SOLUTION", help="a solution folder (or its solution.json) that declares an mlperf object"
    )
    submission.add_argument("-o", "--output", required=True, metavar="DIR", help="the tree's folder (new or empty)")
    submission.add_argument(
        "--submitter", required=True, metavar="NAME", help="the submitting organisation (a plain name)"
    )
    submission.add_argument(
        "--division", choices=["open", "closed"], default="open", help="open (default; closed is not yet supported)"
    )
    submission.add_argument(
        "--system",
        metavar="FILE.json",
        help="the system description's fields only a person knows (status, system_type, cooling...)",
    )
    submission.add_argument(
        "--scenario",
        dest="scenarios",
        nargs="+",
        action="extend",
        default=[],
        metavar="S",
        help="LoadGen scenarios (default: the workflow's)",
    )
    submission.add_argument(
        "--short",
        action="store_true",
        help="LoadGen's short profile: seconds, not 10 minutes; the checker then fails test duration",
    )
    _parameter_option(
        submission,
        "a workflow parameter other than the scenario, mode and profile (model, backend, dataset...; repeatable)",
    )
    targets = submission.add_mutually_exclusive_group()
    targets.add_argument(
        "--env", dest="environment", metavar="NAME", help="run missing runs in this reef environment's kernel"
    )
    targets.add_argument("--kernel", help="run missing runs in this Jupyter kernel")
    submission.add_argument("--trust", action="store_true", help=TRUST_FOLDER_HELP)
    _with_json(actions)


def _registry_verb(verb: Verb) -> None:
    """registry add|list|remove|configure|forget: the git registries known here (reefnb.sharing.registry)."""
    registry = verb(
        "registry", "git registries of published solutions, datasets and models: add, list, remove, configure, forget"
    )
    actions = _actions(registry, "registry_verb")
    add = actions.add_parser("add", help="add a registry (a git URL or a repository folder) and clone it")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL")
    actions.add_parser("list", help="list the registries added here")
    remove = actions.add_parser("remove", help="forget a registry and delete its clone (its pins are kept)")
    remove.add_argument("name", metavar="NAME")
    configure = actions.add_parser(
        "configure", help="set who may sign a registry's packages (reef-registry.json), and pin it here"
    )
    configure.add_argument("name", metavar="NAME")
    configure.add_argument(
        "--signer",
        action="append",
        default=[],
        type=identity_and_key,
        metavar="ID=KEY.pub",
        help="allow this identity (e.g. alice@example.org) with this OpenSSH public key; repeatable",
    )
    configure.add_argument(
        "--remove-signer", action="append", default=[], metavar="ID", help="no longer allow this identity"
    )
    required = configure.add_mutually_exclusive_group()
    required.add_argument(
        "--require-signatures",
        dest="require_signatures",
        action="store_true",
        default=None,
        help="refuse unsigned packages, and packages signed by anyone not listed",
    )
    required.add_argument(
        "--no-require-signatures",
        dest="require_signatures",
        action="store_false",
        help="accept unsigned packages (signed ones are still verified)",
    )
    forget = actions.add_parser(
        "forget", help="drop a pin: accept a version's new bytes (or a registry's new signers) on the next pull"
    )
    forget.add_argument("spec", nargs="?", metavar="NAME@VERSION", help="the version whose pinned sha256 to forget")
    forget.add_argument("--signers", action="store_true", help="forget the registry's pinned signing policy")
    forget.add_argument("--registry", metavar="NAME", help="the registry (default: the only one added)")
    _with_json(actions)


def _published_verbs(verb: Verb) -> None:
    """publish / search / pull: components in git registries (reefnb.sharing.registry)."""
    publish = verb("publish", "publish a package (NAME.reef.zip) in a registry; a published version never changes")
    publish.add_argument("package", metavar="PACKAGE.reef.zip")
    publish.add_argument("--registry", metavar="NAME", help="the registry (default: the only one added)")
    publish.add_argument(
        "--sign",
        metavar="KEY",
        help="sign the package with this OpenSSH private key (ssh-keygen -Y sign, namespace reef)",
    )
    search = verb("search", "find published components by name, kind, description or keyword")
    search.add_argument("text", nargs="?", default="", metavar="TEXT", help="words to match (default: list everything)")
    search.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")
    pull = verb("pull", "fetch a published component and what it needs (verified), and import them")
    pull.add_argument(
        "spec",
        metavar="NAME[@VERSION|@RANGE]",
        help="e.g. hello-sweep, hello-sweep@1.2.0, hello-sweep@^1.2, 'x@>=1,<2'",
    )
    pull.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")
    pull.add_argument(
        "-o",
        "--output",
        metavar="FOLDER",
        help="import the component here (default: $REEF_HOME/solutions/NAME-VERSION)",
    )
    pull.add_argument("--dry-run", action="store_true", help="resolve the versions only; fetch and import nothing")
    pull.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="accept an older version when a newer one seen here before is no longer listed (refused otherwise)",
    )


def _serve_verb(verb: Verb) -> None:
    """serve: a solution's actions over HTTP (reefnb.frontends.serve)."""
    serve = verb(
        "serve", "serve a solution's actions over HTTP: GET /v1/actions, POST /v1/actions/NAME, /healthz, /demo"
    )
    serve.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=count(0), default=8765, help="port (default: 8765; 0 picks a free one)")
    serve.add_argument("--token", help="the bearer token clients send (default: a new random one, printed)")
    serve.add_argument(
        "--workers", type=count(1), default=1, metavar="N", help="worker processes running the actions (default: 1)"
    )
    serve.add_argument(
        "--env",
        dest="environment",
        metavar="NAME|PYTHON|native",
        help="run the actions in this reef environment or python (default: the one reef init made)",
    )
    serve.add_argument("--max-body-mb", type=scale, default=20, metavar="MB", help="largest request body (default: 20)")
    serve.add_argument(
        "--action-timeout",
        type=seconds,
        default=60,
        metavar="S",
        help="seconds a call may take, then its worker is replaced and it gets 504 (default: 60)",
    )
    serve.add_argument(
        "--trust", action="store_true", help="run the actions of a solution imported from a package or registry"
    )
