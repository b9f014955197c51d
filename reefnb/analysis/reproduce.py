"""``reef reproduce``: rerun a solution's or package's expected experiments and judge what they show.

Each metric gets a verdict: ``reproduced`` (within its tolerance), ``not reproduced`` (with the
difference), ``missing`` (the rerun did not record it) or ``informational`` (a timing: shown,
never judged). The rerun's executed notebook is compared, output by output, with the one the
package recorded (``reefnb.analysis.outputs``). An experiment is ``reproduced`` only when
something was compared and all of it agrees; one with no metric and no output to compare is
``nothing compared``, never reproduced. Beside every failure and difference the report puts what
differs from the recorded run: its environment (packages, Python, kernel, platform) and its inputs
(code cells, files read, parameters).
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefnb.analysis.outputs import NOTHING_COMPARED, OutputSettings, compare_notebooks, differences_html
from reefnb.common.exceptions import ReefError
from reefnb.common.files import write_text_atomically
from reefnb.common.pages import security_policy
from reefnb.common.paths import reef_home
from reefnb.kernel.recording import decode_value
from reefnb.provision.artifacts import fetch_artifact, file_sha256, supply_artifact
from reefnb.provision.envs import get_environment
from reefnb.provision.install import read_lock
from reefnb.provision.kernels import refuse_other_languages, solution_kernel
from reefnb.runs import telemetry
from reefnb.runs.attachments import compare_files
from reefnb.runs.execute import run_from_spec
from reefnb.runs.spec import RunSpec, StoreTarget
from reefnb.sharing.package import import_package, is_package, package_records, package_scrubber, recorded_notebook
from reefnb.sharing.sources import init
from reefnb.solution.manifest import load_solution
from reefnb.solution.notebook import read_notebook

log = logging.getLogger(__name__)

REPRODUCED, NOT_REPRODUCED, MISSING, INFORMATIONAL = "reproduced", "not reproduced", "missing", "informational"
REPORT_NAME = "reproduce-report.json"


def reproduce(
    source: str | Path,
    workflow: str | None = None,
    tolerance_scale: float = 1.0,
    folder: str | Path | None = None,
    trust: bool = False,
    report: str | Path | None = None,
    store: StoreTarget = True,
    profile: str | None = None,
    environment: str | None = None,
    pip_options: list[str] | None = None,
    on_plan: Any = None,
    artifacts: dict[str, str] | None = None,
) -> dict:
    """Rerun every expectation of ``source`` (a package, a solution folder or its manifest) and judge it.

    A package is imported first (into ``folder``, else a new folder under ``$REEF_HOME/reproductions``,
    kept with its runs and report, never in the temporary directory); its notebooks are
    foreign code, so ``trust=True`` is required to execute them. The report groups the verdicts by
    the manifest's claims, and is written as JSON and as HTML.

    Parameters
    ----------
    source
        A package (``.reef.zip``), a solution folder or its manifest.
    workflow
        Only the expectations of this workflow (default: all).
    tolerance_scale
        A positive factor applied to every tolerance.
    folder
        Where a package is imported (default: a new folder under ``$REEF_HOME/reproductions``).
    trust
        Execute a package's notebooks (foreign code).
    report
        The JSON report's path, or the HTML report's when it ends in ``.html``; the other one is
        written beside it (default: ``reproduce-report.json`` in the solution folder).
    store
        Where the runs' records go, as ``reefnb.run`` takes it.
    profile
        Run only the expectations listed for this profile (e.g. ``smoke``); an expectation that names
        no profile belongs to ``full``.
    environment
        Where the experiments run: ``"new"`` (the default for a package) makes a fresh environment from
        the package's whole lock, hash-checked; ``"native"`` installs nothing and runs each notebook on a
        kernel of its language (a Python notebook on this python's, another on the kernel it names, or a
        ReefError saying how to get it); any other value names an existing reef environment. For a
        solution folder the default is where ``reef run`` would run.
    pip_options
        Options for the installer of a ``"new"`` environment.
    on_plan
        Receives the plan of a ``"new"`` environment before anything changes (see ``reefnb.init``).
    artifacts
        Name -> path: files the user supplies for the solution's ``supplied`` artifacts (``reef export
        --external``), verified by sha256 before anything runs; one not given stops here.

    Returns
    -------
    dict
        The report: ``solution``, ``source``, ``folder``, ``experiments`` (each with a verdict per
        metric), ``counts`` of verdicts, the overall ``verdict`` (``reproduced`` or ``not reproduced``),
        ``claims``, ``badges``, ``profile``, and the ``report`` and ``html_report`` paths.

    Raises
    ------
    ReefError
        When ``tolerance_scale`` is not a positive number, there is nothing to reproduce (for that
        workflow or profile), the profile is not declared, a package is not trusted, or a supplied
        artifact is missing.
    """
    if isinstance(tolerance_scale, bool) or not isinstance(tolerance_scale, (int, float)) or not tolerance_scale > 0:
        raise ReefError(f"--tolerance-scale must be a positive number, got {tolerance_scale!r}")
    source = Path(source)
    package = is_package(source)
    solution = _open_source(source, package, trust, folder)
    originals = package_records(solution.path)
    try:
        settings = OutputSettings.from_manifest(
            solution.data, solution.manifest_path
        )  # a bad mask stops here, before anything runs
        provide_artifacts(solution, artifacts or {})
    except BaseException:
        if package and folder is None:  # nothing ran: the new reproduction folder goes
            shutil.rmtree(solution.path.parent, ignore_errors=True)
        raise
    kernel, environment = _where(
        solution, environment if environment is not None else ("new" if package else None), pip_options, on_plan
    )
    expectations = _expectations(solution, workflow, profile, originals)
    missing_files = files_missing(originals, solution.path)
    for path in missing_files:
        log.warning("%s: read by the recorded run, missing here: the experiments that read it will fail", path)
    started = time.monotonic()
    judging = _Judging(tolerance_scale, settings)
    experiments = []
    for entry in expectations:
        spec = RunSpec(
            solution=solution,
            workflow=entry.get("workflow", "run"),
            parameters=entry.get("parameters", {}),
            kernel=kernel,
            environment=environment,
        )
        record = run_from_spec(spec, store=store)
        experiment = _experiment(solution, entry, record, judging, originals)
        if missing_files:
            experiment["missing_files"] = missing_files
        experiments.append(experiment)
    result = _result(solution, source, tolerance_scale, missing_files, experiments)
    profiles = solution.data.get("profiles", {})
    result["profile"] = (
        None
        if profile is None
        else {"name": profile, **profiles[profile], "elapsed_minutes": round((time.monotonic() - started) / 60, 2)}
    )
    json_path, html_path = _report_paths(Path(report) if report is not None else solution.path / REPORT_NAME)
    result["report"], result["html_report"] = str(json_path), str(html_path)
    write_text_atomically(html_path, report_html(result))
    for experiment in experiments:  # the differences as HTML are the page's; the JSON keeps them per cell
        (experiment.get("outputs") or {}).pop("html", None)
    write_text_atomically(json_path, json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    return result


def _open_source(source: Path, package: bool, trust: bool, folder: str | Path | None) -> Any:
    """The solution to reproduce: a folder's, or a package's imported (only with ``trust``) into ``folder``
    or a new reproduction folder, which goes again when the import fails."""
    if not package:
        return load_solution(source)
    if not trust:
        raise ReefError(
            f"{source}: a package's notebooks are code from elsewhere: read them, then pass --trust to run them"
        )
    target = Path(folder) if folder is not None else _reproduction_folder()
    try:
        return load_solution(import_package(source, target))
    except BaseException:
        if folder is None:
            shutil.rmtree(target.parent, ignore_errors=True)
        raise


def _expectations(solution: Any, workflow: str | None, profile: str | None, originals: list[dict]) -> list[dict]:
    """The manifest's expectations in ``workflow`` and ``profile`` (every recorded run's when it declares none)."""
    profiles = solution.data.get("profiles", {})
    if profile is not None and profile not in profiles:
        raise ReefError(
            f"{solution.manifest_path}: /profiles: no profile '{profile}' (declared: "
            f"{', '.join(sorted(profiles)) or 'none'})"
        )
    expectations = [
        entry
        for entry in solution.data.get("expected", [])
        if (workflow is None or entry.get("workflow", "run") == workflow) and _in_profile(entry, profile, profiles)
    ]
    if not expectations and not solution.data.get("expected") and workflow is None and profile is None:
        expectations = runs_only_expectations(solution, originals)
    if not expectations:
        where = f" for workflow '{workflow}'" if workflow else ""
        where += f" in profile '{profile}'" if profile else ""
        raise ReefError(f"{solution.manifest_path}: /expected: nothing to reproduce{where}")
    return expectations


@dataclass(frozen=True)
class _Judging:
    """How every experiment of one reproduction is judged: the tolerances' factor and the output settings of the
    manifest (``outputs``)."""

    tolerance_scale: float
    outputs: OutputSettings


def _experiment(solution: Any, entry: dict, record: dict, judging: _Judging, originals: list[dict]) -> dict:
    """One expectation judged against the run that reproduced it: a verdict per metric and per output, and
    beside any failure or difference what differs from the recorded run (environment, inputs, machine)."""
    workflow, declared = entry.get("workflow", "run"), solution.metrics
    parameters = entry.get("parameters", {})
    metrics = {}
    for name, expected in sorted(entry["metrics"].items()):
        tolerance = expected.get("tolerance") or declared.get(name, {}).get("tolerance") or {}
        got = record["metrics"].get(name)
        metrics[name] = judge(
            expected["value"], None if got is None else _decoded(got), tolerance, judging.tolerance_scale
        )
        metrics[name]["unit"] = expected.get("unit") or (declared.get(name) or {}).get("unit")
    exact = _same_run(originals, workflow, parameters)
    original = exact or _original(originals, workflow, parameters)
    outputs = _compared_outputs(solution, record, exact, judging)
    experiment = {
        "id": entry.get("id"),
        "workflow": workflow,
        "parameters": parameters,
        "run_id": record["run_id"],
        "status": record["status"],
        "error": record.get("error"),
        "metrics": metrics,
        "outputs": outputs,
        "verdict": experiment_verdict(record["status"], metrics, outputs),
    }
    if record.get("error"):
        experiment["error"] = {
            **record["error"],
            "cell_source": _first_line(solution, workflow, record["error"].get("cell_index")),
        }
    if original is not None:
        inputs = input_differences(solution, record, original, outputs)
        if inputs:
            experiment["input_differences"] = inputs
        if experiment["verdict"] != REPRODUCED:  # beside every failure and every difference
            experiment["environment_differences"] = environment_differences(
                original.get("environment") or {}, record.get("environment") or {}
            )
    if original is not None and timing_failed(metrics):  # what the machine did then and now (reefnb.runs.telemetry)
        changes = telemetry.differences(original.get("system"), record.get("system"))
        if changes:
            experiment["telemetry_differences"] = changes
    if (files := compare_files(original, record)) is not None:  # informational: logs carry times, so they differ
        experiment["files"] = files
    return experiment


def experiment_verdict(status: str, metrics: dict[str, dict], outputs: dict | None) -> str:
    """``not reproduced`` when the run failed, a metric is off or missing, or an output differs; ``nothing
    compared`` when no metric was judged and no output compared; else ``reproduced``."""
    if status != "ok" or any(metric["verdict"] in (NOT_REPRODUCED, MISSING) for metric in metrics.values()):
        return NOT_REPRODUCED
    if outputs is not None and outputs["differences"]:
        return NOT_REPRODUCED
    judged = sum(1 for metric in metrics.values() if metric["verdict"] == REPRODUCED)
    if judged == 0 and (outputs is None or outputs["compared"] == 0):
        return NOTHING_COMPARED
    return REPRODUCED


def _compared_outputs(solution: Any, record: dict, original: dict | None, judging: _Judging) -> dict | None:
    """The rerun's executed notebook compared with the recorded run's (None when the package carries none, or
    the manifest turns the comparison off); the rerun's is scrubbed first, as the packed one was (its folder
    ``.``, the home ``~``, interpreters ``<python>``: ``package_scrubber``)."""
    if original is None or not judging.outputs.compare:
        return None
    recorded = recorded_notebook(solution.path, original["run_id"])
    output = (record.get("notebook") or {}).get("output_path")
    if recorded is None or not output or not Path(output).is_file():
        return None
    started = time.perf_counter()
    before = json.loads(recorded.read_text(encoding="utf-8"))
    after = json.loads(package_scrubber(solution.path, [record]).notebook(Path(output).read_text(encoding="utf-8")))
    comparison = compare_notebooks(before, after, judging.outputs)
    comparison["recorded_run_id"] = original["run_id"]
    comparison["seconds"] = round(time.perf_counter() - started, 4)
    if comparison["differences"]:
        comparison["html"] = differences_html(comparison, before, after)
    return comparison


def input_differences(solution: Any, record: dict, original: dict, outputs: dict | None) -> dict:
    """What this run was given that the recorded one was not: code cells changed since it, files it read whose
    sha256 differs or that are missing here, and parameters."""
    differences: dict[str, Any] = {}
    if outputs is not None and outputs.get("code_changed"):
        differences["code_cells"] = outputs["code_changed"]
    elif (original.get("notebook") or {}).get("sha256") not in (None, (record.get("notebook") or {}).get("sha256")):
        differences["notebook"] = "its code differs from the recorded run's"
    files = {}
    for path, digest in sorted((original.get("files_read_sha256") or {}).items()):
        here = solution.path / path
        if not here.is_file():
            files[path] = "missing here"
        elif file_sha256(here) != digest:
            files[path] = "sha256 differs"
    if files:
        differences["files"] = files
    # A parameter one record lacks took the notebook's default there, which an export may have rewritten (a path made
    # relative, an --external file's place): only values both runs were given are compared.
    before, after = original.get("parameters") or {}, record.get("parameters") or {}
    changed = {
        name: [before[name], after[name]]
        for name in sorted(set(before) & set(after))
        if not _same_parameter(before[name], after[name])
    }
    if changed:
        differences["parameters"] = changed
    return differences


def _same_parameter(before: Any, after: Any) -> bool:
    """Equal, or the same path written as the scrubber writes it (``./data`` for ``data``)."""
    if isinstance(before, str) and isinstance(after, str):
        return before.removeprefix("./") == after.removeprefix("./")
    return before == after


def _result(
    solution: Any, source: Path, tolerance_scale: float, missing_files: list[str], experiments: list[dict]
) -> dict:
    verdicts = [metric["verdict"] for experiment in experiments for metric in experiment["metrics"].values()]
    compared = [experiment["outputs"] for experiment in experiments if experiment.get("outputs")]
    outputs = {
        "compared": sum(item["compared"] for item in compared),
        "volatile": sum(item["volatile"] for item in compared),
        "different": sum(len(item["differences"]) for item in compared),
    }
    return {
        "solution": f"{solution.name}@{solution.version}",
        "source": str(source),
        "folder": str(solution.path),
        "tolerance_scale": tolerance_scale,
        "missing_files": missing_files,
        "experiments": experiments,
        "counts": {
            verdict: verdicts.count(verdict) for verdict in (REPRODUCED, NOT_REPRODUCED, MISSING, INFORMATIONAL)
        },
        "outputs": outputs,
        "verdict": overall_verdict(experiments),
        "badges": _badges(experiments),
        "claims": _claims(solution.data.get("claims", []), experiments),
    }


def overall_verdict(experiments: list[dict]) -> str:
    """``not reproduced`` if any experiment is; ``nothing compared`` when none compared anything; else ``reproduced``
    (an experiment that compared nothing then still says so in its own line)."""
    verdicts = [experiment["verdict"] for experiment in experiments]
    if NOT_REPRODUCED in verdicts or not verdicts:
        return NOT_REPRODUCED
    if all(verdict == NOTHING_COMPARED for verdict in verdicts):
        return NOTHING_COMPARED
    return REPRODUCED


def _where(
    solution: Any, environment: str | None, pip_options: list[str] | None, on_plan: Any
) -> tuple[str | None, str | None]:
    """The (kernel, environment) the experiments run on, after making a ``new`` environment: the one its lock
    recorded (``reefnb.provision.install.install_recorded``). ``native`` keeps each notebook's language: a
    Python notebook runs on this python's kernel, another on its own kernel (``reefnb.provision.kernels``)."""
    if environment is None:
        return None, None
    if environment == "native":
        return solution_kernel(solution), None
    refuse_other_languages(solution, environment)
    if environment == "new":
        name = re.sub(r"[^a-z0-9._-]+", "-", solution.name.lower()).strip("-.")[:50] or "solution"
        name = f"{name}-reproduce"
        locked = (read_lock(solution) or {}).get("packages") or {}
        init(
            solution,
            environment=name,
            replace=True,
            pinned=locked,
            whole_lock=True,
            pip_options=pip_options,
            on_plan=on_plan,
        )
        return None, name
    get_environment(environment)  # a clear error when it does not exist
    return None, environment


