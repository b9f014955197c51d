"""``reef mlperf submission``: an MLPerf Inference submission tree from a solution's LoadGen runs.

A solution that declares an ``mlperf`` object in its manifest (the round's benchmark it runs as, its own
name in the open division, its accuracy script, the workflow and its parameters) can
be submitted: for each scenario asked, reef reuses the newest recorded runs that match (the same
solution folder, workflow defaults, scenario, mode and LoadGen profile, ``ok``, with their LoadGen logs
attached) or runs what is missing through reef's own run machinery, then writes the tree in the layout
the submission checker of round ``ROUND`` reads::

    DIR/{division}/{submitter}/systems/{system}.json
    DIR/{division}/{submitter}/src/{solution}/...            the solution's code
    DIR/{division}/{submitter}/model_mapping.json            open division: its own name -> the round's benchmark
    DIR/{division}/{submitter}/results/{system}/{benchmark}/{scenario}/
        performance/run_1/mlperf_log_{summary,detail}.txt
        accuracy/mlperf_log_{summary,detail}.txt, mlperf_log_accuracy.json (truncated), accuracy.txt (+ hash)
        measurements.json, user.conf, README.md

The system description has every field reef reads from the machine (CPU, cores, memory, storage, OS,
frameworks and versions, accelerators) and takes the fields only a person knows from ``--system``; a
missing one is refused before anything runs, all of them named in one line. The tree's files are
attached to a run record of their own (the workflow's, its parameters ``mlperf_submission`` (the round),
submitter, division, profile, scenarios and the runs it came from), so the tree is a reef artifact too and
``reef export`` packs it with the solution's runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ComplianceFailed, ReefError, UsageError
from reefnb.common.json_input import read_json
from reefnb.common.tool_output import run_tool
from reefnb.common.version import __version__
from reefnb.provision import detection
from reefnb.provision.artifacts import fetch_artifact
from reefnb.runs.attachments import media_type
from reefnb.runs.store import default_store
from reefnb.sharing.mlperf_compliance import (
    TESTS,
    Verification,
    accuracy_entries,
    audit_config,
    required_tests,
    verify_accuracy,
    verify_performance,
    write_test,
)
from reefnb.solution.manifest import Solution, load_solution

log = logging.getLogger(__name__)

ROUND = "v6.1"
DIVISIONS = ("open", "closed")
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
PROFILES = ("rules", "short")
LOGS = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
ACCURACY_LOG = "mlperf_log_accuracy.json"
VIEWABLE_BYTES = 4096  # what MLPerf's truncate_accuracy_log.py keeps of each end of an accuracy log
ACCURACY_TIMEOUT_S = 3600  # the accuracy script over a whole data set
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
IGNORED_CODE = shutil.ignore_patterns(
    "runs", "__pycache__", ".ipynb_checkpoints", "reef.lock.json", "reproduce-report.*", ".git"
)

# The system description's fields only a person can give (checked by the round's submission checker). The
# accelerator's details join them when the machine has an accelerator (without one reef writes "N/A").
HUMAN_FIELDS = (
    "system_name",
    "status",
    "system_type",
    "system_type_detail",
    "cooling",
    "hw_notes",
    "sw_notes",
    "host_storage_type",
    "host_memory_configuration",
    "host_processor_interconnect",
    "host_networking",
    "host_networking_topology",
)
ACCELERATOR_DETAILS = (
    "accelerator_frequency",
    "accelerator_host_interconnect",
    "accelerator_interconnect",
    "accelerator_interconnect_topology",
    "accelerator_memory_configuration",
    "accelerator_on-chip_memories",
)
OPTIONAL_TEXT = (
    "hw_notes",
    "sw_notes",
)  # must be there, may be empty (the checker asks no meaningful response of them)
STATUSES = ("available", "preview", "rdi")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge", "edge,datacenter")
MEASUREMENT_FIELDS = (
    "input_data_types",
    "retraining",
    "starting_weights_filename",
    "weight_data_types",
    "weight_transformations",
)

# The checks of the round's checker a tree is known to fail, and why (README of the tree, docs/mlperf.md): what the
# round asks of the benchmarks reef knows (the checker's dataset-size and required-scenarios-edge of v6.1).
FAILURE_REASONS = {
    "min_duration_check": (
        "the short profile lowers LoadGen's min_duration below the 600 s the rules ask (user.conf says by how much)"
    ),
    "dataset_check": (
        "the accuracy run covers {covered} samples (the solution's data set), not the {size} of {benchmark}'s data set"
    ),
    "scenarios_check": "the closed division asks {benchmark} of an edge system for {required}; the tree has {have}",
}
DATASET_SIZES = {"yolo-95": 1525, "yolo-99": 1525}
REQUIRED_SCENARIOS = {
    "yolo-95": ("SingleStream", "MultiStream", "Offline"),
    "yolo-99": ("SingleStream", "MultiStream", "Offline"),
}


@dataclass
class SubmissionOptions:
    """``reef mlperf submission``: what to submit, where, as whom."""

    solution: str | Path
    output: str | Path
    submitter: str
    division: str = "open"
    system: str | Path | None = None  # the JSON file of the fields only a person knows
    scenarios: list[str] = field(default_factory=list)  # default: the workflow's scenario
    parameters: dict[str, Any] = field(
        default_factory=dict
    )  # over the workflow's defaults (model, backend, dataset...)
    short: bool = False
    environment: str | None = None
    kernel: str | None = None
    trust: bool = False


@dataclass
class ComplianceRun:
    """A compliance test's recorded run (closed division) and reef's verification of it."""

    test: str
    record: dict
    reused: bool
    verified: dict[str, Verification] = field(default_factory=dict)
    replaced: str | None = None  # the earlier run of the test that failed its verification, and why


@dataclass
class ScenarioRuns:
    """The recorded runs a scenario's results come from (one run may give both modes), and its compliance tests."""

    scenario: str
    performance: dict
    accuracy: dict
    reused: bool
    compliance: list[ComplianceRun] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# What a solution declares


