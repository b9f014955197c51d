"""``reef mlperf submission`` on the flagship, judged by MLPerf's own submission checker (round v6.1).

One submission tree is built per module with ``--short`` (LoadGen's short profile, the synthetic set, SingleStream)
and checked by ``python -m submission.submission_checker.main`` from ``../shared/mlperf-inference-tools/tools``
(an unmodified copy of mlcommons/inference's tools; it needs PyYAML): only its test-duration and data-set-coverage
checks may fail. The runs go to the development kernel (``--kernel python3``, this interpreter with the flagship's
packages) rather than the flagship's own environment: these tests are about the tree, and `reef init` of the
flagship (a new TensorFlow environment) is test_flagship.py's. Real LoadGen, real TFLite, real pycocotools.
The parts of a submission that need no run (settings, options, the accuracy log's copy, user.conf) are tested
without the flagship's kernel, at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.cli import call
from helpers.mlperf import TOOLS, Built
from helpers.solutions import FLAGSHIP

import reefnb
from reefnb.common.exceptions import ReefError, UsageError
from reefnb.sharing import mlperf
from reefnb.sharing.mlperf_compliance import required_tests
from reefnb.solution.manifest import Solution

# the runs' kernel needs these; this process imports none of them (TensorFlow alone takes 3 s)
KERNEL_MISSING = [
    name
    for name in ("tensorflow", "ai_edge_litert", "pycocotools", "mlperf_loadgen")
    if not importlib.util.find_spec(name)
]

IGNORED = shutil.ignore_patterns("runs", "__pycache__", "reproduce-report.*", "reef.lock.json")
OFFICIAL_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}
SYSTEM = {
    "system_name": "reef test machine",
    "status": "available",
    "system_type": "edge",
    "system_type_detail": "virtual machine",
    "cooling": "air",
    "hw_notes": "a CI machine",
    "sw_notes": "built by tests/sharing/test_mlperf.py",
    "host_storage_type": "SSD",
    "host_memory_configuration": "unknown (virtual machine)",
    "host_processor_interconnect": "N/A",
    "host_networking": "N/A",
    "host_networking_topology": "N/A",
}
# The checker logs an ERROR line per problem, not the check's name: each line's check, by the words it logs
# (submission_checker/checks/*.py); a line none of these names is reported as it is.
CHECKER_ERRORS = {
    r"performance_sample_count, found": "performance_sample_count_check",
    r"rng_seed is wrong": "seeds_check",
    r"Early stopping condition was not met|Latency constraint": "latency_check",
    r"Required minimum (Query Count|samples per query)": "min_query_count_check",
    r"Test duration less than 600s": "min_duration_check",
    r"accurcy run does not cover all dataset": "dataset_check",
    r"not hash value for accuracy\.txt|accuracy score not found": "accuracy_result_check",
    r"mlperf_log_accuracy\.json (is missing|is not truncated)": "accuracy_json_check",
    r"contains errors|has loadgen errors": "loadgen_errors_check",
    r"field \S+ (is missing|requires a meaningful response)": "required_fields_check",
    r"has invalid status": "availability_check",
    r"has invalid system type": "system_type_check",
    r"has submitter|has division": "submitter_check/division_check",
    r"src directory does not exist": "directory_exist_check",
    r"is missing (user\.conf|README\.md)|is having empty": "required_files_check",
    r"Performance log missing|system json file not found|measurements json file not found": "missing_check",
    r"Execution occurred in running check": "a check raised",
}
SUMMARY_ERRORS = re.compile(
    r"Some .* Checks failed for|NoResults |SUMMARY: submission has errors|\S+ contains errors:$"
)
SHORT_FAILURES = {"min_duration_check", "dataset_check"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """The documented command on a copy of the flagship, with a REEF_HOME of its own: every run missing, so it runs
    SingleStream's performance and accuracy (one run, mode both) with the short profile, then writes the tree."""
    if KERNEL_MISSING:
        pytest.skip(f"the flagship's kernel needs {', '.join(KERNEL_MISSING)}")
    root = tmp_path_factory.mktemp("mlperf")
    folder = root / "obj-detection-coco-tf"
    shutil.copytree(FLAGSHIP, folder, ignore=IGNORED)
    (root / "system.json").write_text(json.dumps(SYSTEM))
    variables = {"REEF_HOME": str(root / "reef-home")}
    output = root / "submission"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        started = time.perf_counter()
        code, out, err = call(
            "mlperf", "submission", str(folder), "-o", str(output), "--submitter", "reef",
            "--system", str(root / "system.json"), "--short", "--kernel", "python3", "--json",
        )  # fmt: skip
        seconds = time.perf_counter() - started
    assert code == 0, err + out
    print(f"reef mlperf submission --short (SingleStream, runs included): {seconds:.1f} s")  # -s shows it
    return Built(folder, output, json.loads(out), seconds, variables)