def provide_artifacts(solution: Any, supplied: dict[str, str]) -> None:
    """Each artifact the user supplies (``supplied`` in the manifest, or named in ``supplied``): verified and
    placed, from ``supplied[name]`` or the cache; an ArtifactError that says what to type when neither has it."""
    specs = solution.data.get("artifacts", {})
    for name, path in supplied.items():
        supply_artifact(name, specs, path, manifest_path=solution.manifest_path)
    for name, spec in specs.items():
        if spec.get("supplied") and name not in supplied:
            fetch_artifact(name, specs, offline=True, manifest_path=solution.manifest_path)


def runs_only_expectations(solution: Any, originals: list[dict]) -> list[dict]:
    """A solution that expects no metrics (its notebook records none) is checked by running each workflow:
    with the parameters of its recorded run, if the package carries one; the verdict is whether it ends ok."""
    expectations = []
    for name in solution.data.get("workflows", {}):
        recorded = [record for record in originals if record.get("workflow") == name]
        expectations.append(
            {"workflow": name, "parameters": recorded[-1].get("parameters", {}) if recorded else {}, "metrics": {}}
        )
    return expectations


def files_missing(records: list[dict], folder: Path) -> list[str]:
    """Files (inside the solution) that the recorded runs read and that are not here."""
    read = {path for record in records for path in record.get("files_read") or [] if isinstance(path, str)}
    return sorted(path for path in read if not path.startswith(("/", "~")) and not (folder / path).exists())