def mlperf_settings(solution: Solution) -> dict:
    """The manifest's ``mlperf`` object, with its defaults; ReefError naming the manifest when it has none."""
    settings = solution.data.get("mlperf")
    if not isinstance(settings, dict):
        raise ReefError(
            f"{solution.manifest_path or solution.path}: /mlperf: none: this solution declares no MLPerf "
            "benchmark (docs/mlperf.md)"
        )
    return {
        "workflow": "run",
        "profile_parameter": "loadgen_profile",
        "compliance_parameter": "compliance_test",
        "datasets": {},
        "frameworks": [],
        "measurements": {},
        **settings,
    }


def tree_benchmark(settings: dict, division: str) -> tuple[str, str | None]:
    """The benchmark's folder name in the tree, and the round's benchmark model_mapping.json maps it to (open
    division, when the names differ; None otherwise)."""
    name = settings.get("open_name") or settings["benchmark"] if division == "open" else settings["benchmark"]
    return name, (settings["benchmark"] if name != settings["benchmark"] else None)


def _defaults(solution: Solution, settings: dict) -> dict:
    """The workflow's default parameters: the model, backend and data set a submission is of."""
    return dict(solution.workflow(settings["workflow"]).parameters)


# ---------------------------------------------------------------------------------------------
# The system description


def read_system_file(path: str | Path | None) -> dict:
    """The ``--system`` file's fields (a JSON object of strings, numbers or booleans); {} without one."""
    if path is None:
        return {}
    data = read_json(path, expect=dict)
    return {str(key): value for key, value in data.items()}


def machine_fields(environment: dict) -> dict:
    """The system description's fields reef reads from the machine, given a run record's ``environment``."""
    cpu = environment.get("cpu") or {}
    system = environment.get("os") or {}
    gpus = []
    try:
        gpus = detection.detect(["gpu"]).get("gpu") or []
    except Exception as error:  # no detector is worth failing a submission for: the person fills the field
        log.debug("gpu detection failed: %s", error)
    packages = environment.get("packages") or {}
    storage = shutil.disk_usage(Path.home())
    fields: dict[str, Any] = {
        "number_of_nodes": "1",
        "host_processor_model_name": cpu.get("model") or platform.processor() or "unknown",
        "host_processors_per_node": _sockets(),
        "host_processor_core_count": cpu.get("count") or os.cpu_count() or 1,
        "host_processor_frequency": _cpu_frequency(),
        "host_processor_caches": _cpu_caches(),
        "host_memory_capacity": _gigabytes(environment.get("memory_bytes")),
        "host_storage_capacity": _gigabytes(storage.total),
        "host_network_card_count": _network_cards(),
        "operating_system": " ".join(
            part
            for part in (
                system.get("distribution"),
                f"(Linux {system.get('release')})" if system.get("release") else None,
            )
            if part
        )
        or platform.platform(),
        "framework": ", ".join(f"{name} {packages[name]}" for name in _present(packages, []) if name) or "none",
        "other_software_stack": "",
        "accelerators_per_node": str(len(gpus)),  # a string: the checker reads a bare 0 as an empty answer
        "accelerator_model_name": ", ".join(sorted({str(gpu.get("name") or gpu.get("model") or "GPU") for gpu in gpus}))
        or "N/A",
        "accelerator_memory_capacity": _gpu_memory(gpus) or "N/A",
    }
    if not gpus:
        fields.update({name: "N/A" for name in ACCELERATOR_DETAILS})
    fields["_gpus"] = gpus  # for the software stack (drivers); not written
    return fields