@pytest.fixture
def its_home(built, monkeypatch) -> Built:
    for name, value in built.variables.items():
        monkeypatch.setenv(name, value)
    return built


def _scenario_folder(built: Built) -> Path:
    [folder] = (built.output / "open" / "reef" / "results").glob("*/ssd-mobilenet/SingleStream")
    return folder


def _checker(tree: Path, csv: Path) -> tuple[int, set[str], list[str]]:
    """The official checker on ``tree``: its exit code, the checks whose ERROR lines it logged, and ERROR lines no
    check is known for."""
    done = subprocess.run(
        [sys.executable, "-m", "submission.submission_checker.main",
         "--input", str(tree), "--version", "v6.1", "--csv", str(csv)],
        cwd=TOOLS, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    failed, unknown = set(), []
    for line in (done.stdout + done.stderr).splitlines():
        if " ERROR] " not in line:
            continue
        message = line.split(" ERROR] ", 1)[1]
        names = [name for pattern, name in CHECKER_ERRORS.items() if re.search(pattern, message)]
        if names:
            failed.update(names)
        elif not SUMMARY_ERRORS.search(message) and not message.startswith(("Loadgen built with", "Can't open")):
            unknown.append(message)
    return done.returncode, failed, unknown


def test_the_official_checker_fails_only_test_duration_and_data_set_coverage(built, tmp_path):
    if not (TOOLS / "submission" / "submission_checker" / "main.py").is_file():
        pytest.skip(
            f"MLPerf's submission checker is not at {TOOLS} (../shared/mlperf-inference-tools beside the repository)"
        )
    pytest.importorskip("yaml", reason="MLPerf's submission checker needs PyYAML")
    code, failed, unknown = _checker(built.output, tmp_path / "summary.csv")
    assert unknown == [] and failed == SHORT_FAILURES and code == 1
    assert set(built.result["expected_failures"]) == SHORT_FAILURES


def test_the_tree_has_the_layout_logs_and_hashes_the_checker_reads(its_home):
    built = its_home
    assert [entry["reused"] for entry in built.result["scenarios"]] == [False]
    root = built.output / "open" / "reef"
    [system_file] = (root / "systems").glob("*.json")
    system = json.loads(system_file.read_text())
    assert (
        {key: system[key] for key in SYSTEM} == SYSTEM
        and system["division"] == "open"
        and system["submitter"] == "reef"
    )
    assert (
        system["host_processor_core_count"]
        and system["host_memory_capacity"].endswith("GB")
        and "ai-edge-litert" in system["framework"]
    )
    assert json.loads((root / "model_mapping.json").read_text()) == {"ssd-mobilenet": "yolo-95"}
    code = root / "src" / "obj-detection-coco-tf"
    assert (code / "detbench" / "accuracy_coco.py").is_file() and not (code / "runs").exists()

    scenario = _scenario_folder(built)
    performance = scenario / "performance" / "run_1" / "mlperf_log_detail.txt"
    effective = {}
    for line in performance.read_text().splitlines():
        entry = json.loads(line.removeprefix(":::MLLOG"))
        effective[entry["key"]] = entry["value"]
    assert {
        name: effective[f"effective_{name}"] for name in OFFICIAL_SEEDS
    } == OFFICIAL_SEEDS  # the official v6.1 seeds
    assert "Result is : VALID" in (scenario / "performance" / "run_1" / "mlperf_log_summary.txt").read_text()

    # accuracy.txt: the accuracy script's mAP line, then the sha256 of the whole log (the record's attached copy)
    record = reefnb.default_store().get(built.result["scenarios"][0]["accuracy_run"])
    attached = built.folder / "runs" / record["run_id"] / "files" / "accuracy" / "mlperf_log_accuracy.json"
    lines = (scenario / "accuracy" / "accuracy.txt").read_text().splitlines()
    mean_ap = float(re.match(r"mAP=([\d.]+)%", lines[0]).group(1))
    assert mean_ap / 100 == pytest.approx(record["metrics"]["mAP"]["value"], abs=5e-5)
    assert lines[-1] == f"hash={hashlib.sha256(attached.read_bytes()).hexdigest()}"
    truncated = (scenario / "accuracy" / "mlperf_log_accuracy.json").read_text()
    whole = attached.read_text()
    assert len(whole) > 8192 and truncated == whole[:4096] + "\n\n...\n\n" + whole[-4096:]

    measurements = json.loads((scenario / "measurements.json").read_text())
    assert (
        measurements["weight_data_types"] == "fp32"
        and measurements["starting_weights_filename"] == "ssd-mobilenet-tiny-w100-128"
    )
    assert (scenario / "user.conf").read_text().strip() and "short" in (scenario / "user.conf").read_text()
    readme = (scenario / "README.md").read_text()
    assert "min_duration_check" in readme and "dataset_check" in readme and record["run_id"] in readme


def test_the_tree_is_a_record_with_its_files_attached(its_home):
    built = its_home
    record = reefnb.default_store().get(built.result["record"])
    assert record["parameters"]["mlperf_submission"] == "v6.1" and record["parameters"]["loadgen_profile"] == "short"
    files = {entry["name"]: entry for entry in record["files"]}
    assert set(files) == set(built.result["files"])
    kept = built.folder / "runs" / record["run_id"] / "files"
    for name, entry in files.items():
        assert (
            hashlib.sha256((kept / name).read_bytes()).hexdigest()
            == entry["sha256"]
            == hashlib.sha256((built.output / name).read_bytes()).hexdigest()
        )


def test_a_second_submission_reuses_the_recorded_runs(its_home, tmp_path):
    built = its_home
    before = len(reefnb.default_store().records())
    code, out, err = call(
        "mlperf", "submission", str(built.folder), "-o", str(tmp_path / "again"), "--submitter", "reef",
        "--system", str(built.folder.parent / "system.json"), "--short", "--kernel", "python3",
    )  # fmt: skip
    assert code == 0, err
    assert "(reused)" in out and built.result["scenarios"][0]["performance_run"] in out
    assert len(reefnb.default_store().records()) == before + 1  # the new tree's record, no run


def test_missing_human_fields_and_the_closed_division_are_refused_before_anything_runs(its_home, tmp_path):
    built = its_home
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"status": "available", "system_type": "edge"}))
    before = len(reefnb.default_store().records())
    code, out, err = call(
        "mlperf",
        "submission",
        str(built.folder),
        "-o",
        str(tmp_path / "a"),
        "--submitter",
        "reef",
        "--system",
        str(partial),
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (
        all(name in err for name in ("system_name", "cooling", "hw_notes", "sw_notes", "host_storage_type"))
        and "status," not in err
    )
    code, out, err = call(
        "mlperf",
        "submission",
        str(built.folder),
        "-o",
        str(tmp_path / "b"),
        "--submitter",
        "reef",
        "--division",
        "closed",
    )
    assert (
        code == 2
        and len(err.strip().splitlines()) == 1
        and "runs ssd-mobilenet, not the round's benchmark yolo-95" in err
    )
    code, out, err = call(
        "mlperf",
        "submission",
        str(built.folder),
        "-o",
        str(tmp_path / "c"),
        "--submitter",
        "reef",
        "-p",
        "scenario",
        "Offline",
    )
    assert code == 2 and "--scenario" in err
    code, out, err = call(
        "mlperf", "submission", str(built.folder), "-o", str(built.folder / "tree"), "--submitter", "reef"
    )
    assert code == 2 and "inside the solution folder" in err and not (built.folder / "tree").exists()
    assert (
        len(reefnb.default_store().records()) == before
        and not (tmp_path / "a").exists()
        and not (tmp_path / "b").exists()
        and not (tmp_path / "c").exists()
    )


def test_an_accelerator_is_described_and_its_details_asked_of_a_person(monkeypatch):
    """With a GPU (reef's detection, nvidia-smi's fields), reef writes its count, name, memory and driver, and
    the accelerator's six details join the fields only a person gives; without one they are N/A."""
    from reefnb.provision import detection

    gpu = {
        "vendor": "nvidia",
        "name": "NVIDIA H100 80GB HBM3",
        "memory_bytes": 80 * 2**30,
        "compute_capability": "9.0",
        "driver": "580.65",
    }
    environment = {
        "cpu": {"model": "AMD EPYC", "count": 16},
        "memory_bytes": 128e9,
        "os": {"distribution": "Debian 12", "release": "6.1"},
    }
    environment["packages"] = {"tensorflow-cpu": "2.21.0", "mlcommons-loadgen": "6.0.17"}
    monkeypatch.setattr(detection, "detect", lambda names=None, **_: {"gpu": [gpu, gpu]})
    fields, missing = mlperf.system_description(environment, SYSTEM, "reef", "open", ["tensorflow-cpu"])
    assert (
        fields["accelerators_per_node"] == "2"
        and fields["accelerator_model_name"] == gpu["name"]
        and fields["accelerator_memory_capacity"] == "80 GB"
    )
    assert fields["framework"] == "tensorflow-cpu 2.21.0" and "NVIDIA driver 580.65" in fields["other_software_stack"]
    assert missing == list(mlperf.ACCELERATOR_DETAILS) and "_gpus" not in fields
    monkeypatch.setattr(detection, "detect", lambda names=None, **_: {"gpu": []})
    fields, missing = mlperf.system_description(
        environment, {**SYSTEM, "hw_notes": "", "sw_notes": ""}, "reef", "open", []
    )
    assert (
        missing == [] and fields["accelerators_per_node"] == "0" and fields["accelerator_interconnect"] == "N/A"
    )  # empty notes are notes
    assert mlperf.system_description(environment, {**SYSTEM, "cooling": ""}, "reef", "open", [])[1] == ["cooling"]


# --- the parts of a submission, without a run (no kernel needed) ----------------------------------------------------


def toy_solution(tmp_path, mlperf: dict | None = None) -> Solution:
    data = {"name": "toy", "version": "0.1.0", "workflows": {}} | ({"mlperf": mlperf} if mlperf is not None else {})
    return Solution(path=tmp_path, manifest_path=tmp_path / "solution.json", data=data, workflows={})


def test_the_manifest_s_mlperf_object_gets_its_defaults_and_a_solution_without_one_is_refused(tmp_path):
    settings = mlperf.mlperf_settings(toy_solution(tmp_path, {"benchmark": "yolo-95", "workflow": "bench"}))
    assert settings["workflow"] == "bench" and settings["profile_parameter"] == "loadgen_profile"
    assert settings["compliance_parameter"] == "compliance_test" and settings["datasets"] == {}
    with pytest.raises(ReefError, match=r"solution\.json: /mlperf: none: this solution declares no MLPerf benchmark"):
        mlperf.mlperf_settings(toy_solution(tmp_path))


def test_the_open_division_may_name_its_own_model_and_the_closed_one_takes_the_round_s():
    settings = {"benchmark": "yolo-95", "open_name": "ssd-mobilenet"}
    assert mlperf.tree_benchmark(settings, "open") == ("ssd-mobilenet", "yolo-95")
    assert mlperf.tree_benchmark(settings, "closed") == ("yolo-95", None)
    assert mlperf.tree_benchmark({"benchmark": "yolo-95"}, "open") == ("yolo-95", None)
    assert mlperf.compliance_tests({"benchmark": "yolo-95", "compliance_tests": ["TEST04"]}) == ["TEST04"]
    assert mlperf.compliance_tests({"benchmark": "yolo-95"}) == required_tests("yolo-95")


def test_a_long_accuracy_log_keeps_both_ends_as_mlperf_s_script_does_and_the_whole_one_s_sha256(tmp_path):
    short, long = tmp_path / "short.json", tmp_path / "long.json"
    short.write_text("[]")
    long.write_text("[" + "x" * 10_000 + "]")
    assert mlperf.truncate_accuracy_log(short, tmp_path / "a") == hashlib.sha256(b"[]").hexdigest()
    assert (tmp_path / "a").read_text() == "[]"
    assert mlperf.truncate_accuracy_log(long, tmp_path / "b") == hashlib.sha256(long.read_bytes()).hexdigest()
    text = long.read_text()
    assert (tmp_path / "b").read_text() == text[:4096] + "\n\n...\n\n" + text[-4096:]


def test_user_conf_is_the_one_loadgen_read_else_written_from_the_detail_log(tmp_path):
    performance = {"run_id": "r1", "parameters": {"scenario": "Offline"}}
    (tmp_path / "performance").mkdir()
    detail = [
        {"key": "effective_min_duration_ms", "value": 600000},
        {"key": "effective_target_qps", "value": 12.5},
        {"key": "min_duration_ms", "value": 1},  # a requested value, not the effective one
    ]
    (tmp_path / "performance" / "mlperf_log_detail.txt").write_text(
        "".join(f":::MLLOG {json.dumps(entry)}\n" for entry in detail) + "a line of another kind\n"
    )
    assert mlperf.user_conf(performance, tmp_path).splitlines() == [
        "# written by reef from the run's LoadGen detail log (r1): the run attached no user.conf",
        "*.Offline.min_duration = 600000",
        "*.Offline.target_qps = 12.5",
    ]
    (tmp_path / "performance" / "user.conf").write_text("*.Offline.target_qps = 99\n")
    assert mlperf.user_conf(performance, tmp_path) == "*.Offline.target_qps = 99\n"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"submitter": "two words"}, "--submitter: 'two words' is not a plain name"),
        ({"division": "network"}, "--division: 'network' is not one of open, closed"),
        ({"scenarios": ["Offline", "Batch"]}, "--scenario: Batch: not a LoadGen scenario"),
        ({"parameters": {"mode": "accuracy"}}, "-p mode: the submission chooses it"),
    ],
)
def test_what_cannot_make_a_submission_is_refused_before_anything_runs(tmp_path, change, words):
    options = mlperf.SubmissionOptions(solution=tmp_path, output=tmp_path / "new", submitter="reef")
    mlperf.check_options(options)  # as given: fine
    with pytest.raises(UsageError) as refused:
        mlperf.check_options(dataclasses.replace(options, **change))
    assert str(refused.value).startswith(words)


def test_the_output_must_be_a_new_or_empty_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    for output in ("full", "file"):
        with pytest.raises(UsageError, match="exists and is not an empty folder"):
            mlperf.check_options(mlperf.SubmissionOptions(solution=tmp_path, output=tmp_path / output, submitter="r"))
    mlperf.check_options(mlperf.SubmissionOptions(solution=tmp_path, output=tmp_path / "empty", submitter="r"))
