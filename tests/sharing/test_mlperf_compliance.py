"""MLPerf's closed-division compliance tests TEST01 and TEST04 (reefnb.sharing.mlperf_compliance), judged by the
round's own checker.

Real LoadGen runs (the short profile, Offline, ``yolo``'s mlperf.conf lines): a performance run, an accuracy run
and the two compliance runs with the audit.config reef writes, once per module, of a system whose response to a
sample is its index (deterministic) and whose rate is paced by sleeping (about 1000 samples/s, so the compliance
runs' rates match the submitted one's). reef verifies them and writes ``TEST01/`` and ``TEST04/``; the checker's
``ComplianceCheck`` (``../shared/mlperf-inference-tools/tools``, v6.1) then reads the tree. reef's verification on
detail and accuracy logs written by the test (margins, audits, duplicates) needs no LoadGen: at the end.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path

import pytest
from helpers.mlperf import TOOLS, checker_compliance
from helpers.solutions import REPO

from reefnb.common.exceptions import ReefError
from reefnb.kernel.bench import SAME_INDEX, TEST01_SEED
from reefnb.sharing import mlperf_compliance as compliance

LOADGEN = importlib.util.find_spec("mlperf_loadgen") is not None

BENCHMARK, SCENARIO, SAMPLES = "yolo-95", "Offline", 64
RUN = {
    "model": "yolo",
    "expected_qps": 1000,
    "min_duration_ms": 200,
    "min_query_count": 1,
    "batch_size": 16,
    "performance_sample_count": SAMPLES,
}


class _System:
    """A system under test answering a sample with its index, paced to 1000 samples per second from its first call
    (each call sleeps until its samples' time: a late wake-up is made up by the next, so every run's rate is the
    same)."""

    def __init__(self):
        self.started: float | None = None
        self.answered = 0

    def __call__(self, indices):
        now = time.perf_counter()
        self.started = now if self.started is None else self.started
        self.answered += len(indices)
        time.sleep(max(0.0, self.started + 0.001 * self.answered - now))
        return [bytes([index, index ^ 0x5A, 1, 2]) for index in indices]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    if not LOADGEN:
        pytest.skip("needs mlcommons-loadgen")
    from reefnb.kernel.bench import run_loadgen

    root = tmp_path_factory.mktemp("loadgen")
    folders = {}
    for name, mode, audit in (
        ("performance", "performance", None),
        ("accuracy", "accuracy", None),
        ("TEST01", "performance", compliance.audit_config("TEST01", BENCHMARK)),
        ("TEST04", "performance", compliance.audit_config("TEST04", BENCHMARK)),
    ):
        result = run_loadgen(
            _System(), SAMPLES, SCENARIO, mode, profile="short", log_dir=root / name, audit_config=audit, **RUN
        )
        assert result.valid, (name, result.invalid_reason)
        folders[name] = root / name
    return folders


def test_loadgen_reads_the_audit_config_reef_writes(logs):
    assert compliance.required_tests(BENCHMARK) == ["TEST01"] and compliance.required_tests("resnet") == [
        "TEST01",
        "TEST04",
    ]
    test01, test04 = (compliance.read_detail(logs[name] / "mlperf_log_detail.txt") for name in ("TEST01", "TEST04"))
    assert (
        test01["effective_accuracy_log_rng_seed"] == compliance.TEST01_SEED
        and test01["effective_accuracy_log_sampling_target"] == 64
    )
    assert test04["effective_performance_issue_same"] is True and test04["effective_performance_issue_same_index"] == 3
    assert test01["effective_test_mode"] == test04["effective_test_mode"] == "PerformanceOnly"
    sampled = json.loads((logs["TEST01"] / "mlperf_log_accuracy.json").read_text())
    assert sampled and all(entry["data"] for entry in sampled)  # performance mode kept the sampled responses' data
    assert json.loads((logs["TEST04"] / "mlperf_log_accuracy.json").read_text() or "[]") == []
    performance = compliance.read_detail(logs["performance"] / "mlperf_log_detail.txt")  # no audit file: none read
    assert (
        performance["effective_accuracy_log_rng_seed"] == 0 and performance["effective_performance_issue_same"] is False
    )
    assert not (logs["performance"] / "audit.config").exists()
    with pytest.raises(ReefError, match="no accuracy_log_sampling_target for 'bert-99'"):
        compliance.audit_config("TEST01", "bert-99")


def test_reef_verifies_and_the_checker_accepts_the_compliance_folders(logs, tmp_path):
    """The tree's TEST01 and TEST04 pass reef's verification; the checker's own compliance checks pass on them
    (its delegated performance check of the TEST logs fails only what the short profile fails)."""
    root = tmp_path / "closed" / "reef"
    (root / "systems").mkdir(parents=True)
    (root / "systems" / "sut.json").write_text(
        json.dumps({"system_type": "edge", "division": "closed", "submitter": "reef"})
    )
    scenario = root / "results" / "sut" / BENCHMARK / SCENARIO
    (scenario / "performance" / "run_1").mkdir(parents=True)
    (scenario / "accuracy").mkdir()
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        shutil.copyfile(logs["performance"] / name, scenario / "performance" / "run_1" / name)
        shutil.copyfile(logs["accuracy"] / name, scenario / "accuracy" / name)
    accuracy_log = logs["accuracy"] / "mlperf_log_accuracy.json"
    for test in ("TEST01", "TEST04"):
        verified = compliance.write_test(scenario, test, logs["performance"], accuracy_log, logs[test])
        assert all(result.passed for result in verified.values()), {
            name: result.text for name, result in verified.items()
        }
    assert sorted(
        path.relative_to(scenario / "TEST01").as_posix() for path in (scenario / "TEST01").rglob("*") if path.is_file()
    ) == [
        "accuracy/mlperf_log_accuracy.json",
        "performance/run_1/mlperf_log_detail.txt",
        "performance/run_1/mlperf_log_summary.txt",
        "verify_accuracy.txt",
        "verify_performance.txt",
    ]
    assert (
        "TEST PASS" in (scenario / "TEST04" / "verify_performance.txt").read_text()
        and not (scenario / "TEST04" / "verify_accuracy.txt").exists()
    )
    if not TOOLS.is_dir() or importlib.util.find_spec("yaml") is None:
        pytest.skip("the v6.1 checker (../shared/mlperf-inference-tools) and PyYAML are not here")
    checked = checker_compliance(tmp_path)
    assert checked["tests"] == ["TEST01"]
    assert checked["results"] == {
        "dir_exists_check": True,
        "accuracy_check": True,
        "compliance_performance_check": True,
        "performance_check": False,
    }
    # the TEST01 log's own performance check: what a short run fails (duration, query count), nothing of compliance
    # the TEST01 log's own performance check fails what a short run fails (as the submitted run's does), nothing else
    failed = {kind for line in checked["errors"] for pattern, kind in SHORT_RUN_ERRORS.items() if pattern in line}
    assert failed == {"min_query_count_check", "min_duration_check", "summary"}, checked["errors"]
    assert all(any(pattern in line for pattern in SHORT_RUN_ERRORS) for line in checked["errors"]), checked["errors"]


SHORT_RUN_ERRORS = {  # the checker's error lines (checks/performance_check.py) a short-profile run is expected to log
    "Required minimum samples per query not met": "min_query_count_check",
    "Test duration less than 600s": "min_duration_check",
    "Some performance checks Checks failed for": "summary",
}


def test_verification_fails_what_breaks_the_rules(logs, tmp_path):
    """Responses that differ, a compliance run without its audit.config, and a rate off the submitted one fail,
    each saying why."""
    reference = json.loads((logs["accuracy"] / "mlperf_log_accuracy.json").read_text())
    changed = tmp_path / "changed.json"
    changed.write_text(
        json.dumps(
            [{**entry, "data": "00" + entry["data"][2:]} if entry["qsl_idx"] % 2 else entry for entry in reference]
        )
    )
    failed = compliance.verify_accuracy(changed, logs["TEST01"] / "mlperf_log_accuracy.json")
    assert not failed.passed and failed.lines[-1].startswith("TEST FAIL") and "entries differing = 0" not in failed.text
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert not compliance.verify_accuracy(
        logs["accuracy"] / "mlperf_log_accuracy.json", empty
    ).passed  # nothing sampled
    unaudited = compliance.verify_performance(
        "TEST01", logs["performance"] / "mlperf_log_detail.txt", logs["performance"] / "mlperf_log_detail.txt"
    )
    assert not unaudited.passed and "no TEST01 audit.config was read" in unaudited.text
    assert not compliance.verify_performance(
        "TEST04", logs["performance"] / "mlperf_log_detail.txt", logs["TEST01"] / "mlperf_log_detail.txt"
    ).passed
    slower, faster = (
        _scaled(logs["performance"], tmp_path / name, factor) for name, factor in (("slower", 0.5), ("faster", 2.0))
    )
    # TEST01: off by half either way fails; TEST04: a test faster than the submission fails, a slower one passes
    assert not compliance.verify_performance("TEST01", slower, logs["TEST01"] / "mlperf_log_detail.txt").passed
    assert not compliance.verify_performance("TEST01", faster, logs["TEST01"] / "mlperf_log_detail.txt").passed
    assert not compliance.verify_performance("TEST04", slower, logs["TEST04"] / "mlperf_log_detail.txt").passed
    assert compliance.verify_performance("TEST04", faster, logs["TEST04"] / "mlperf_log_detail.txt").passed
    with pytest.raises(ReefError, match="reef runs TEST01, TEST04"):
        compliance.write_test(tmp_path, "TEST05", logs["performance"], None, logs["TEST04"])


def _scaled(folder: Path, target: Path, factor: float) -> Path:
    """A copy of a detail log whose submitted rate is ``factor`` times the real one."""
    lines = []
    for line in (folder / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG") and '"key": "result_samples_per_second"' in line:
            entry = json.loads(line.removeprefix(":::MLLOG").strip())
            entry["value"] = float(entry["value"]) * factor
            line = ":::MLLOG " + json.dumps(entry)
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    return target


def test_the_closed_division_is_refused_in_one_line_saying_why():
    """A solution whose model stands for the round's benchmark is no closed result of it; a solution of the benchmark
    itself is not refused when its workflow names the compliance test a run runs (tests/test_mlperf_closed.py)."""
    from types import SimpleNamespace

    from reefnb.sharing.mlperf import closed_refusal, mlperf_settings
    from reefnb.solution.manifest import load_solution

    flagship = closed_refusal(
        SimpleNamespace(name="obj-detection-coco-tf"), {"benchmark": "yolo-95", "open_name": "ssd-mobilenet"}
    )
    assert "runs ssd-mobilenet, not the round's benchmark yolo-95" in flagship and "\n" not in flagship
    toy = load_solution(REPO / "tests" / "data" / "mlperf-closed-toy")
    assert closed_refusal(toy, mlperf_settings(toy)) is None
    unknown = closed_refusal(
        toy, {**mlperf_settings(toy), "benchmark": "resnet", "compliance_tests": ["TEST01", "TEST04"]}
    )
    assert unknown == (
        "--division closed: TEST01: reef knows no accuracy_log_sampling_target for 'resnet' (known: yolo-95, yolo-99)"
    )


# --- reef's verification on logs written here (no LoadGen needed) ---------------------------------------------------


def detail_log(path: Path, **values) -> Path:
    """A LoadGen detail log holding ``values`` (``effective_scenario`` ...) as its keys; an ``error`` value is logged
    as an error."""
    lines = [{"key": key, "value": value} for key, value in values.items() if key != "error"]
    if "error" in values:
        lines.append({"key": "error_invalid_config", "value": values["error"], "metadata": {"is_error": True}})
    path.write_text("".join(f":::MLLOG {json.dumps(line)}\n" for line in lines) + "not a log line\n")
    return path


def offline(path: Path, rate: float, test: str | None = None, **more) -> Path:
    audit = {
        "TEST01": {"effective_accuracy_log_rng_seed": TEST01_SEED},
        "TEST04": {"effective_performance_issue_same": True, "effective_performance_issue_same_index": SAME_INDEX},
    }.get(test, {})
    values = {"result_validity": "VALID", "effective_scenario": "Offline", "result_samples_per_second": rate}
    return detail_log(path, **{**values, **audit, **more})


@pytest.mark.parametrize(
    ("test", "rate", "passed"),
    [
        ("TEST01", 1000.0, True),
        ("TEST01", 905.0, True),
        ("TEST01", 1095.0, True),
        ("TEST01", 850.0, False),
        ("TEST01", 1150.0, False),  # faster by more than the margin fails TEST01 too
        ("TEST04", 500.0, True),  # TEST04 fails only a system faster on the same sample
        ("TEST04", 1095.0, True),
        ("TEST04", 1150.0, False),
    ],
)
def test_performance_passes_within_ten_percent_and_test04_fails_only_when_faster(tmp_path, test, rate, passed):
    reference = offline(tmp_path / "reference.txt", 1000.0)
    verified = compliance.verify_performance(test, reference, offline(tmp_path / "test.txt", rate, test))
    assert verified.passed is passed
    assert verified.lines[1:5] == [
        "scenario = Offline",
        "reference result_samples_per_second = 1000",
        f"test result_samples_per_second = {rate:g}",
        "margin = 10%",
    ]
    assert verified.text.endswith(
        (compliance.PASS if passed else compliance.FAIL + ": the test's")
        + ("\n" if passed else " result_samples_per_second is off the reference by more than 10%\n")
    )


def test_a_short_single_stream_latency_has_a_twenty_percent_margin(tmp_path):
    def single(path, latency_ns):
        values = {"effective_scenario": "SingleStream", "early_stopping_latency_ss": latency_ns}
        return offline(path, 0, "TEST01", **values)

    reference = single(tmp_path / "reference.txt", 100_000)
    assert compliance.verify_performance("TEST01", reference, single(tmp_path / "a.txt", 118_000)).passed
    assert "margin = 20%" in compliance.verify_performance("TEST01", reference, single(tmp_path / "b.txt", 1)).lines
    slow = single(tmp_path / "slow.txt", 1_000_000)  # 1 ms: not short, 10%
    assert not compliance.verify_performance("TEST01", slow, single(tmp_path / "c.txt", 1_150_000)).passed


def test_a_run_that_is_not_the_test_s_or_not_valid_fails_saying_why(tmp_path):
    reference = offline(tmp_path / "reference.txt", 1000.0)
    cases = {
        "no TEST01 audit.config was read": offline(tmp_path / "a.txt", 1000.0),
        "no TEST04 audit.config was read": offline(tmp_path / "b.txt", 1000.0, "TEST01"),
        "test run is INVALID": offline(tmp_path / "c.txt", 1000.0, "TEST01", result_validity="INVALID"),
        "scenarios differ: reference Offline, test Server": offline(
            tmp_path / "d.txt", 1000.0, "TEST01", effective_scenario="Server"
        ),
        "the run's mode is AccuracyOnly, not PerformanceOnly": offline(
            tmp_path / "e.txt", 1000.0, "TEST01", effective_test_mode="AccuracyOnly"
        ),
    }
    for why, log in cases.items():
        test = "TEST04" if "TEST04" in why else "TEST01"
        verified = compliance.verify_performance(test, reference, log)
        assert not verified.passed and any(why in line for line in verified.lines), (why, verified.lines)


def accuracy_log(path: Path, entries: list[tuple[int, str]]) -> Path:
    path.write_text(
        json.dumps([{"seq_id": n, "qsl_idx": index, "data": data} for n, (index, data) in enumerate(entries)])
    )
    return path


def test_sampled_responses_must_equal_the_accuracy_run_s_byte_for_byte(tmp_path):
    reference = accuracy_log(tmp_path / "reference.json", [(0, "0a0b"), (1, "FF00"), (1, "ff00"), (2, "01")])
    same = compliance.verify_accuracy(reference, accuracy_log(tmp_path / "same.json", [(1, "ff00"), (0, "0A0B")]))
    assert same.passed and same.lines[-1] == compliance.PASS
    assert "accuracy log duplicate samples = 1" in same.lines and "performance log entries matching = 2" in same.lines
    differing = compliance.verify_accuracy(reference, accuracy_log(tmp_path / "d.json", [(1, "ff01"), (0, "0a0b")]))
    assert not differing.passed and "performance log entries differing = 1" in differing.lines
    missing = compliance.verify_accuracy(reference, accuracy_log(tmp_path / "m.json", [(7, "00")]))
    assert "performance log samples missing from the accuracy log = 1" in missing.lines and not missing.passed
    empty = compliance.verify_accuracy(reference, accuracy_log(tmp_path / "e.json", []))
    assert empty.lines[-1] == f"{compliance.FAIL}: no sampled response"


def test_logs_that_cannot_be_read_are_one_reef_error(tmp_path):
    with pytest.raises(ReefError, match="cannot read LoadGen's detail log"):
        compliance.read_detail(tmp_path / "absent.txt")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ReefError, match="not a LoadGen accuracy log"):
        compliance.accuracy_entries(tmp_path / "broken.json")
    detail = compliance.read_detail(detail_log(tmp_path / "detail.txt", effective_scenario="Offline", error="bad conf"))
    assert detail["effective_scenario"] == "Offline" and detail["errors"] == ["bad conf"]


def test_the_tests_the_round_requires_and_their_audit_config():
    assert compliance.required_tests("resnet") == ["TEST01", "TEST04"]
    assert compliance.required_tests("yolo-95") == ["TEST01"] and compliance.required_tests("gpt-j") == []
    assert str(TEST01_SEED) in compliance.audit_config("TEST01", "yolo-95")
    with pytest.raises(ReefError):
        compliance.audit_config("TEST05", "yolo-95")