def system_description(
    environment: dict, given: dict, submitter: str, division: str, frameworks: list[str]
) -> tuple[dict, list[str]]:
    """The whole system description and the fields still missing (what neither the machine nor ``given`` fills)."""
    fields = machine_fields(environment)
    packages = environment.get("packages") or {}
    fields["framework"] = (
        ", ".join(f"{name} {packages[name]}" for name in _present(packages, frameworks)) or fields["framework"]
    )
    python = (environment.get("python") or {}).get("version")
    stack = [f"Python {python}"] if python else []
    stack += [f"{name} {packages[name]}" for name in ("mlcommons-loadgen", "numpy", "pycocotools") if name in packages]
    drivers = sorted({str(gpu["driver"]) for gpu in fields.pop("_gpus", []) if gpu.get("driver")})
    stack += [f"NVIDIA driver {driver}" for driver in drivers]
    stack.append(f"reefnb {__version__}")
    fields["other_software_stack"] = ", ".join(stack)
    fields.update({key: value for key, value in given.items() if key not in ("division", "submitter")})
    fields["division"], fields["submitter"] = division, submitter
    wanted = list(HUMAN_FIELDS) + (
        list(ACCELERATOR_DETAILS) if str(fields.get("accelerators_per_node")) not in ("0", "") else []
    )
    missing = [
        name for name in wanted if name not in fields or (fields[name] in (None, "") and name not in OPTIONAL_TEXT)
    ]
    return fields, missing


def _present(packages: dict, names: list[str]) -> list[str]:
    return [name for name in names if name in packages]


def _gigabytes(size: Any) -> str:
    return f"{float(size) / 1e9:.1f} GB" if size else "unknown"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _sockets() -> int:
    ids = set(re.findall(r"^physical id\s*:\s*(\d+)", _read("/proc/cpuinfo"), re.MULTILINE))
    return max(1, len(ids))


def _cpu_frequency() -> str:
    maximum = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if maximum.isdigit():
        return f"{int(maximum) / 1000:.0f} MHz"
    found = re.search(r"^cpu MHz\s*:\s*([\d.]+)", _read("/proc/cpuinfo"), re.MULTILINE)
    return f"{float(found.group(1)):.0f} MHz" if found else "unknown"