def _first_line(solution: Any, workflow: str, index: Any) -> str | None:
    """The first non-empty line of the workflow notebook's cell ``index`` (None when unknown)."""
    if not isinstance(index, int):
        return None
    try:
        cells = read_notebook(solution.workflow(workflow).notebook).cells
    except ReefError:
        return None
    if not 0 <= index < len(cells):
        return None
    lines = [line.strip() for line in cells[index].source.splitlines() if line.strip()]
    return lines[0][:120] if lines else ""


def failure_reasons(experiment: dict) -> list[str]:
    """Why an experiment failed, one sentence each: the exception and its message, the cell, the files missing
    (the HTML report shows them, and ``reef reproduce``'s text, ``reefnb.frontends.reproduce_text``)."""
    reasons = []
    error = experiment.get("error")
    if error:
        where = ""
        if error.get("cell_index") is not None:
            where = f" in cell {error['cell_index']}" + (
                f" (`{error['cell_source']}`)" if error.get("cell_source") else ""
            )
        reasons.append(f"{experiment['status']}: {error.get('name')}: {error.get('message')}{where}")
    if experiment.get("missing_files") and experiment.get("verdict") != REPRODUCED:
        reasons.append(f"files the original run read, missing here: {', '.join(experiment['missing_files'])}")
    return reasons


