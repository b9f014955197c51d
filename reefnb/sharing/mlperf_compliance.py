"""MLPerf's compliance tests TEST01 and TEST04 for the closed division: their ``audit.config``, their verification
(reef's own, after the rules MLPerf's compliance README states), and their folders in a submission tree.

A compliance test is a LoadGen performance run of the submitted system with an ``audit.config`` LoadGen reads over
its settings (``reefnb.kernel.bench.run_loadgen(..., audit_config=audit_config(test, benchmark))``):

- ``TEST01`` (verify accuracy in performance mode): LoadGen logs the responses of about 64 sampled queries
  (``accuracy_log_sampling_target``, seed 720381539243781796); each must equal the accuracy run's response for the
  same sample, and the run's result must be within 10% of the submitted performance run's (20% for a latency
  under 0.2 ms in SingleStream, 1.6 ms in MultiStream).
- ``TEST04`` (the same sample issued every time, ``performance_issue_same_index`` 3): the result must not beat the
  submitted one by more than that margin (a system that caches results would).

In round v6.1 the tree keeps them beside the results (the checker's ``TEST01_PERF_PATH``)::

    results/{system}/{benchmark}/{scenario}/TEST01/verify_accuracy.txt, verify_performance.txt,
        performance/run_1/mlperf_log_{summary,detail}.txt, accuracy/mlperf_log_accuracy.json
    results/{system}/{benchmark}/{scenario}/TEST04/verify_performance.txt, performance/run_1/...
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.kernel.bench import COMPLIANCE_TESTS, SAME_INDEX, TEST01_SEED, LoadGenError
from reefnb.kernel.bench import audit_config as kernel_audit_config

ROUND = "v6.1"
# The round's closed benchmarks each test is required of (MLPerf's compliance README; the checker's models_TEST0x).
REQUIRED = {
    "TEST01": (
        "resnet",
        "bert-99",
        "bert-99.9",
        "3d-unet-99",
        "3d-unet-99.9",
        "stable-diffusion-xl",
        "rgat",
        "whisper",
        "yolo-95",
        "yolo-99",
    ),
    "TEST04": ("resnet", "stable-diffusion-xl", "wan-2.2-t2v-a14b"),
}
TESTS = COMPLIANCE_TESTS
RESULT_KEY = {  # the detail log's figure each scenario is judged by, and whether it is a latency (ns)
    "SingleStream": ("early_stopping_latency_ss", True),
    "MultiStream": ("early_stopping_latency_ms", True),
    "Offline": ("result_samples_per_second", False),
    "Server": ("result_completed_samples_per_sec", False),
}
SHORT_LATENCY_NS = {"SingleStream": 200_000, "MultiStream": 1_600_000}  # below: 20% margin, else 10%
PASS, FAIL = "TEST PASS", "TEST FAIL"


@dataclass
class Verification:
    """One verification: whether it passed and the lines it writes
    (``verify_accuracy.txt``/``verify_performance.txt``)."""

    passed: bool
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def required_tests(benchmark: str) -> list[str]:
    """The compliance tests round ``ROUND`` requires of a closed result of ``benchmark`` (of TEST01, TEST04)."""
    return [test for test in TESTS if benchmark in REQUIRED[test]]


def audit_config(test: str, benchmark: str) -> str:
    """The ``audit.config`` of ``test`` for ``benchmark`` (``reefnb.kernel.bench.audit_config``, which a solution's
    notebook calls in its kernel); ReefError for a test reef does not run or a benchmark whose TEST01 sampling it does
    not know."""
    try:
        return kernel_audit_config(test, benchmark, ROUND)
    except LoadGenError as error:
        raise ReefError(str(error)) from None


def read_detail(path: Path) -> dict[str, Any]:
    """Every key of a LoadGen detail log (the last value of each), and ``errors``: the messages logged as errors."""
    found: dict[str, Any] = {"errors": []}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ReefError(f"{path}: cannot read LoadGen's detail log: {error.strerror}") from None
    for line in lines:
        if line.startswith(":::MLLOG"):
            entry = json.loads(line.removeprefix(":::MLLOG").strip())
            found[str(entry.get("key"))] = entry.get("value")
            if (entry.get("metadata") or {}).get("is_error"):
                found["errors"].append(str(entry.get("value")))
    return found


def _audited(test: str, detail: dict) -> str | None:
    """Why the test's log is not a run of its audit.config (None: it is)."""
    if test == "TEST01" and detail.get("effective_accuracy_log_rng_seed") != TEST01_SEED:
        return (
            f"the run's accuracy_log_rng_seed is {detail.get('effective_accuracy_log_rng_seed')}, not TEST01's "
            f"{TEST01_SEED}: no TEST01 audit.config was read"
        )
    if test == "TEST04" and (
        detail.get("effective_performance_issue_same") is not True
        or detail.get("effective_performance_issue_same_index") != SAME_INDEX
    ):
        return "the run did not issue the same sample every time: no TEST04 audit.config was read"
    if detail.get("effective_test_mode") not in (None, "PerformanceOnly"):
        return f"the run's mode is {detail.get('effective_test_mode')}, not PerformanceOnly"
    return None