def _cpu_caches() -> str:
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind, size = (_read(str(index / name)).strip() for name in ("level", "type", "size"))
        if level and size:
            caches.append(f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''} {size}")
    if caches:
        return ", ".join(caches)
    found = re.search(r"^cache size\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def _network_cards() -> int:
    try:
        return sum(1 for path in Path("/sys/class/net").iterdir() if path.name != "lo" and (path / "device").exists())
    except OSError:
        return 0


def _gpu_memory(gpus: list[dict]) -> str:
    """Each accelerator's memory (reef's GPU detection: nvidia-smi's
    memory.total), as the checker's examples write it."""
    return ", ".join(sorted({f"{gpu['memory_bytes'] / 2**30:.0f} GB" for gpu in gpus if gpu.get("memory_bytes")}))


# ---------------------------------------------------------------------------------------------
# Runs: reuse what matches, run what is missing


def _files(record: dict) -> set[str]:
    return {entry["name"] for entry in record.get("files", [])}


def _same_run(record: dict, solution: Solution, wanted: dict) -> bool:
    """An ok run of this solution folder with the wanted parameters."""
    parameters = record.get("parameters", {})
    if record.get("status") != "ok" or record.get("solution", {}).get("path") != str(solution.path.resolve()):
        return False
    return all(str(parameters.get(name)) == str(value) for name, value in wanted.items())  # -p values are text


def _matches(record: dict, solution: Solution, wanted: dict, mode: str) -> bool:
    """An ok run of this solution folder with the wanted parameters, in ``mode`` (or both), its logs attached."""
    parameters = record.get("parameters", {})
    return (
        _same_run(record, solution, wanted)
        and parameters.get("mode") in (mode, "both")
        and {f"{mode}/{name}" for name in LOGS} <= _files(record)
    )


def scenario_parameters(
    solution: Solution, settings: dict, scenario: str, profile: str, chosen: dict | None = None
) -> dict:
    """The parameters of a submission's run: the workflow's defaults, then ``chosen`` (``-p``), the scenario and
    the LoadGen profile."""
    parameters = {
        name: value
        for name, value in {**_defaults(solution, settings), **(chosen or {})}.items()
        if name not in ("mode",)
    }
    parameters.update({"scenario": scenario, settings["profile_parameter"]: profile})
    return parameters


def find_runs(
    solution: Solution, settings: dict, scenario: str, profile: str, chosen: dict | None = None
) -> dict[str, dict]:
    """The newest matching run of each mode (``performance``, ``accuracy``) recorded for ``scenario``."""
    wanted = scenario_parameters(solution, settings, scenario, profile, chosen)
    found: dict[str, dict] = {}
    for record in default_store().records(solution=solution.name, status="ok"):  # oldest first: the newest wins
        for mode in ("performance", "accuracy"):
            if _matches(record, solution, wanted, mode):
                found[mode] = record
    return found


Runner = Callable[[Solution, str, dict], dict]


def gather_runs(
    solution: Solution, settings: dict, scenarios: list[str], profile: str, runner: Runner, chosen: dict | None = None
) -> list[ScenarioRuns]:
    """Each scenario's runs: those recorded, and the missing modes run now (one ``both`` run when both are missing)."""
    gathered = []
    for scenario in scenarios:
        found = find_runs(solution, settings, scenario, profile, chosen)
        missing = [mode for mode in ("performance", "accuracy") if mode not in found]
        if missing:
            parameters = scenario_parameters(solution, settings, scenario, profile, chosen)
            parameters["mode"] = "both" if len(missing) == 2 else missing[0]
            record = runner(solution, settings["workflow"], parameters)
            if record.get("status") != "ok":
                error = (record.get("error") or {}).get("message") or record.get("status")
                raise ReefError(
                    f"{solution.path}: the {scenario} run for the submission failed ({record.get('run_id')}): {error}"
                )
            for mode in missing:
                if not {f"{mode}/{name}" for name in LOGS} <= _files(record):
                    raise ReefError(
                        f"{solution.path}: run {record['run_id']} attached no {mode}/ LoadGen logs ({', '.join(LOGS)})"
                    )
                found[mode] = record
        gathered.append(ScenarioRuns(scenario, found["performance"], found["accuracy"], reused=not missing))
    return gathered


def compliance_tests(settings: dict) -> list[str]:
    """The compliance tests a closed submission runs: the manifest's ``compliance_tests``, else those the round
    requires of the benchmark."""
    return list(settings.get("compliance_tests") or required_tests(settings["benchmark"]))


def _compliance_files(test: str) -> set[str]:
    """What a compliance run attaches (``TEST0x/``): LoadGen's logs, and TEST01's sampled responses."""
    return {f"{test}/{name}" for name in LOGS + ((ACCURACY_LOG,) if test == "TEST01" else ())}


def compliance_parameters(
    solution: Solution, settings: dict, scenario: str, profile: str, test: str, chosen: dict | None = None
) -> dict:
    """The parameters of a compliance test's run: the scenario's, in mode performance, the compliance parameter set."""
    return {
        **scenario_parameters(solution, settings, scenario, profile, chosen),
        "mode": "performance",
        settings["compliance_parameter"]: test,
    }


def _run_compliance(
    solution: Solution, settings: dict, parameters: dict, test: str, scenario: str, runner: Runner
) -> dict:
    record = runner(solution, settings["workflow"], parameters)
    if record.get("status") != "ok":
        error = (record.get("error") or {}).get("message") or record.get("status")
        raise ReefError(
            f"{solution.path}: the {scenario} {test} run for the submission failed ({record.get('run_id')}): {error}"
        )
    if not _compliance_files(test) <= _files(record):
        raise ReefError(
            f"{solution.path}: run {record['run_id']} attached no {test}/ LoadGen logs "
            f"({', '.join(sorted(_compliance_files(test)))})"
        )
    return record


def verify_compliance(runs: ScenarioRuns, test: str, record: dict) -> dict[str, Verification]:
    """reef's verification of a compliance run against the scenario's performance run (and, TEST01, the whole
    accuracy log of its accuracy run), by the file each is written to."""
    logs = run_folder_files(record) / test
    results = {
        "verify_performance.txt": verify_performance(
            test, run_folder_files(runs.performance) / "performance" / LOGS[1], logs / LOGS[1]
        )
    }
    if test == "TEST01":
        results["verify_accuracy.txt"] = verify_accuracy(
            run_folder_files(runs.accuracy) / "accuracy" / ACCURACY_LOG, logs / ACCURACY_LOG
        )
    return results


def gather_compliance(
    solution: Solution,
    settings: dict,
    gathered: list[ScenarioRuns],
    profile: str,
    runner: Runner,
    chosen: dict | None = None,
) -> None:
    """Each scenario's compliance runs (closed division): the newest recorded run that matches, else one run now (mode
    performance, the compliance parameter set), verified. A run that fails its verification is run once more (a recorded
    one may be of another state of the machine, a latency of a busy moment), said in the README; a verification that
    still fails is refused in one line, before the tree."""
    for runs in gathered:
        for test in compliance_tests(settings):
            parameters = compliance_parameters(solution, settings, runs.scenario, profile, test, chosen)
            found = None
            for record in default_store().records(solution=solution.name, status="ok"):  # oldest first: the newest wins
                if _same_run(record, solution, parameters) and _compliance_files(test) <= _files(record):
                    found = record
            run = ComplianceRun(
                test,
                found or _run_compliance(solution, settings, parameters, test, runs.scenario, runner),
                reused=found is not None,
            )
            run.verified = verify_compliance(runs, test, run.record)
            failed = _first_failure(run)
            if failed:
                run = ComplianceRun(
                    test,
                    _run_compliance(solution, settings, parameters, test, runs.scenario, runner),
                    reused=False,
                    replaced=failed,
                )
                run.verified = verify_compliance(runs, test, run.record)
            failed = _first_failure(run)
            if failed:
                raise ComplianceFailed(f"{runs.scenario} {test}: {failed}: no closed tree is written")
            runs.compliance.append(run)


def _first_failure(run: ComplianceRun) -> str | None:
    """``run RUN_ID: FILE: TEST FAIL: why`` of the first verification that failed (None: all passed)."""
    for name, result in run.verified.items():
        if not result.passed:
            return (
                f"run {run.record['run_id']}: {name}: "
                f"{next(line for line in result.lines if line.startswith('TEST FAIL'))}"
            )
    return None


def run_folder_files(record: dict) -> Path:
    """Where a run's attached files are (``SOLUTION/runs/RUN_ID/files``)."""
    return Path(record["solution"]["path"]) / "runs" / record["run_id"] / "files"


# ---------------------------------------------------------------------------------------------
# The tree


def truncate_accuracy_log(source: Path, target: Path) -> str:
    """Copy LoadGen's accuracy log as MLPerf's ``truncate_accuracy_log.py`` leaves it: its first and last 4096
    characters around a ``...`` line when it is longer; the sha256 of the whole original returned (for accuracy.txt)."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    text = source.read_text(encoding="utf-8")
    if len(source.read_bytes()) >= VIEWABLE_BYTES:
        text = text[:VIEWABLE_BYTES] + "\n\n...\n\n" + text[-VIEWABLE_BYTES:]
    target.write_text(text, encoding="utf-8")
    return digest


def accuracy_text(solution: Solution, settings: dict, record: dict, accuracy_log: Path) -> str:
    """What the benchmark's accuracy script prints for the run's accuracy log, run on the run's own python."""
    folder_of_solution = solution.path.resolve()
    script = folder_of_solution / settings["accuracy_script"]
    if not script.is_file():
        raise ReefError(f"{solution.manifest_path}: /mlperf/accuracy_script: no file {script}")
    dataset = record["parameters"].get("dataset")
    artifact = settings["datasets"].get(dataset, dataset)
    artifacts = solution.data.get("artifacts", {})
    if artifact not in artifacts:
        raise ReefError(f"{solution.manifest_path}: /mlperf/datasets: the run's data set '{dataset}' names no artifact")
    folder = fetch_artifact(artifact, artifacts, manifest_path=solution.manifest_path).path
    python = (record.get("environment", {}).get("python") or {}).get("executable") or sys.executable
    if not Path(python).is_file():
        python = sys.executable
    command = [python, str(script), "--mlperf-accuracy-file", str(accuracy_log), "--dataset-dir", str(folder)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder_of_solution), os.environ.get("PYTHONPATH")])),
    }
    done = run_tool(command, ACCURACY_TIMEOUT_S, keep_tail=True, env=environment, cwd=folder_of_solution)
    if done.timed_out:
        raise ReefError(f"{script}: the accuracy script did not end in {ACCURACY_TIMEOUT_S} s: stopped")
    if done.returncode != 0:
        raise ReefError(
            f"{script}: the accuracy script failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}"
        )
    return done.stdout