def _report_paths(path: Path) -> tuple[Path, Path]:
    if path.suffix.lower() in (".html", ".htm"):
        return path.with_suffix(".json"), path
    return path, path.with_suffix(".html")


def _in_profile(entry: dict, profile: str | None, profiles: dict) -> bool:
    if profile is None or not profiles:
        return True
    return profile in entry.get("profiles", ["full"])


def _claims(claims: list[dict], experiments: list[dict]) -> list[dict]:
    """Each claim's verdict from the experiments that support it (only the metrics it names)."""
    by_id = {experiment["id"]: experiment for experiment in experiments if experiment.get("id")}
    verdicts = []
    for claim in claims:
        ran = [by_id[name] for name in claim["expected"] if name in by_id]
        judged = {}
        for experiment in ran:
            for name, metric in experiment["metrics"].items():
                if not claim.get("metrics") or name in claim["metrics"]:
                    judged[f"{experiment['id']}.{name}"] = metric["verdict"]
        if not ran:
            verdict = "not checked"
        elif all(experiment["status"] == "ok" for experiment in ran) and _claim_holds(claim, ran, judged):
            verdict = REPRODUCED if len(ran) == len(claim["expected"]) else "partly checked, reproduced"
        else:
            verdict = NOT_REPRODUCED
        verdicts.append(
            {
                "id": claim["id"],
                "statement": claim["statement"],
                "where": claim.get("where"),
                "experiments": claim["expected"],
                "metrics": judged,
                "verdict": verdict,
            }
        )
    return verdicts


