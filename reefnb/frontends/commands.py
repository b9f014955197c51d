"""The command layer: reef's verbs as functions of typed arguments that return plain data.

Every front end goes through here: the ``reef`` command (``reefnb.frontends.terminal`` renders the data as
text or JSON), the ``%reef`` magic (HTML and widgets), the JupyterLab server extension and ``reef serve``
(JSON). A verb parses nothing and prints nothing: it takes its options (a dataclass where there are
many), calls the core and returns dataclasses, dicts and DataFrames.

The rules the front ends share live here, once: which solution a folder or a notebook names, the
parameter schema with the manifest's defaults, the sweep grid, ``--find-links``/``--no-index``, when
``reef init`` refuses (trust included), the objectives and the ok runs of a frontier, the chart colour.

The core is imported inside each command, not at module level: a verb that runs no notebook loads only what it
uses (``reef detect``: detection, not papermill, pandas, packaging or the store), which
``tests/frontends/test_cli_imports.py`` checks. Module level keeps the cheap modules every front end needs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reefnb.common.exceptions import ManifestError, RecordPending, ReefError, UsageError
from reefnb.common.units import parse_size

if TYPE_CHECKING:
    import pandas

    from reefnb.provision import declare, install
    from reefnb.runs.spec import RunSpec, SweepSpec
    from reefnb.runs.sweeps import SweepProgress
    from reefnb.sharing import mlperf
    from reefnb.solution.manifest import Solution
    from reefnb.solution.notebook import NotebookParameter

log = logging.getLogger(__name__)

MANIFEST_NAME = "solution.json"


def changed_fields(options: Any) -> dict[str, Any]:
    """The fields of an options dataclass the caller set (those that differ from the field's default), by name:
    what a verb hands on to the core, so that the core's own defaults stay the defaults."""
    changed = {}
    for spec in dataclasses.fields(options):
        default = (
            spec.default
            if spec.default is not dataclasses.MISSING
            else (spec.default_factory() if spec.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        )
        value = getattr(options, spec.name)
        if value is not default and value != default:
            changed[spec.name] = value
    return changed


# ---------------------------------------------------------------------------------------------
# Rules every front end shares


def pip_options(find_links: Sequence[str] = (), no_index: bool = False) -> list[str]:
    """The installer's options of ``--find-links DIR`` (repeatable) and ``--no-index``. A folder that exists is made
    absolute, so that an install started later (the panel's button) still finds it; a URL is left as it is."""
    options = []
    for place in find_links:
        options += ["--find-links", str(Path(place).resolve()) if Path(place).exists() else place]
    return options + (["--no-index"] if no_index else [])


def named_solution(argument: str | Path | None) -> tuple[str | None, Solution | None]:
    """What a ``--solution`` argument names: a solution folder (its name, and the Solution), else a name as given."""
    from reefnb.solution.manifest import solution_folder

    solution = solution_folder(argument)
    if solution is not None:
        return solution.name, solution
    return (str(argument) if argument else None), None


def dashboard_columns(solution: Solution | None) -> list[str] | None:
    """The columns the manifest's dashboard names (``dashboard.columns``), if any."""
    return solution.data.get("dashboard", {}).get("columns") if solution is not None else None


def source_dashboard_columns(source: str | Path | None) -> list[str] | None:
    """``dashboard_columns`` of a source that may be a solution (a registry name or a notebook has none)."""
    from reefnb.solution.manifest import load_solution

    if not source:
        return None
    try:
        return dashboard_columns(load_solution(source))
    except (ReefError, OSError):
        return None


def chart_color(solution: Solution | None, color: str | None = None) -> str:
    """What a chart's points are coloured by: ``color``, else the manifest's ``dashboard.color``, else ``env.name``."""
    return color or (solution.data.get("dashboard", {}).get("color") if solution is not None else None) or "env.name"


def named_objectives(minimise: Sequence[str] = (), maximise: Sequence[str] = ()) -> dict[str, str]:
    """``--min A B --max C`` as objectives (a name given to both is maximised)."""
    return {name: "min" for name in minimise} | {name: "max" for name in maximise}


def sweep_grid(grid_file: str | Path | None = None, values: Sequence[Sequence[str]] = ()) -> dict[str, list] | None:
    """The grid of ``--grid FILE`` (``NAME: [V1, V2, ...]``, JSON or YAML) with ``-p NAME V1 V2 ...`` on top; None when
    neither is given (the workflow's own grid then). ReefError naming the file and name of a value that is no list."""
    from reefnb.runs.sweeps import grid_problem  # with papermill: loaded by the verbs that run notebooks
    from reefnb.solution.params import read_parameter_file

    grid: dict[str, list] = {}
    if grid_file:
        grid = read_parameter_file(grid_file)
        problem = grid_problem(grid)
        if problem is not None:
            raise UsageError(f"{grid_file}: {problem}")
    for name, *listed in values:
        if not listed:
            raise UsageError(f"reef sweep: -p {name} needs at least one value")
        grid[name] = list(listed)
    return grid or None


# ---------------------------------------------------------------------------------------------
# Which solution a notebook belongs to; its parameters


@dataclass(frozen=True)
class NotebookSolution:
    """A notebook, its solution and the workflow that runs it (None when no workflow does)."""

    notebook: Path  # absolute
    solution: Solution  # a notebook without a manifest is a one-workflow solution of its own
    workflow: str | None


def notebook_solution(notebook: str | Path, within: str | Path | None = None) -> NotebookSolution:
    """The solution of ``notebook``: the ``solution.json`` (in its folder or a parent, inside ``within`` when given)
    whose workflows run it, else the notebook alone. Its workflow: ``run`` if that runs it, else the first that does."""
    from reefnb.provision import declare
    from reefnb.solution.manifest import load_solution, open_solution

    notebook = Path(notebook).resolve()
    manifest = declare.solution_of(notebook)
    inside = manifest is not None and (within is None or manifest.resolve().is_relative_to(Path(within).resolve()))
    solution = load_solution(manifest) if inside else open_solution(notebook)
    workflow = next(
        (
            name
            for name, flow in sorted(solution.workflows.items(), key=lambda item: item[0] != "run")
            if flow.notebook.resolve() == notebook
        ),
        None,
    )
    return NotebookSolution(notebook, solution, workflow)


@dataclass
class Parameters:
    """A notebook's typed parameters: ``schema`` (JSON Schema, the manifest's defaults over the cell's)."""

    solution: Solution
    workflow: str | None
    notebook: Path
    language: str
    cell: dict[str, NotebookParameter]  # the parameters cell, as written
    schema: dict


def parameters(source: str | Path | Solution, workflow: str | None = None) -> Parameters:
    """The parameters of ``workflow``'s notebook (default ``run``) in ``source`` (a solution, its folder or
    manifest), or of a notebook (the workflow of its solution that runs it)."""
    from reefnb.solution.manifest import Solution, open_solution

    if not isinstance(source, Solution) and Path(source).suffix == ".ipynb":
        found = notebook_solution(source)
        solution, workflow, notebook_path = found.solution, found.workflow, found.notebook
    else:
        solution = source if isinstance(source, Solution) else open_solution(source)
        workflow = workflow or "run"
        notebook_path = solution.workflow(workflow).notebook
    return notebook_parameters_of(solution, workflow, notebook_path)


def notebook_parameters_of(solution: Solution, workflow: str | None, notebook_path: Path) -> Parameters:
    """The parameters of ``notebook_path`` as ``workflow`` of ``solution`` runs it: the schema's defaults are the
    workflow's parameters from the manifest where it sets them, else the cell's (what a run without ``-p`` gets)."""
    from reefnb.solution.notebook import notebook_language, notebook_parameters, parameters_schema, read_notebook

    notebook = read_notebook(notebook_path)
    cell = notebook_parameters(notebook)
    schema = parameters_schema(cell, title=f"parameters of {Path(notebook_path).name}")
    flow = solution.workflows.get(workflow) if workflow else None
    for name, value in (flow.parameters if flow else {}).items():
        if name in schema["properties"]:
            schema["properties"][name]["default"] = value
    language = notebook_language(notebook)
    if language != "python":
        schema["$comment"] = (
            f"a {language.capitalize()} notebook: the typed parameter contract (annotations, ranges, choices) is for "
            "Python notebooks; these are its parameters cell's names and defaults, injected by papermill's translator"
        )
    return Parameters(solution, workflow, Path(notebook_path), language, cell, schema)


def validate(path: str | Path) -> Solution:
    """The solution at ``path`` once its manifest and notebooks check out (ManifestError listing the problems), and
    its workflow notebooks call only what the kernel environments reef creates have (``kernel_call_problems``: a
    notebook that calls more fails where ``reef init`` puts it; loading it to run natively is still allowed)."""
    from reefnb.solution.checks import kernel_call_problems
    from reefnb.solution.manifest import load_solution

    solution = load_solution(path)
    problems = [
        f"{solution.manifest_path}: {pointer}: {message}"
        for pointer, message in kernel_call_problems(solution.data, solution.path)
    ]
    if problems:
        raise ManifestError(problems)
    return solution


# ---------------------------------------------------------------------------------------------
# Running


def untrusted_folder(source: str | Path | Solution | None) -> Path | None:
    """The folder made from a package, with no trust recorded, that ``source`` lies in
    (``initialised.untrusted_source``)."""
    from reefnb.provision import initialised

    return initialised.untrusted_source(source)


def refuse_untrusted(source: str | Path | Solution | None, trust: bool = False, what: str = "notebooks") -> None:
    """The one trust rule of every verb that runs a solution's code (run, sweep, benchmark, reproduce, serve,
    ``reefnb.use``, the JupyterLab panel): a folder made from a package runs only with ``trust`` or a trust
    recorded by ``reef init FOLDER --trust``; ReefError (exit 2) naming the folder and how to trust it otherwise."""
    from reefnb.provision import initialised

    if not trust:
        initialised.refuse_untrusted(source, what)


def refuse_package(source: str | Path | Solution | None, verb: str) -> None:
    """A package file where a solution is wanted: UsageError (exit 2) naming the verbs that take a package."""
    from reefnb.sharing import package

    if isinstance(source, (str, Path)) and package.is_package(source):
        raise UsageError(
            f"{source}: a package, not a solution: `reef reproduce {source}` runs it and compares, "
            f"`reef init {source}` makes a solution folder of it (then `reef {verb} FOLDER --trust`)"
        )


def run(
    spec: RunSpec,
    resume: str | None = None,
    progress: bool = False,
    trust: bool = False,
    exclusive_process: bool = False,
) -> dict:
    """``reef run``: run what ``spec`` asks for (or resume run ``resume``, with ``spec.timeout``) and return its
    record, whatever its status. ``progress``: papermill's progress bar. ``trust``: run a folder made from a package
    (see ``refuse_untrusted``). ``exclusive_process``: this process runs nothing else meanwhile (the ``reef``
    command), so orphans reparented to it are the run's."""
    from reefnb.runs import execute
    from reefnb.runs.processes import exclusive

    if resume:
        if spec.solution or spec.parameters or spec.parameter_file:
            raise UsageError("reef run --resume RUN_ID takes its solution and parameters from that run: give neither")
        return execute.resume(resume, timeout=spec.timeout, progress=progress)
    if not spec.solution:
        raise UsageError("reef run: give a SOLUTION (or --resume RUN_ID)")
    refuse_package(spec.solution, "run")
    refuse_untrusted(spec.solution, trust)
    if not exclusive_process:
        return execute.run_from_spec(spec, progress=progress)
    with exclusive():
        return execute.run_from_spec(spec, progress=progress)


def sweep(
    spec: SweepSpec,
    progress: Callable[[SweepProgress], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
    trust: bool = False,
) -> list[dict]:
    """``reef sweep`` and ``reef benchmark``: run the sweep; its records in grid order (``.skipped``: points
    recorded ok before, not run again; ``.moved``: one line when points recorded ok before ran again because they
    ran elsewhere before, else None). ``progress``: called after each start and end of a run; ``on_record``: with
    each record as it is made; ``trust``: run a folder made from a package (see ``refuse_untrusted``)."""
    from reefnb.runs import sweeps

    refuse_package(spec.run.solution, "sweep")
    refuse_untrusted(spec.run.solution, trust)
    earlier = None if spec.execution.rerun else _recorded_ok_runs(spec.run.solution, spec.run.workflow)
    try:
        records = sweeps.sweep_from_spec(spec, progress=progress, on_record=on_record)
    except RecordPending as error:  # every point ran; the records are on the error
        if getattr(error, "records", None) is not None and earlier is not None:
            error.records.moved = moved_points(error.records, earlier)
        raise
    if earlier is not None:
        records.moved = moved_points(records, earlier)
    return records


def _recorded_ok_runs(source: str | Path | Solution, workflow: str) -> dict:
    """The solution's ok runs of ``workflow`` before a sweep: ``ids``, and ``(notebook sha256, parameters)`` -> the
    environments (record ``environment.name``) they ran in."""
    from reefnb.solution.manifest import Solution, open_solution

    solution = source if isinstance(source, Solution) else open_solution(source)
    places: dict[tuple[str, str], set[str]] = {}
    ids = set()
    for record in solution_records(solution):
        if record.get("status") == "ok" and record.get("workflow") == workflow:
            ids.add(record["run_id"])
            point = (
                record.get("notebook", {}).get("sha256", ""),
                json.dumps(record.get("parameters", {}), sort_keys=True, default=str),
            )
            places.setdefault(point, set()).add(str(record.get("environment", {}).get("name")))
    return {"ids": ids, "places": places}


def moved_points(records: Sequence[dict], earlier: dict) -> str | None:
    """One line when points of a sweep ran again because their ok runs were in another environment (runs are
    recorded per environment: after ``reef init`` made the solution's own, a sweep runs there); None otherwise."""
    moved: dict[str, set[str]] = {}
    count = 0
    for record in records:
        if record["run_id"] in earlier["ids"]:
            continue
        point = (
            record.get("notebook", {}).get("sha256", ""),
            json.dumps(record.get("parameters", {}), sort_keys=True, default=str),
        )
        before = earlier["places"].get(point, set()) - {str(record.get("environment", {}).get("name"))}
        if before:
            count += 1
            moved.setdefault(str(record.get("environment", {}).get("name")), set()).update(before)
    if not moved:
        return None
    now, before = ", ".join(sorted(moved)), ", ".join(sorted(set().union(*moved.values())))
    return (
        f"{count} point{'s' if count != 1 else ''} ran again because the environment changed: "
        f"recorded ok before in {before}, this sweep ran in {now} "
        "(where the solution runs now: reef init made its own environment, or --env/--kernel said so)"
    )


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class ResultsQuery:
    """``reef results``: which runs (a solution's name or folder, a status, a ``--where`` expression, ``--since``)."""

    solution: str | None = None
    status: str | None = None
    where: str | None = None
    since: str | None = None


@dataclass
class Results:
    """The runs a query found, as a results frame, and what the manifest says of showing them."""

    frame: pandas.DataFrame
    solution: str | None  # the solution's name
    columns: list[str] | None  # the manifest's dashboard columns, when the query named a solution folder


def results(query: ResultsQuery) -> Results:
    from reefnb.analysis.frame import results as recorded_results

    name, solution = named_solution(query.solution)
    frame = recorded_results(solution=name, status=query.status, where=query.where, since=query.since)
    return Results(frame, name, dashboard_columns(solution))


def result_records(query: ResultsQuery) -> list[dict]:
    """The run records a query found, oldest first."""
    from reefnb.runs.store import default_store

    name, _ = named_solution(query.solution)
    return default_store().records(solution=name, status=query.status, where=query.where, since=query.since)


@dataclass
class PushOptions:
    """``reef results push``."""

    solution: str | None = None
    registry: str | None = None
    identify: bool = False
    with_files: bool = False
    files_limit: str | int = "10M"


def push_results(options: PushOptions) -> dict:
    """Share this machine's runs (of a solution) in a registry."""
    from reefnb.sharing import registry

    name, _ = named_solution(options.solution)
    limit = (
        parse_size(options.files_limit, "--files-limit")
        if isinstance(options.files_limit, str)
        else options.files_limit
    )
    return registry.push_results(
        solution=name,
        registry=options.registry,
        identify=options.identify,
        with_files=options.with_files,
        files_limit=limit,
    )


def pull_results(solution: str | None = None, registry_name: str | None = None) -> dict:
    """Merge the runs others shared in a registry (all registries by default)."""
    from reefnb.sharing import registry

    name, _ = named_solution(solution)
    return registry.pull_results(solution=name, registry=registry_name)


def records_frame(records: Sequence[dict]) -> pandas.DataFrame:
    """Run records as a results frame (one row per run; ``param.*``, ``metric.*``, ``env.*`` columns)."""
    from reefnb.analysis.frame import records_to_frame

    return records_to_frame(list(records))


def store_path() -> Path:
    """Where the runs are recorded (``$REEF_HOME/results.sqlite``)."""
    from reefnb.runs.store import default_store

    return default_store().path


def solution_records(solution: Solution) -> list[dict]:
    """The recorded runs of ``solution`` in its folder (a namesake elsewhere is another solution), oldest first."""
    from reefnb.runs.store import default_store

    folder = str(solution.path.resolve())
    return [
        record
        for record in default_store().records(solution=solution.name)
        if record.get("solution", {}).get("path") == folder
    ]


# ---------------------------------------------------------------------------------------------
# Pareto frontiers and dashboards


@dataclass
class Frontier:
    """The ok runs of a frontier and the objectives it is drawn on."""

    frame: pandas.DataFrame  # the ok runs
    solution: Solution | None  # the manifest that gives the runs their meaning, when one is at hand
    objectives: dict[str, str]  # column -> min|max; empty when none was named and none has a goal
    declared: dict[str, str]  # the objectives whose direction was named or declared (not assumed)
    metrics: dict[str, dict]  # unit, goal and format of each metric by name


def frontier_runs(
    source: str | Path | pandas.DataFrame | None,
    named: Mapping[str, str] | None = None,
    solution: Solution | None = None,
) -> Frontier:
    """The ok runs of ``source`` (a solution's folder or name, None: every run here; or a results frame) and their
    objectives: those ``named`` (column or metric name -> min|max), else the defaults (``choose_objectives``).
    ``solution``: the manifest that gives a frame its meaning. ReefError when no run is ok."""
    from reefnb.analysis.dashboard import choose_objectives, declared_objectives  # numpy: loaded by the verbs that rank
    from reefnb.analysis.frame import metric_meaning, results_and_solution
    from reefnb.analysis.pareto import ok_runs

    if source is None or isinstance(source, (str, Path)):
        frame, found = results_and_solution(None if source is None else str(source))
        solution = solution or found
    else:
        frame = source
    frame = ok_runs(frame)  # a frontier of failed runs would mean nothing
    if frame.empty:
        where = f" recorded for {source}" if isinstance(source, (str, Path)) else " recorded" if source is None else ""
        raise ReefError(f"no ok runs{where}: no frontier")
    metrics = metric_meaning(solution, frame)
    objectives = choose_objectives(frame, solution, named)
    return Frontier(frame, solution, objectives, declared_objectives(objectives, metrics, named or ()), metrics)


@dataclass
class ParetoOptions:
    """``reef pareto``: the runs, the objectives (default: the manifest's), an optional plot of the first two."""

    solution: str | None = None
    minimise: list[str] = field(default_factory=list)
    maximise: list[str] = field(default_factory=list)
    plot: str | None = None
    color: str | None = None
    log: str | None = None  # x, y or xy


@dataclass
class Pareto:
    """``reef pareto``'s result: the frontier rows, the columns worth showing, and where the plot went."""

    runs: Frontier
    front: pandas.DataFrame
    columns: list[str]
    plot: str | None

    def as_dict(self) -> dict:
        return {
            "objectives": self.runs.objectives,
            "runs": len(self.runs.frame),
            "front": json.loads(self.front[self.columns].to_json(orient="records")),
            "plot": self.plot,
        }


def pareto(options: ParetoOptions) -> Pareto:
    from reefnb.analysis.pareto import pareto_front
    from reefnb.analysis.plots import pareto_chart, save_chart

    runs = frontier_runs(options.solution, named_objectives(options.minimise, options.maximise))
    frame, objectives = runs.frame, runs.objectives
    if not objectives:
        metrics = ", ".join(c for c in frame.columns if str(c).startswith("metric.")) or "none"
        raise UsageError(f"name the objectives with --min/--max METRIC (metric columns: {metrics})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        front = pareto_front(frame, objectives)
    for warning in caught:  # NaN values left out, and the like
        log.warning("%s", warning.message)
    columns = [
        c
        for c in ["run_id", "env.name", *(c for c in frame.columns if str(c).startswith("param.")), *objectives]
        if c in front
    ]
    plot = None
    if options.plot:
        if len(objectives) < 2:
            raise UsageError("--plot needs two objectives")
        x, y = list(objectives)[:2]
        chart = pareto_chart(
            frame,
            x,
            y,
            directions=runs.declared,
            color=chart_color(runs.solution, options.color),
            log_x="x" in (options.log or ""),
            log_y="y" in (options.log or ""),
        )
        plot = str(save_chart(chart, options.plot))
    return Pareto(runs, front, columns, plot)


def dashboard(
    solution: str | None, output: str | Path, minimise: Sequence[str] = (), maximise: Sequence[str] = ()
) -> dict:
    """Write the offline dashboard of the recorded runs (of a solution's name or folder); its path and run count."""
    from reefnb.analysis.dashboard import build_dashboard, choose_objectives, require_runs
    from reefnb.analysis.frame import results_and_solution

    frame, manifest = results_and_solution(solution)
    require_runs(frame, solution)
    named = named_objectives(minimise, maximise)
    objectives = choose_objectives(frame, manifest, named) if named else None
    path = build_dashboard(frame, output, solution=manifest, objectives=objectives)
    return {"path": str(path), "runs": len(frame)}


def dashboard_page(solution: Solution) -> dict:
    """The offline dashboard of the runs of ``solution`` in its folder, as one self-contained page: ``runs``,
    ``html``."""
    from reefnb.analysis.dashboard import dashboard_html, require_runs

    frame = records_frame(solution_records(solution))
    require_runs(frame, solution.name)
    return {"runs": len(frame), "html": dashboard_html(frame, solution=solution)}


# ---------------------------------------------------------------------------------------------
# Requirements and environments


@dataclass
class InitRequest:
    """``reef init`` as the front ends take it (``install.InitOptions`` is the core's): the source (a folder, a
    manifest, a package or NAME[@RANGE] from a registry), where it goes, ``--find-links``/``--no-index``."""

    source: str | Path | Solution
    environment: str | None = None
    native: bool = False
    yes: bool = False
    dry_run: bool = False
    offline: bool = False
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    trust: bool = False
    artifacts: list[str] = field(default_factory=list)


@dataclass
class InitPreview:
    """What ``reef init`` would do, and why it would refuse (None: it would go ahead)."""

    plan: install.Plan
    rows: list[dict]
    refusal: str | None
    foreign: bool  # from a package or registry: its code is not trusted


_ARTIFACT_REASONS = {"fetch": "reef init downloads it: {}", "generate": "reef init generates it: {}", "fallback": "{}"}


def requirement_rows(plan: install.Plan) -> list[dict]:
    """One row per requirement and artifact of a plan: kind, name, required, found, status, reason.

    Statuses, the same words in every panel: ``found``; ``missing`` (or ``conflict``: another version) for what
    ``reef init`` installs, downloads or generates; ``unmet`` for what it cannot; ``skipped`` for a package whose
    marker leaves it out here (another platform's); ``on demand`` for an artifact the first run that needs it
    fetches. Every row that is not ``found`` says why in ``reason``.
    """
    from reefnb.provision.install import ON_DEMAND  # an artifact's status: fetched by the first run that needs it

    rows = [dict(check.as_dict()) for check in plan.checks]
    specs = plan.solution.data.get("artifacts", {})
    for artifact in plan.artifacts:
        spec = specs.get(artifact["name"], {})
        required = f"sha256 {spec['sha256'][:12]}…" if "sha256" in spec else (spec.get("generate") or "")
        status = {"cached": "found", "missing": "unmet", ON_DEMAND: ON_DEMAND}.get(artifact["status"], "missing")
        found = "cached" if artifact["status"] == "cached" else None
        detail = artifact.get("detail", "")
        reason = "" if status == "found" else _ARTIFACT_REASONS.get(artifact["status"], "{}").format(detail)
        rows.append(
            {
                "kind": "artifact",
                "name": artifact["name"],
                "required": required,
                "found": found,
                "status": status,
                "reason": reason,
            }
        )
    return rows


def checked_summary(rows: Sequence[dict]) -> str:
    """``all found`` or ``2 missing, 1 unmet``; what is left out on purpose after it (``1 skipped (another
    platform's), 3 on demand``)."""
    from reefnb.provision.install import ON_DEMAND

    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    problems = ", ".join(
        f"{counts[status]} {status}" for status in ("missing", "conflict", "unmet") if counts.get(status)
    )
    aside = ", ".join(
        f"{counts[status]} {label}"
        for status, label in (("skipped", "skipped (for another platform)"), (ON_DEMAND, "fetched on demand"))
        if counts.get(status)
    )
    head = problems or ("all found" if rows else "nothing required")
    return f"{head}; {aside}" if aside else head


@dataclass(frozen=True)
class RunPlace:
    """Where a solution runs when no ``--kernel`` or ``--env`` says (``run_place``)."""

    kind: str  # "environment" (its own, made by reef init) or "kernel" (the one its notebook names)
    name: str  # the environment's or the kernel's name
    kernel: str
    python: str | None  # the interpreter that kernel runs (None: another language, or not installed)
    why: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "label": str(self)}


def run_place(solution: Solution, notebook: str | Path | None = None) -> RunPlace:
    """The one rule of where a solution runs by default, which every front end shows: its own environment when
    ``reef init`` made it here (``install.made_environment``), else the kernel its notebook names (``notebook``:
    default the ``run`` workflow's, else the first workflow's). ``reef run``, ``sweep`` and ``benchmark`` run there
    (``runs.execute`` applies the same two functions); a notebook in another language keeps its own kernel."""
    from reefnb.provision import install
    from reefnb.provision.kernels import is_python, named_kernel
    from reefnb.solution.notebook import notebook_language, read_notebook

    if notebook is None:
        flows = sorted(solution.workflows.items(), key=lambda item: item[0] != "run")
        notebook = flows[0][1].notebook if flows else solution.path
    path = Path(notebook)
    document = read_notebook(path)
    made = install.made_environment(solution)
    if made is not None and is_python(notebook_language(document)):
        return RunPlace(
            "environment", made.name, made.kernel, made.python, f"its own, made by reef init ({install.LOCK_NAME})"
        )
    kernel = named_kernel(path, document)
    why = "the kernel its notebook names" + (
        ": no environment made for it here" if solution.manifest_path is not None else ""
    )
    return RunPlace("kernel", kernel, kernel, install.kernel_python(kernel), why)


@dataclass
class InstallEffect:
    """What the "Install missing" button (``reef init`` of the solution) would change, said before it does."""

    label: str  # the button's words: "Install missing", "Make its own environment" or "Initialise again"
    changes: list[str]  # one line per change, in order
    refusal: str | None  # why reef init would refuse (then nothing changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def install_effect(preview: InitPreview, place: RunPlace | None, missing: bool) -> InstallEffect:
    """The changes ``reef init`` would make (``preview``, from ``preview_init``) said for people, with the move it
    makes: from then on the solution runs in that environment, not on ``place``. ``missing``: some requirement is
    missing where it runs now (the button then says "Install missing")."""
    from reefnb.common.paths import envs_home
    from reefnb.provision import detection, envs, install

    plan = preview.plan
    changes = []
    if plan.target == "env" and not plan.exists:
        version = detection.python_version(plan.python)
        kernel = envs.kernel_for(plan.environment, envs_home() / plan.environment)
        changes.append(f"make environment {plan.environment} (python {version}, kernel {kernel})")
    if plan.installs:
        where = f" into environment {plan.environment}" if plan.target == "env" else f" into {plan.python}"
        changes.append(f"install {', '.join(text.partition(';')[0].strip() for text in plan.installs)}{where}")
    fetched = [row["name"] for row in preview.rows if row["kind"] == "artifact" and row["status"] == "missing"]
    if fetched:
        changes.append(f"download or generate {', '.join(fetched)}")
    changes.append(f"write {install.LOCK_NAME}")
    if place is not None and plan.target == "env" and str(place) != f"environment {plan.environment}":
        changes.append(
            f"then runs, sweeps and benchmarks run in environment {plan.environment} instead of {place}: "
            f"points recorded on {place} run again there"
        )
    if missing:
        label = "Install missing"
    else:
        label = "Make its own environment" if plan.target == "env" and not plan.exists else "Initialise again"
    return InstallEffect(label, changes, preview.refusal)


@dataclass
class RequirementsHere:
    """A solution's requirements checked against where it runs (``run_place``), and what Install would change."""

    place: RunPlace
    rows: list[dict]
    summary: str  # "checked against kernel python3: all found"
    install: InstallEffect | None  # None for a notebook that no solution.json runs (nothing to install into)
    unmet: int

    def as_dict(self) -> dict:
        return {
            "place": self.place.as_dict(),
            "requirements": self.rows,
            "summary": self.summary,
            "install": self.install.as_dict() if self.install else None,
            "unmet": self.unmet,
        }


def requirements_here(
    found: NotebookSolution,
    declared: Mapping | None = None,
    preview: InitPreview | None = None,
    with_install: bool = True,
) -> RequirementsHere:
    """The requirements of a notebook's solution checked against the place it runs (``run_place``): what the
    JupyterLab sidebar and ``%reef init`` show. ``declared``: the notebook's ``metadata.reef`` as the editor holds
    it (unsaved), for a notebook without a manifest; ``preview``: the ``reef init`` whose changes Install would make
    (default: a plain ``reef init`` of the solution). Nothing changes."""
    from reefnb.provision import declare, install
    from reefnb.solution.manifest import Solution

    solution = found.solution
    if solution.manifest_path is None:
        metadata = dict(declared) if declared is not None else declare.notebook_declarations(found.notebook)
        data = {**solution.data, "requires": metadata.get("requires", {}), "artifacts": metadata.get("artifacts", {})}
        solution = Solution(solution.path, None, data, solution.workflows)
    place = run_place(solution, found.notebook)
    plan = install.check_against(solution, place.python or sys.executable)
    rows = requirement_rows(plan)
    missing = any(row["status"] in ("missing", "conflict") for row in rows)
    if preview is None and solution.manifest_path is not None and with_install:
        preview = preview_init(InitRequest(source=solution.path))
    effect = install_effect(preview, place, missing) if preview is not None else None
    where = str(place) if place.python else f"{place} (not a Python kernel: checked against {sys.executable})"
    return RequirementsHere(place, rows, f"checked against {where}: {checked_summary(rows)}", effect, len(plan.unmet))


def init_refusal(
    plan: install.Plan, yes: bool = False, trust: bool = False, foreign: bool = False, origin: str | Path | None = None
) -> str | None:
    """Why ``reef init`` would refuse this plan, as ``reefnb.init`` says it (``install.refusal``, the one rule);
    None when it would go ahead."""
    from reefnb.provision import install

    problem = install.refusal(plan, install.InitOptions(yes=yes, trust=trust), foreign=foreign, origin=origin)
    return None if problem is None else str(problem)


def _absolute_source(source: str | Path | Solution) -> str | Path | Solution:
    """A source path made absolute: an install started later (the panel's button) may run in another working folder."""
    from reefnb.solution.manifest import Solution

    return Path(source).resolve() if not isinstance(source, Solution) and Path(source).exists() else source


def preview_init(options: InitRequest) -> InitPreview:
    """The plan of ``reef init`` and whether it would refuse; changes nothing (a package is imported first, into a
    temporary folder with ``dry_run``)."""
    from reefnb.provision import install
    from reefnb.provision.artifacts import split_artifact_arguments
    from reefnb.sharing import package, sources

    source = _absolute_source(options.source)
    folder, pinned, foreign = sources.open_init_source(source, dry_run=options.dry_run)
    try:
        plan = install.plan_init(
            folder,
            environment=options.environment,
            native=options.native,
            offline=options.offline,
            pinned=pinned,
            artifacts=split_artifact_arguments(options.artifacts)[0],
        )
    finally:
        if options.dry_run and foreign:
            package.discard_dry_run(Path(folder))
    refusal = init_refusal(plan, yes=options.yes, trust=options.trust, foreign=foreign, origin=source)
    return InitPreview(plan, requirement_rows(plan), refusal, foreign)


@dataclass
class Initialised:
    """``reef init``'s result: the plan it followed and the lock it wrote (empty for a dry run)."""

    plan: install.Plan
    lock: dict
    place_before: str | None = None  # where the solution ran before (``where_it_runs_now``), when it was said

    def as_dict(self) -> dict:
        return {"ok": True, "plan": self.plan.as_dict(), "lock": self.lock}


def init(
    options: InitRequest,
    on_plan: Callable[[install.Plan], None] | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Initialised:
    """Make the solution runnable here (``reefnb.init``); InitError (with its plan) when it cannot."""
    from reefnb.sharing import sources

    seen: dict[str, install.Plan] = {}

    def planned(plan: install.Plan) -> None:
        seen["plan"] = plan
        if on_plan is not None:
            on_plan(plan)

    lock = sources.init(
        _absolute_source(options.source),
        environment=options.environment,
        native=options.native,
        yes=options.yes,
        dry_run=options.dry_run,
        offline=options.offline,
        pip_options=pip_options(options.find_links, options.no_index),
        on_plan=planned,
        progress=progress,
        artifacts=options.artifacts,
        trust=options.trust,
    )
    return Initialised(seen["plan"], lock)


def init_requirements_here(request: InitRequest, preview: InitPreview | None) -> RequirementsHere | None:
    """For ``reef init`` of a solution folder here without ``--env``/``--native``: its requirements checked against
    where it runs now, and what this init would change (``preview``; None: not said); None for a package, a
    registry's solution or a named target (then the plan itself says where it checks)."""
    from reefnb.solution.manifest import Solution, load_solution

    source = request.source
    if request.environment or request.native or (preview is not None and preview.foreign):
        return None
    solution = source if isinstance(source, Solution) else None
    if solution is None:
        path = Path(source)
        if not (path / MANIFEST_NAME).is_file() and path.name != MANIFEST_NAME:
            return None
        solution = load_solution(path)
    flows = sorted(solution.workflows.items(), key=lambda item: item[0] != "run")
    notebook = flows[0][1].notebook if flows else solution.path
    found = NotebookSolution(Path(notebook), solution, flows[0][0] if flows else None)
    return requirements_here(found, preview=preview, with_install=preview is not None)


def where_it_runs_now(request: InitRequest) -> str | None:
    """``reef init``'s first line for a solution folder here: where the solution runs before this init moves it
    (``run_place``) and what was found there; None for a package, a registry's solution, ``--env`` or ``--native``."""
    here = init_requirements_here(request, None)
    return None if here is None else f"runs now in {here.place} ({here.place.why}); {here.summary}"


def detect(environment: str | None = None, refresh: bool = False, extra: Sequence[str] = ()) -> dict:
    """The fingerprint of this machine and a python (a reef environment's, else this one): ``reef detect``."""
    from reefnb.provision import detection

    python = None
    if environment:
        from reefnb.provision import envs

        python = envs.get_environment(environment).python
    names = [*detection.default_detector_names(), *extra] if extra else None
    return detection.detect(names, python=python, env_name=environment, refresh=refresh)


def create_environment(
    name: str,
    packages: Sequence[str] = (),
    python: str | None = None,
    find_links: Sequence[str] = (),
    no_index: bool = False,
    replace: bool = False,
) -> dict:
    from reefnb.provision import envs

    environment = envs.create_environment(
        name, list(packages), python=python, pip_options=pip_options(find_links, no_index), replace=replace
    )
    return dataclasses.asdict(environment)


def list_environments() -> list[dict]:
    from reefnb.provision import envs

    return [dataclasses.asdict(environment) for environment in envs.list_environments()]


def remove_environment(name: str) -> dict:
    from reefnb.provision import envs

    envs.remove_environment(name)
    return {"removed": name}


def initialised_solutions() -> list[dict]:
    """``reef ls``: the solutions initialised here, with their sizes."""
    from reefnb.provision import initialised

    return initialised.list_solutions()


def find_solution(name: str) -> dict:
    from reefnb.provision import initialised

    return initialised.find_solution(name)


def activation(name: str) -> dict:
    from reefnb.provision import initialised

    return initialised.activation(name)


def forget_solution(name: str) -> dict:
    """``reef rm``: forget a solution and remove its environment (never the download cache)."""
    from reefnb.provision import initialised

    return initialised.remove_solution(name)


# ---------------------------------------------------------------------------------------------
# Declarations


@dataclass
class ArtifactDeclaration:
    """``reef artifact``: a dataset or model a notebook needs."""

    name: str
    urls: list[str]
    sha256: str
    size: int | None = None
    unpack: bool = False
    license: str | None = None
    kind: str = "dataset"
    description: str | None = None


def require(
    packages: Sequence[str], notebook: str | None = None, solution: str | None = None, remove: bool = False
) -> declare.Declaration:
    from reefnb.provision import declare

    return declare.declare_packages(list(packages), notebook=notebook, solution=solution, remove=remove)


def require_tools(
    tools: Sequence[str], notebook: str | None = None, solution: str | None = None, remove: bool = False
) -> declare.Declaration:
    from reefnb.provision import declare

    return declare.declare_tools(list(tools), notebook=notebook, solution=solution, remove=remove)


def require_artifact(
    artifact: ArtifactDeclaration, notebook: str | None = None, solution: str | None = None
) -> declare.Declaration:
    from reefnb.provision import declare

    spec = declare.artifact_spec(
        artifact.urls,
        artifact.sha256,
        size=artifact.size,
        unpack=artifact.unpack,
        license=artifact.license,
        kind=artifact.kind,
        description=artifact.description,
    )
    return declare.declare_artifact(artifact.name, spec, notebook=notebook, solution=solution)


# ---------------------------------------------------------------------------------------------
# Packages and reproduction


@dataclass
class ExportOptions:
    """``reef export``: what goes into the package and what it says of itself."""

    source: str | Path
    output: str | Path
    include: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    license: str | None = None
    paper: str | None = None
    allow_secret_in_code: bool = False
    external: dict[str, str] = field(default_factory=dict)
    with_files: bool = True


def mlperf_submission(options: mlperf.SubmissionOptions) -> dict:
    """``reef mlperf submission``: the MLPerf submission tree of a solution's LoadGen runs (``reefnb.sharing.mlperf``);
    the runs it lacks go through ``reef run`` with the solution's trust rule, on ``--env``/``--kernel``."""
    from reefnb.runs import execute
    from reefnb.runs.processes import exclusive
    from reefnb.runs.spec import RunSpec
    from reefnb.sharing import mlperf

    refuse_package(options.solution, "mlperf submission")
    mlperf.check_options(options)

    def runner(solution: Solution, workflow: str, parameters: dict) -> dict:
        refuse_untrusted(solution.path, options.trust)
        spec = RunSpec(
            solution=solution.path,
            workflow=workflow,
            parameters=parameters,
            kernel=options.kernel,
            environment=options.environment,
        )
        with exclusive():
            return execute.run_from_spec(spec)

    return mlperf.submission(options, runner)


def export(options: ExportOptions) -> dict:
    """Write the package; its summary (package, solution, members, runs, expected results, sha256, warnings)."""
    from reefnb.sharing import package

    settings = {name: value for name, value in changed_fields(options).items() if name not in ("source", "output")}
    return package.export_package(options.source, options.output, **settings)


def import_package(package_path: str | Path, output: str | Path | None = None) -> dict:
    """Check a package and extract it (nothing runs)."""
    from reefnb.sharing import package

    folder = package.import_package(package_path, output)
    return {"package": str(package_path), "folder": str(folder)}


@dataclass
class ReproduceOptions:
    """``reef reproduce``: the source, which expectations, where they run and how strictly they are judged."""

    source: str | Path
    workflow: str | None = None
    tolerance_scale: float = 1.0
    folder: str | None = None
    trust: bool = False
    report: str | None = None
    environment: str | None = None
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    profile: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)


def is_package(source: str | Path) -> bool:
    from reefnb.sharing import package

    return package.is_package(source)


def reproduce(options: ReproduceOptions, on_plan: Callable[[install.Plan], None] | None = None) -> dict:
    """Rerun the expected experiments and judge every metric; the report (``verdict``: ``REPRODUCED`` when all hold)."""
    from reefnb.analysis import reproduce as reproduction  # papermill: loaded by the verbs that run notebooks
    from reefnb.sharing import package

    if not package.is_package(options.source):  # a package file is imported, then needs trust (the core's rule)
        refuse_untrusted(options.source, options.trust)
    return reproduction.reproduce(
        options.source,
        workflow=options.workflow,
        tolerance_scale=options.tolerance_scale,
        folder=options.folder,
        trust=options.trust,
        report=options.report,
        profile=options.profile,
        environment=options.environment,
        pip_options=pip_options(options.find_links, options.no_index),
        on_plan=on_plan,
        artifacts=dict(options.artifacts),
    )


# ---------------------------------------------------------------------------------------------
# Registries


def add_registry(name: str, url: str) -> dict:
    from reefnb.sharing import registry

    return registry.add_registry(name, url)


def remove_registry(name: str) -> dict:
    from reefnb.sharing import registry

    return registry.remove_registry(name)


def list_registries() -> list[dict]:
    from reefnb.sharing import registry

    return registry.list_registries()


def configure_registry(
    name: str,
    signers: Mapping[str, str] | None = None,
    remove: Sequence[str] = (),
    require_signatures: bool | None = None,
) -> dict:
    """Who may sign a registry's packages (identity -> OpenSSH public key file), and whether signatures are required."""
    from reefnb.sharing import registry

    return registry.configure(name, dict(signers or {}), list(remove), require_signatures)


def forget_pin(spec: str | None = None, registry_name: str | None = None, signers: bool = False) -> list[dict]:
    from reefnb.sharing import registry

    return registry.forget(spec, registry=registry_name, signers=signers)


def publish(package_path: str | Path, registry_name: str | None = None, sign: str | None = None) -> dict:
    from reefnb.sharing import registry

    return registry.publish(package_path, registry=registry_name, sign=sign)


def search(text: str = "", registry_name: str | None = None) -> list[dict]:
    from reefnb.sharing import registry

    return registry.search(text, registry=registry_name)


def pull(
    spec: str,
    registry_name: str | None = None,
    output: str | None = None,
    dry_run: bool = False,
    allow_downgrade: bool = False,
) -> dict:
    from reefnb.sharing import registry

    return registry.pull(spec, registry=registry_name, target=output, dry_run=dry_run, allow_downgrade=allow_downgrade)