def _measurements(settings: dict, parameters: dict) -> dict:
    """``measurements.json``: the declared measurement fields of the run's backend (else the ``*`` entry)."""
    declared = settings["measurements"]
    chosen = {**declared.get("*", {}), **declared.get(str(parameters.get("backend")), {})}
    chosen.setdefault("starting_weights_filename", str(parameters.get("model", "")))
    return {name: chosen.get(name, "") for name in MEASUREMENT_FIELDS} | {
        key: value for key, value in chosen.items() if key not in MEASUREMENT_FIELDS
    }


def user_conf(performance: dict, files: Path) -> str:
    """The ``user.conf`` the performance run's LoadGen read (attached by the run); else one written from the
    detail log's effective settings (a run from before reef wrote a user.conf), said in its first line."""
    for name in ("performance/user.conf", "user.conf"):
        if (files / name).is_file():
            return (files / name).read_text(encoding="utf-8")
    effective = _effective_settings(files / "performance" / "mlperf_log_detail.txt")
    scenario = performance["parameters"].get("scenario", "*")
    keys = {
        "min_duration_ms": "min_duration",
        "min_query_count": "min_query_count",
        "max_duration_ms": "max_duration",
        "target_qps": "target_qps",
    }
    lines = [
        f"# written by reef from the run's LoadGen detail log ({performance['run_id']}): the run attached no user.conf"
    ]
    lines += [f"*.{scenario}.{key} = {effective[name]}" for name, key in keys.items() if name in effective]
    return "\n".join(lines) + "\n"


def _effective_settings(detail: Path) -> dict:
    settings = {}
    for line in detail.read_text(encoding="utf-8").splitlines():
        if line.startswith(":::MLLOG"):
            entry = json.loads(line.removeprefix(":::MLLOG").strip())
            key = str(entry.get("key", ""))
            if key.startswith("effective_"):
                settings[key.removeprefix("effective_")] = entry.get("value")
    return settings