def _claim_holds(claim: dict, ran: list[dict], judged: dict[str, str]) -> bool:
    """A claim that names metrics holds when those are reproduced; one that names none, when its experiments are."""
    if claim.get("metrics"):
        return bool(judged) and all(verdict in (REPRODUCED, INFORMATIONAL) for verdict in judged.values())
    return all(experiment["verdict"] == REPRODUCED for experiment in ran)


def _reproduction_folder() -> Path:
    """A new ``$REEF_HOME/reproductions/TIME-RANDOM/solution`` to import a package into."""
    home = reef_home() / "reproductions"
    home.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=home)) / "solution"


def judge(expected: Any, got: Any, tolerance: dict, scale: float = 1.0) -> dict:
    """One metric's verdict: within ``abs`` or ``rel`` (each times ``scale``) of the expected value, or equal."""
    verdict: dict[str, Any] = {"expected": expected, "got": got, "tolerance": tolerance}
    if tolerance.get("informational"):
        return {**verdict, "verdict": INFORMATIONAL}
    if got is None:
        return {**verdict, "verdict": MISSING}
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (expected, got))
    if not numbers:
        return {**verdict, "verdict": REPRODUCED if got == expected else NOT_REPRODUCED}
    difference = abs(got - expected)
    relative = difference / abs(expected) if expected else (0.0 if difference == 0 else math.inf)
    allowed = max(tolerance.get("abs", 0) * scale, tolerance.get("rel", 0) * scale * abs(expected))
    same = (
        (math.isnan(got) and math.isnan(expected))
        if isinstance(got, float) and math.isnan(got)
        else difference <= allowed
    )
    verdict.update({"difference": difference, "relative_difference": relative if math.isfinite(relative) else None})
    return {**verdict, "verdict": REPRODUCED if same else NOT_REPRODUCED}