def verify_performance(test: str, reference_detail: Path, test_detail: Path) -> Verification:
    """``verify_performance.txt``: the compliance run against the submitted performance run (their detail logs).
    TEST01 passes within the margin either way; TEST04 fails only when the test is faster by more than the margin."""
    reference, tested = read_detail(reference_detail), read_detail(test_detail)
    lines = [f"{test}: verifying performance (reef's verification, MLPerf {ROUND} rules)"]
    problems = [
        f"{name} run is {log.get('result_validity')}"
        for name, log in (("reference", reference), ("test", tested))
        if log.get("result_validity") != "VALID"
    ]
    scenario = reference.get("effective_scenario")
    if tested.get("effective_scenario") != scenario:
        problems.append(f"scenarios differ: reference {scenario}, test {tested.get('effective_scenario')}")
    if scenario not in RESULT_KEY:
        problems.append(f"no result to compare for scenario {scenario}")
    audit = _audited(test, tested)
    if audit:
        problems.append(audit)
    if scenario == "Server" and reference.get("effective_target_latency_ns") != tested.get(
        "effective_target_latency_ns"
    ):
        problems.append("Server target latency differs")
    if problems:
        return Verification(False, lines + [f"{FAIL}: {problem}" for problem in problems])
    key, is_latency = RESULT_KEY[scenario]
    ref_value, test_value = float(reference[key]), float(tested[key])
    margin = 0.20 if is_latency and ref_value <= SHORT_LATENCY_NS.get(scenario, 0) else 0.10
    # as rates (higher is faster): a latency's rate is its inverse
    ref_rate, test_rate = (1e9 / ref_value, 1e9 / test_value) if is_latency else (ref_value, test_value)
    lines += [
        f"scenario = {scenario}",
        f"reference {key} = {ref_value:g}",
        f"test {key} = {test_value:g}",
        f"margin = {margin:.0%}",
    ]
    if test == "TEST04":
        passed = test_rate < ref_rate * (1 + margin)
    else:
        passed = ref_value * (1 - margin) <= test_value <= ref_value * (1 + margin)
    return Verification(
        passed, lines + [PASS if passed else f"{FAIL}: the test's {key} is off the reference by more than {margin:.0%}"]
    )


def accuracy_entries(path: Path) -> list[dict]:
    """The entries of a LoadGen accuracy log (``qsl_idx``, ``data`` in hex...); ReefError naming it when it is none."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8") or "[]")
    except (OSError, json.JSONDecodeError) as error:
        raise ReefError(f"{path}: not a LoadGen accuracy log: {error}") from None


def verify_accuracy(reference_log: Path, test_log: Path) -> Verification:
    """``verify_accuracy.txt`` of TEST01: every response sampled in performance mode (``test_log``) equals the
    accuracy run's response for that sample (``reference_log``, the whole log, not a truncated copy), byte for byte."""
    reference: dict[int, str] = {}
    duplicates = conflicting = 0
    for entry in accuracy_entries(reference_log):
        index, data = int(entry["qsl_idx"]), str(entry["data"]).upper()
        if index in reference:
            duplicates += 1
            conflicting += reference[index] != data
        else:
            reference[index] = data
    sampled = accuracy_entries(test_log)
    matched = mismatched = missing = 0
    for entry in sampled:
        index, data = int(entry["qsl_idx"]), str(entry["data"]).upper()
        if index not in reference:
            missing += 1
        elif reference[index] == data:
            matched += 1
        else:
            mismatched += 1
    passed = matched > 0 and mismatched == 0 and missing == 0
    lines = [
        "TEST01: verifying accuracy in performance mode (reef's verification, MLPerf rules)",
        f"accuracy log entries = {sum(1 for _ in reference) + duplicates}",
        f"accuracy log duplicate samples = {duplicates}",
        f"accuracy log conflicting duplicates = {conflicting}",
        f"performance log entries = {len(sampled)}",
        f"performance log entries matching = {matched}",
        f"performance log entries differing = {mismatched}",
        f"performance log samples missing from the accuracy log = {missing}",
        PASS
        if passed
        else f"{FAIL}: "
        + (
            "no sampled response" if not sampled else "sampled responses differ from or are missing in the accuracy run"
        ),
    ]
    return Verification(passed, lines)


def write_test(
    scenario_folder: Path, test: str, performance_logs: Path, accuracy_log: Path | None, test_logs: Path
) -> dict[str, Verification]:
    """Verify ``test`` (its LoadGen logs in ``test_logs``) against the submitted performance run (``performance_logs``:
    its summary and detail logs) and, for TEST01, the accuracy run's whole ``accuracy_log``; write
    ``scenario_folder/TEST0x/`` as the round's checker reads it. The verifications, by file name."""
    if test not in TESTS:
        raise ReefError(f"compliance test '{test}': reef runs {', '.join(TESTS)}")
    folder = Path(scenario_folder) / test
    (folder / "performance" / "run_1").mkdir(parents=True, exist_ok=True)
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
        shutil.copyfile(Path(test_logs) / name, folder / "performance" / "run_1" / name)
    results = {
        "verify_performance.txt": verify_performance(
            test, Path(performance_logs) / "mlperf_log_detail.txt", Path(test_logs) / "mlperf_log_detail.txt"
        )
    }
    if test == "TEST01":
        if accuracy_log is None:
            raise ReefError("TEST01: the accuracy run's mlperf_log_accuracy.json is needed")
        results["verify_accuracy.txt"] = verify_accuracy(
            Path(accuracy_log), Path(test_logs) / "mlperf_log_accuracy.json"
        )
        (folder / "accuracy").mkdir(exist_ok=True)
        shutil.copyfile(Path(test_logs) / "mlperf_log_accuracy.json", folder / "accuracy" / "mlperf_log_accuracy.json")
    for name, verification in results.items():
        (folder / name).write_text(verification.text, encoding="utf-8")
    return results