def known_failures(settings: dict, division: str, profile: str, gathered: list[ScenarioRuns]) -> dict[str, str]:
    """The checks of the round's checker this tree fails, as far as reef knows the round's rules, and why."""
    benchmark = settings["benchmark"]
    failures = {}
    if profile == "short":
        failures["min_duration_check"] = FAILURE_REASONS["min_duration_check"]
    covered = min(
        len(accuracy_entries(run_folder_files(runs.accuracy) / "accuracy" / ACCURACY_LOG)) for runs in gathered
    )
    size = DATASET_SIZES.get(benchmark)
    if size is None or covered < size:
        failures["dataset_check"] = FAILURE_REASONS["dataset_check"].format(
            covered=covered, size=size or "unknown size", benchmark=benchmark
        )
    required = REQUIRED_SCENARIOS.get(benchmark, ())
    have = [runs.scenario for runs in gathered]
    if division == "closed" and not set(required) <= set(have):
        failures["scenarios_check"] = FAILURE_REASONS["scenarios_check"].format(
            benchmark=benchmark, required=", ".join(required), have=", ".join(have)
        )
    return failures


def _readme(
    options: SubmissionOptions,
    profile: str,
    runs: ScenarioRuns,
    benchmark: str,
    official: str | None,
    failures: dict[str, str],
) -> str:
    effective = _effective_settings(run_folder_files(runs.performance) / "performance" / "mlperf_log_detail.txt")
    lines = [
        f"# {benchmark}, {runs.scenario}: an MLPerf Inference {ROUND} result written by reef",
        "",
        f"Submitter {options.submitter}, {options.division} division"
        + (
            f"; `{benchmark}` stands for the official benchmark `{official}` (model_mapping.json)." if official else "."
        ),
        f"LoadGen profile `{profile}`: min_duration {effective.get('min_duration_ms')} ms, min_query_count "
        f"{effective.get('min_query_count')}, performance_sample_count "
        f"{effective.get('performance_sample_count')}, seeds "
        f"{effective.get('qsl_rng_seed')}/{effective.get('sample_index_rng_seed')}/"
        f"{effective.get('schedule_rng_seed')} (qsl/sample index/schedule).",
        "",
        "## Runs",
        "",
        f"- performance: reef run `{runs.performance['run_id']}` "
        f"({'recorded before' if runs.reused else 'run for this submission'})",
        f"- accuracy: reef run `{runs.accuracy['run_id']}`; accuracy.txt is the output of the solution's "
        "accuracy script on `mlperf_log_accuracy.json`, then the sha256 of that log (the log here is truncated as "
        "MLPerf's truncate_accuracy_log.py does)",
        f"- parameters: {', '.join(f'{key}={value}' for key, value in sorted(runs.performance['parameters'].items()))}",
        "",
        "## Reproduce",
        "",
        "```",
        f"reef mlperf submission {Path(options.solution).name} -o DIR --submitter {options.submitter} "
        f"--division {options.division} "
        f"--system SYSTEM.json --scenario {runs.scenario}{' --short' if profile == 'short' else ''}"
        + "".join(f" -p {name} {value}" for name, value in options.parameters.items()),
        "```",
    ]
    if runs.compliance:
        lines += ["", "## Compliance tests", ""]
        lines += [
            "Each is a LoadGen performance run with MLPerf's audit.config, verified by reef (TEST0x/verify_*.txt):",
            "",
        ]
        for run in runs.compliance:
            verdicts = "; ".join(f"{name}: {result.lines[-1]}" for name, result in run.verified.items())
            how = "recorded before" if run.reused else "run for this submission"
            again = f", run again after {run.replaced}" if run.replaced else ""
            lines.append(f"- {run.test}: reef run `{run.record['run_id']}` ({how}{again}): {verdicts}")
    if failures:
        lines += [
            "",
            "## What the submission checker refuses in this tree",
            "",
            "This tree is not a valid submission. The round's checker fails:",
            "",
        ]
        lines += [f"- `{name}`: {why}" for name, why in failures.items()]
    return "\n".join(lines) + "\n"


def write_tree(
    options: SubmissionOptions,
    solution: Solution,
    settings: dict,
    system: dict,
    gathered: list[ScenarioRuns],
    profile: str,
    output: Path,
    failures: dict[str, str] | None = None,
) -> list[Path]:
    """Write the submission tree under ``output``; the files written."""
    benchmark, official = tree_benchmark(settings, options.division)
    root = output / options.division / options.submitter
    system_id = str(
        system.get("system_id") or re.sub(r"[^A-Za-z0-9._-]+", "_", str(system["system_name"])).strip("_.") or "system"
    )
    described = {key: value for key, value in system.items() if key != "system_id"}
    (root / "systems").mkdir(parents=True)
    (root / "systems" / f"{system_id}.json").write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")
    shutil.copytree(solution.path, root / "src" / solution.name, ignore=IGNORED_CODE)
    if official:
        (root / "model_mapping.json").write_text(json.dumps({benchmark: official}, indent=2) + "\n", encoding="utf-8")
    for runs in gathered:
        folder = root / "results" / system_id / benchmark / runs.scenario
        performance_files, accuracy_files = run_folder_files(runs.performance), run_folder_files(runs.accuracy)
        (folder / "performance" / "run_1").mkdir(parents=True)
        (folder / "accuracy").mkdir()
        for name in LOGS:
            shutil.copyfile(performance_files / "performance" / name, folder / "performance" / "run_1" / name)
            shutil.copyfile(accuracy_files / "accuracy" / name, folder / "accuracy" / name)
        accuracy_log = accuracy_files / "accuracy" / ACCURACY_LOG
        if not accuracy_log.is_file():
            raise ReefError(f"run {runs.accuracy['run_id']}: no accuracy/{ACCURACY_LOG} attached")
        printed = accuracy_text(solution, settings, runs.accuracy, accuracy_log)
        digest = truncate_accuracy_log(accuracy_log, folder / "accuracy" / ACCURACY_LOG)
        (folder / "accuracy" / "accuracy.txt").write_text(printed.rstrip("\n") + f"\nhash={digest}\n", encoding="utf-8")
        measurements = _measurements(settings, runs.performance["parameters"])
        (folder / "measurements.json").write_text(json.dumps(measurements, indent=2) + "\n", encoding="utf-8")
        (folder / "user.conf").write_text(user_conf(runs.performance, performance_files), encoding="utf-8")
        for run in runs.compliance:  # closed division: TEST0x/ beside the results
            run.verified = write_test(
                folder,
                run.test,
                performance_files / "performance",
                accuracy_log,
                run_folder_files(run.record) / run.test,
            )
        (folder / "README.md").write_text(
            _readme(options, profile, runs, benchmark, official, failures or {}), encoding="utf-8"
        )
    return sorted(path for path in output.rglob("*") if path.is_file())