def timing_failed(metrics: dict[str, dict], informational_margin: float = 0.1) -> bool:
    """Whether a timing metric was not reproduced, or (informational)
    moved more than ``informational_margin`` (relative)."""
    for name, metric in metrics.items():
        if not telemetry.is_timing(name, metric.get("unit")):
            continue
        if metric["verdict"] == NOT_REPRODUCED:
            return True
        expected, got = metric.get("expected"), metric.get("got")
        numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (expected, got))
        if (
            metric["verdict"] == INFORMATIONAL
            and numbers
            and expected
            and abs(got - expected) / abs(expected) > informational_margin
        ):
            return True
    return False


def environment_differences(original: dict, current: dict) -> dict:
    """What differs between two run environments: kernel, python,
    OS (the platform), CPU, memory, GPU, and package versions."""
    differences: dict[str, Any] = {}
    for key in ("kernel", "python", "os", "cpu", "memory_bytes", "gpu"):
        before, after = original.get(key), current.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changed = {
                name: [before.get(name), after.get(name)]
                for name in sorted(set(before) | set(after))
                if name not in ("executable", "prefix") and before.get(name) != after.get(name)
            }
            if changed and set(before) & set(after):
                differences[key] = changed
        elif before != after and before is not None:
            differences[key] = [before, after]
    before, after = original.get("packages") or {}, current.get("packages") or {}
    packages = {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
    if packages:
        differences["packages"] = packages
    return differences


def compared_text(report: dict) -> str:
    """How much was compared, e.g. ``3 metrics, 12 outputs compared, 2 volatile ignored``, and what did not agree."""
    counts, outputs = report["counts"], report.get("outputs") or {"compared": 0, "volatile": 0, "different": 0}
    judged = counts[REPRODUCED] + counts[NOT_REPRODUCED] + counts[MISSING]
    parts = [
        f"{judged} metric{'s' if judged != 1 else ''}",
        f"{outputs['compared']} output{'s' if outputs['compared'] != 1 else ''} compared",
    ]
    parts.append(f"{outputs['volatile']} volatile ignored")
    if counts[NOT_REPRODUCED] or counts[MISSING]:
        parts.append(
            f"{counts[NOT_REPRODUCED]} metric{'s' if counts[NOT_REPRODUCED] != 1 else ''} not reproduced, "
            f"{counts[MISSING]} missing"
        )
    if outputs["different"]:
        parts.append(f"{outputs['different']} output{'s' if outputs['different'] != 1 else ''} different")
    if counts[INFORMATIONAL]:
        parts.append(f"{counts[INFORMATIONAL]} informational")
    failed = sum(1 for experiment in report["experiments"] if experiment["status"] != "ok")
    if failed:
        parts.append(f"{failed} run{'s' if failed != 1 else ''} failed")
    return ", ".join(parts)


_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1d2329; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
.verdict { font-weight: 600; } .reproduced { color: #116329; } .not-reproduced, .missing { color: #b42318; }
.informational, .not-checked, .nothing-compared { color: #57606a; }
.badge { display: inline-block; border: 1px solid #116329; color: #116329; border-radius: 3px; padding: .1em .5em;
margin-right: .5em; } code { font-size: 90%; } .diff { font-size: 90%; color: #57606a; }
"""


def report_html(report: dict) -> str:
    """The report as one self-contained HTML page: badges, claims, then every experiment's metrics,
    with the environment differences beside each experiment whose metrics failed. Every value is escaped
    text, and the page's policy lets no script run in it at all (``reefnb.common.pages.security_policy``)."""
    parts = _report_heading(report)
    if report.get("claims"):
        parts += _claims_html(report["claims"])
    parts.append("<h2>Experiments</h2>")
    for experiment in report["experiments"]:
        parts += _experiment_html(experiment)
    parts.append(
        '<p class="diff">Written by reef reproduce; the JSON report: '
        f"<code>{html.escape(report.get('report') or '')}</code></p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _report_heading(report: dict) -> list[str]:
    """The page's head, the verdict, the counts, the badges and the profile (when the run used one)."""
    e = html.escape
    counts = report["counts"]
    parts = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8">{security_policy()}',
        f"<title>reef reproduce: {e(report['solution'])}</title><style>{_STYLE}</style></head><body>",
        f'<h1>{e(report["solution"])}: <span class="verdict '
        f'{_css(report["verdict"])}">{e(report["verdict"].upper())}</span></h1>',
        f"<p>Compared: {e(compared_text(report))}. Metrics: {counts[REPRODUCED]} reproduced, "
        f"{counts[NOT_REPRODUCED]} not reproduced, "
        f"{counts[MISSING]} missing, {counts[INFORMATIONAL]} informational; tolerances scaled by "
        f"{report['tolerance_scale']:g}. "
        f"Source: <code>{e(report['source'])}</code></p>",
        "<p>"
        + (
            "".join(f'<span class="badge">{e(badge)}</span>' for badge in report["badges"])
            or "No ACM badge is supported by this run."
        )
        + "</p>",
    ]
    if report.get("profile"):
        profile = report["profile"]
        planned = f" (expected {profile['expected_minutes']} min)" if profile.get("expected_minutes") else ""
        parts.append(f"<p>Profile <b>{e(profile['name'])}</b>: {profile['elapsed_minutes']} min{e(planned)}</p>")
    return parts


def _claims_html(claims: list[dict]) -> list[str]:
    """The claims as a table: each one's statement (and where the paper makes it), verdict and metrics' verdicts."""
    e = html.escape
    parts = ["<h2>Claims</h2><table><tr><th>claim</th><th>statement</th><th>verdict</th><th>metrics</th></tr>"]
    for claim in claims:
        metrics = "<br>".join(
            f'{e(name)}: <span class="{_css(verdict)}">{e(verdict)}</span>'
            for name, verdict in claim["metrics"].items()
        )
        where = f'<br><span class="diff">{e(claim["where"])}</span>' if claim.get("where") else ""
        parts.append(
            f"<tr><td>{e(claim['id'])}</td><td>{e(claim['statement'])}{where}</td>"
            f'<td class="verdict {_css(claim["verdict"])}">{e(claim["verdict"])}</td><td>{metrics}</td></tr>'
        )
    parts.append("</table>")
    return parts


def _experiment_html(experiment: dict) -> list[str]:
    """One experiment: its run and why it failed, its metrics, then what differs from the original run."""
    e = html.escape
    parameters = ", ".join(f"{key}={value!r}" for key, value in experiment["parameters"].items()) or "defaults"
    title = f"{experiment['id']}: " if experiment.get("id") else ""
    parts = [
        f"<h3>{e(title)}{e(experiment['workflow'])} ({e(parameters)})</h3><p>run "
        f"<code>{e(experiment['run_id'])}</code>: {e(experiment['status'])}, "
        f'<span class="verdict {_css(experiment["verdict"])}">{e(experiment["verdict"])}</span></p>'
    ]
    for reason in failure_reasons(experiment):
        parts.append(f'<p class="why"><b>Why:</b> {e(reason)}</p>')
    if (experiment.get("error") or {}).get("traceback"):
        parts.append(f"<details><summary>traceback</summary><pre>{e(experiment['error']['traceback'])}</pre></details>")
    if experiment["metrics"]:
        parts.append("<table><tr><th>metric</th><th>expected</th><th>got</th><th>tolerance</th><th>verdict</th></tr>")
    for name, metric in experiment["metrics"].items():
        unit = f" {metric['unit']}" if metric.get("unit") else ""
        got = "" if metric["verdict"] == MISSING else value_text(metric["got"]) + unit
        parts.append(
            f"<tr><td>{e(name)}</td><td>{e(value_text(metric['expected']) + unit)}</td><td>{e(got)}</td>"
            f'<td>{e(tolerance_summary(metric["tolerance"]))}</td><td class="verdict '
            f'{_css(metric["verdict"])}">{e(metric["verdict"])}</td></tr>'
        )
    if experiment["metrics"]:
        parts.append("</table>")
    parts += _outputs_html(experiment.get("outputs")) + _inputs_html(experiment.get("input_differences") or {})
    return (
        parts
        + _environment_html(experiment.get("environment_differences") or {})
        + _telemetry_html(experiment.get("telemetry_differences") or {})
    )


def _outputs_html(outputs: dict | None) -> list[str]:
    """How many outputs were compared, and the differing cells as nbdime shows a diff."""
    if outputs is None:
        return ["<p>Outputs: not compared (no recorded notebook to compare with).</p>"]
    e = html.escape
    parts = [
        f"<p>Outputs: {outputs['compared']} compared, {outputs['volatile']} volatile ignored, "
        f"{len(outputs['differences'])} different.</p>"
    ]
    if outputs["differences"]:
        parts.append(
            "<ul>" + "".join(f"<li>{e(difference['first'])}</li>" for difference in outputs["differences"]) + "</ul>"
        )
        parts.append(outputs.get("html") or "")
    return parts


def _inputs_html(inputs: dict) -> list[str]:
    """What this run was given that the recorded one was not, as a table (nothing when nothing differs)."""
    if not inputs:
        return []
    e = html.escape
    parts = ["<p>What differs from the recorded run's inputs:</p><table><tr><th>input</th><th>difference</th></tr>"]
    if inputs.get("code_cells"):
        parts.append(
            f"<tr><td>code cells {e(', '.join(map(str, inputs['code_cells'])))}</td><td>changed since the "
            "recorded run</td></tr>"
        )
    if inputs.get("notebook"):
        parts.append(f"<tr><td>the notebook</td><td>{e(inputs['notebook'])}</td></tr>")
    for path, change in (inputs.get("files") or {}).items():
        parts.append(f"<tr><td><code>{e(path)}</code></td><td>{e(change)}</td></tr>")
    for name, (before, after) in (inputs.get("parameters") or {}).items():
        parts.append(f"<tr><td>parameter {e(name)}</td><td>{e(repr(before))} recorded, {e(repr(after))} here</td></tr>")
    parts.append("</table>")
    return parts


def _environment_html(differences: dict) -> list[str]:
    """What differs from the original run's environment, as a table (nothing when nothing differs)."""
    if not differences:
        return []
    e = html.escape
    parts = [
        "<p>What differs from the original run's "
        "environment:</p><table><tr><th>what</th><th>original</th><th>here</th></tr>"
    ]
    for key, change in differences.items():
        rows = change.items() if isinstance(change, dict) else [(key, change)]
        for name, (before, after) in ((name, pair) for name, pair in rows):
            label = key if name == key else f"{key} {name}"
            parts.append(f"<tr><td>{e(label)}</td><td>{e(str(before))}</td><td>{e(str(after))}</td></tr>")
    parts.append("</table>")
    return parts


def _telemetry_html(changes: dict) -> list[str]:
    """The timings that moved, original against here with their ratio, as a table (nothing when none moved)."""
    if not changes:
        return []
    e = html.escape
    parts = [
        "<p>A timing moved: what the machine did in the original run and here (telemetry):</p>"
        "<table><tr><th>what</th><th>original</th><th>here</th><th>ratio</th></tr>"
    ]
    for name, change in changes.items():
        unit = f" {change['unit']}" if change["unit"] else ""
        ratio = "" if change["ratio"] is None else f"x{change['ratio']:.3g}"
        parts.append(
            f"<tr><td>{e(name)}</td><td>{e(value_text(change['original']) + unit)}</td>"
            f"<td>{e(value_text(change['here']) + unit)}</td><td>{e(ratio)}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _css(verdict: str) -> str:
    return re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")


def _badges(experiments: list[dict]) -> list[str]:
    """ACM's badges the reproduction supports: Functional when every experiment ran, Results Reproduced when every
    experiment compared something and all of it agreed."""
    badges = []
    if experiments and all(experiment["status"] == "ok" for experiment in experiments):
        badges.append("Artifacts Evaluated - Functional")
    if experiments and all(experiment["verdict"] == REPRODUCED for experiment in experiments):
        badges.append("Results Reproduced")
    return badges


def _same_run(records: list[dict], workflow: str, parameters: dict) -> dict | None:
    """The last recorded run of ``workflow`` with these parameters (its outputs are comparable with the rerun's)."""
    matching = [
        record
        for record in records
        if record.get("workflow") == workflow
        and set(record.get("parameters") or {}) == set(parameters)
        and all(_same_parameter(value, parameters[name]) for name, value in (record.get("parameters") or {}).items())
    ]
    return matching[-1] if matching else None


def _original(records: list[dict], workflow: str, parameters: dict) -> dict | None:
    matching = [
        record for record in records if record.get("workflow") == workflow and record.get("parameters") == parameters
    ]
    return matching[-1] if matching else (records[-1] if records else None)


def _decoded(metric: dict) -> Any:
    return decode_value(metric)


def value_text(value: Any) -> str:
    """A metric's value as the report shows it (floats to six significant digits)."""
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def tolerance_summary(tolerance: dict) -> str:
    """A tolerance as the report shows it: ``abs 0.01, rel 0.05``, ``exact`` or ``informational``."""
    if tolerance.get("informational"):
        return "informational"
    parts = [f"{key} {value:g}" for key, value in tolerance.items() if key in ("abs", "rel")]
    return ", ".join(parts) or "exact"


# ``reefnb.analysis.reproduce`` is this module once it is imported, so the public API names the function so.
reproduce_solution = reproduce