# ---------------------------------------------------------------------------------------------
# The command


def check_options(options: SubmissionOptions) -> None:
    """Refuse what cannot make a submission, before anything runs (UsageError, exit 2)."""
    if not NAME.match(options.submitter or ""):
        raise UsageError(f"--submitter: '{options.submitter}' is not a plain name (letters, digits, '.', '_', '-')")
    if options.division not in DIVISIONS:
        raise UsageError(f"--division: '{options.division}' is not one of {', '.join(DIVISIONS)}")
    unknown = [scenario for scenario in options.scenarios if scenario not in SCENARIOS]
    if unknown:
        raise UsageError(f"--scenario: {', '.join(unknown)}: not a LoadGen scenario ({', '.join(SCENARIOS)})")
    reserved = sorted({"scenario", "mode", "loadgen_profile"} & set(options.parameters))
    if reserved:
        raise UsageError(f"-p {reserved[0]}: the submission chooses it (--scenario, both modes, --short)")
    output = Path(options.output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder: give a new one with -o")


def submission(options: SubmissionOptions, runner: Runner) -> dict:
    """Build the tree: check everything a person gives first, then reuse or run, then write and record it."""
    check_options(options)
    solution = load_solution(options.solution)
    settings = mlperf_settings(solution)
    refusal = closed_refusal(solution, settings) if options.division == "closed" else None
    if refusal:
        raise UsageError(refusal)
    if Path(options.output).resolve().is_relative_to(solution.path.resolve()):
        raise UsageError(
            f"-o {options.output}: inside the solution folder, whose code the tree copies: write it elsewhere"
        )
    profile = "short" if options.short else "rules"
    scenarios = list(
        dict.fromkeys(options.scenarios or [str(_defaults(solution, settings).get("scenario", "SingleStream"))])
    )
    given = read_system_file(options.system)
    host = {**detection.host_fingerprint(), "packages": {}}  # this machine, as a run record's environment says it
    _, missing = system_description(host, given, options.submitter, options.division, settings["frameworks"])
    if missing:
        source = f"--system {options.system}" if options.system else "no --system file"
        raise UsageError(
            f"{source}: missing the system description fields only a person can give: {', '.join(missing)} "
            "(docs/mlperf.md)"
        )
    _check_values(given)
    gathered = []
    for scenario in scenarios:  # a scenario's compliance tests right after its runs: the same state of the machine
        gathered += gather_runs(solution, settings, [scenario], profile, runner, options.parameters)
        if options.division == "closed":
            gather_compliance(solution, settings, gathered[-1:], profile, runner, options.parameters)
    failures = known_failures(settings, options.division, profile, gathered)
    system, _ = system_description(
        gathered[0].performance.get("environment") or host,
        given,
        options.submitter,
        options.division,
        settings["frameworks"],
    )
    output = Path(options.output)
    staging = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        write_tree(options, solution, settings, system, gathered, profile, staging, failures)
        if output.exists():
            output.rmdir()
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted(path for path in output.rglob("*") if path.is_file())
    record = _record(options, solution, settings, gathered, profile, output, files)
    return {
        "output": str(output),
        "division": options.division,
        "submitter": options.submitter,
        "benchmark": tree_benchmark(settings, options.division)[0],
        "official_benchmark": tree_benchmark(settings, options.division)[1],
        "profile": profile,
        "round": ROUND,
        "scenarios": [
            {
                "scenario": runs.scenario,
                "performance_run": runs.performance["run_id"],
                "accuracy_run": runs.accuracy["run_id"],
                "reused": runs.reused,
                "compliance": [
                    {
                        "test": run.test,
                        "run": run.record["run_id"],
                        "reused": run.reused,
                        "verified": {name: check.passed for name, check in run.verified.items()},
                        "replaced": run.replaced,
                    }
                    for run in runs.compliance
                ],
            }
            for runs in gathered
        ],
        "files": [str(path.relative_to(output)) for path in files],
        "record": record["run_id"],
        "expected_failures": list(failures),
        "failure_reasons": failures,
    }


def closed_refusal(solution: Solution, settings: dict) -> str | None:
    """Why ``--division closed`` is refused for this solution, in one line (None: it is not). A solution whose model
    stands for the round's benchmark (``open_name``) is no closed result of it; the benchmark itself needs a workflow
    parameter naming the compliance test a run runs, and the tests the round requires."""
    benchmark, own = settings["benchmark"], settings.get("open_name")
    if own and own != benchmark:
        return (
            f"--division closed: {solution.name} runs {own}, not the round's benchmark {benchmark} (it stands "
            "for it in the open "
            "division through model_mapping.json), and the closed division takes only the round's own "
            "benchmarks: submit to the open division"
        )
    tests, required = compliance_tests(settings), required_tests(benchmark)
    where = f"{solution.manifest_path or solution.path}: /mlperf"
    parameter = settings["compliance_parameter"]
    if parameter not in _defaults(solution, settings):
        return (
            f"--division closed: {where}/compliance_parameter: workflow '{settings['workflow']}' has no "
            f"parameter '{parameter}', which "
            f"runs the compliance tests ({', '.join(tests) or 'none'}) the closed division needs (docs/mlperf.md)"
        )
    unknown, missing = sorted(set(tests) - set(TESTS)), [test for test in required if test not in tests]
    if unknown or missing:
        why = (
            f"{', '.join(unknown)}: not one reef runs ({', '.join(TESTS)})"
            if unknown
            else f"misses {', '.join(missing)} ({ROUND} requires it of {benchmark})"
        )
        return f"--division closed: {where}/compliance_tests: {why}"
    for test in tests:
        try:
            audit_config(test, benchmark)
        except ReefError as error:
            return f"--division closed: {error}"
    return None


def _check_values(given: dict) -> None:
    problems = []
    if "system_id" in given and not NAME.match(str(given["system_id"])):
        problems.append(f"system_id '{given['system_id']}' is not a plain name (letters, digits, '.', '_', '-')")
    if "status" in given and str(given["status"]).lower() not in STATUSES:
        problems.append(f"status '{given['status']}' is not one of {', '.join(STATUSES)}")
    if "system_type" in given and given["system_type"] not in SYSTEM_TYPES:
        problems.append(f"system_type '{given['system_type']}' is not one of {', '.join(SYSTEM_TYPES)}")
    if problems:
        raise UsageError(f"--system: {'; '.join(problems)}")


def _record(
    options: SubmissionOptions,
    solution: Solution,
    settings: dict,
    gathered: list[ScenarioRuns],
    profile: str,
    output: Path,
    files: list[Path],
) -> dict:
    """The tree as a run record of its own (parameter ``mlperf_submission``): its files copied to the record's
    ``runs/RUN_ID/files`` and listed with their sha256, the runs it came from in its parameters."""
    from reefnb.runs.execute import new_run_id  # papermill: only once a tree is written

    base = gathered[0].performance
    run_id = new_run_id()
    kept = solution.path.resolve() / "runs" / run_id / "files"
    listed = []
    for path in files:
        name = path.relative_to(output).as_posix()
        target = kept / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        data = path.read_bytes()
        listed.append(
            {
                "name": name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "media_type": media_type(name),
            }
        )
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    record = {
        **{
            key: base[key]
            for key in ("record_version", "solution", "notebook", "environment", "provenance")
            if key in base
        },
        "run_id": run_id,
        "workflow": base.get("workflow", settings["workflow"]),  # a workflow of the manifest: reef export packs it
        "parameters": {
            "mlperf_submission": ROUND,
            "submitter": options.submitter,
            "division": options.division,
            "benchmark": tree_benchmark(settings, options.division)[0],
            "loadgen_profile": profile,
            "scenarios": ",".join(runs.scenario for runs in gathered),
            "runs": ",".join(
                dict.fromkeys(
                    run_id
                    for runs in gathered
                    for run_id in (
                        runs.performance["run_id"],
                        runs.accuracy["run_id"],
                        *(run.record["run_id"] for run in runs.compliance),
                    )
                )
            ),
        },
        "metrics": {},
        "status": "ok",
        "error": None,
        "started": now,
        "ended": now,
        "duration_s": 0.0,
        "files": listed,
    }
    notebook = dict(record.get("notebook") or {})
    notebook["output_path"] = str(
        kept.parent / Path(str(notebook.get("path") or "notebook.ipynb")).name
    )  # no notebook ran: the files' folder
    record["notebook"] = notebook
    record["provenance"] = {
        **record.get("provenance", {}),
        "command": f"reef mlperf submission {options.solution} -o {output}",
    }
    default_store().add(record)
    return record
