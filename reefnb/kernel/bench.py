"""MLPerf LoadGen harness: drive a system under test through LoadGen's scenarios and read LoadGen's own logs.

``run_loadgen(predict, sample_count, ...)`` builds the LoadGen SUT and QSL around ``predict`` (a
function from a list of sample indices to one response per index: ``bytes``, a numpy array or
``None``), runs one test and returns a ``LoadGenResult`` whose figures (latency percentiles,
samples per second, VALID/INVALID) come from ``mlperf_log_detail.txt``, and whose accuracy
responses come from ``mlperf_log_accuracy.json``. ``mlperf_loadgen`` is imported only here, and only
when a test runs (never ``mlcommons_loadgen``: importing it empties ``mlperf_loadgen``).

LoadGen is configured as MLPerf submissions are: the official ``mlperf.conf`` that the installed LoadGen
embeds (its round's seeds, durations, query counts, percentiles and performance sample counts; LoadGen
6.0.17 embeds round v6.1's), then the ``user.conf`` the harness writes beside the logs. Two profiles:
``rules`` writes only what a submitter states (the expected latency or rate), so every value the rules
fix comes from ``mlperf.conf``; ``short`` also lowers the minimum duration and query counts (and may set
Server's latency bound and MultiStream's query size) so that a test takes seconds. LoadGen's own
``TestSettings.FromConfig(user.conf, model, scenario, 1)`` reads both files on its first call in a
process only (see ``_test_settings``), so the harness loads ``mlperf.conf`` with ``conf_type`` 0 and
sets ``user.conf``'s values as LoadGen's reader maps them.
"""

from __future__ import annotations

import array
import json
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefnb.kernel.recording import run_folder

log = logging.getLogger(__name__)

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
MODES = {"performance": "PerformanceOnly", "accuracy": "AccuracyOnly"}
PROFILES = ("rules", "short")
SHORT_DEFAULTS = {"min_duration_ms": 10_000, "min_query_count": 100}
SHORT_KEYS = {  # run_loadgen's name -> user.conf's key, in LoadGen's units (ms)
    "min_duration_ms": "min_duration",
    "min_query_count": "min_query_count",
    "max_duration_ms": "max_duration",
    "max_query_count": "max_query_count",
    "samples_per_query": "samples_per_query",
    "target_latency_ms": "target_latency",
}
SCENARIO_ONLY = {"samples_per_query": "MultiStream", "target_latency_ms": "Server"}
Predict = Callable[[Sequence[int]], Sequence[Any]]

# MLPerf's compliance tests (closed division) as LoadGen runs them: the audit.config of each, read over the settings.
# TEST01 samples responses into the accuracy log in performance mode (its seed and, per benchmark, the target MLPerf
# publishes for the round); TEST04 issues the same sample every time. reefnb.sharing.mlperf_compliance verifies them.
COMPLIANCE_TESTS = ("TEST01", "TEST04")
TEST01_SEED = 720381539243781796
SAMPLING_TARGET = {"yolo-95": 64, "yolo-99": 64}  # TEST01's accuracy_log_sampling_target (compliance/TEST01/yolo)
SAME_INDEX = 3  # TEST04: the sample LoadGen issues every time


class LoadGenError(ValueError):
    """A LoadGen run asked for something LoadGen cannot do, or its logs cannot be read. (The kernel side
    imports nothing else of reefnb, so this is not a ``ReefError``; in a notebook it fails the cell.)"""


@dataclass
class LoadGenResult:
    """One LoadGen test, as its logs tell it. Latencies in milliseconds."""

    scenario: str
    mode: str
    valid: bool
    invalid_reason: str | None
    query_count: int | None
    samples_per_second: float | None
    latency_ms: dict[str, float]  # "p50", "p90", "p99", "mean", "min", "max"
    log_dir: Path
    wall_s: float
    detail: dict[str, Any] = field(repr=False, default_factory=dict)  # every result_* key of the detail log
    settings: dict[str, Any] = field(repr=False, default_factory=dict)  # every effective_* key: what LoadGen ran with
    profile: str | None = None  # "rules" or "short": which user.conf the harness wrote

    @property
    def user_conf(self) -> Path:
        """The ``user.conf`` LoadGen read after its ``mlperf.conf``, beside the logs."""
        return self.log_dir / "user.conf"

    def accuracy_responses(self) -> list[tuple[int, bytes]]:
        """``(sample index, response bytes)`` for each response LoadGen logged (accuracy mode)."""
        return read_accuracy_log(self.log_dir / "mlperf_log_accuracy.json")


@dataclass
class _LoadGenTest:
    """What one ``run_loadgen`` test is: scenario, mode and the samples (the QSL's count and callbacks)."""

    scenario: str
    mode: str
    sample_count: int
    batch_size: int
    performance_sample_count: int | None
    load: Callable[[Sequence[int]], None] | None
    unload: Callable[[Sequence[int]], None] | None

    def check(self) -> None:
        """Refuse a scenario or mode LoadGen does not have, and fewer than one sample or one sample per batch."""
        if self.scenario not in SCENARIOS:
            raise LoadGenError(f"scenario: '{self.scenario}' is not a LoadGen scenario ({', '.join(SCENARIOS)})")
        if self.mode not in MODES:
            raise LoadGenError(f"mode: '{self.mode}' is not one of {', '.join(MODES)}")
        if self.sample_count < 1 or self.batch_size < 1:
            raise LoadGenError(
                f"sample_count and batch_size must be at least 1, got {self.sample_count} and {self.batch_size}"
            )


@dataclass
class _LoadGenSettings:
    """The ``run_loadgen`` parameters that become ``user.conf``: the profile, the ``mlperf.conf`` model name,
    durations, query counts, rates, latencies (``None``: ``mlperf.conf``'s value)."""

    profile: str
    model: str
    expected_qps: float | None = None
    expected_latency_ms: float | None = None
    min_duration_ms: int | None = None
    min_query_count: int | None = None
    max_duration_ms: int | None = None
    max_query_count: int | None = None
    samples_per_query: int | None = None
    target_latency_ms: float | None = None

    def check(self) -> None:
        """Refuse an unknown profile, and in ``rules`` any value the rules fix (``mlperf.conf`` gives it)."""
        if self.profile not in PROFILES:
            raise LoadGenError(f"profile: '{self.profile}' is not one of {', '.join(PROFILES)}")
        given = [name for name in SHORT_KEYS if getattr(self, name) is not None]
        if self.profile == "rules" and given:
            raise LoadGenError(
                f"profile 'rules' takes {', '.join(given)} from MLPerf's mlperf.conf: give them only with "
                "profile 'short'"
            )

    def conf_values(self, scenario: str) -> dict[str, float | int]:
        """The ``user.conf`` keys of this test and their values, in LoadGen's units (ms, per second)."""
        values: dict[str, float | int] = {}
        if scenario in ("Offline", "Server") and self.expected_qps is not None:
            values["target_qps"] = self.expected_qps
        if (
            scenario == "SingleStream" and self.expected_latency_ms is not None
        ):  # LoadGen prepares min_duration / this many queries
            values["target_latency"] = max(1e-6, self.expected_latency_ms)
        if scenario == "MultiStream" and self.expected_latency_ms is not None:
            values["target_latency"] = max(1e-6, self.expected_latency_ms * (self.samples_per_query or 8))
        if self.profile == "short":
            for name, key in SHORT_KEYS.items():
                value = getattr(self, name) if getattr(self, name) is not None else SHORT_DEFAULTS.get(name)
                if value is not None and (name not in SCENARIO_ONLY or SCENARIO_ONLY[name] == scenario):
                    values[key] = value
        return values

    def user_conf(self, scenario: str) -> str:
        """The ``user.conf`` of this test: ``MODEL.SCENARIO.key = value`` lines, as MLPerf submissions keep them."""
        lines = [f"# reef's user.conf ({self.profile} profile), read after the mlperf.conf LoadGen embeds"]
        lines += [
            f"{self.model}.{scenario}.{key} = {_conf_number(value)}"
            for key, value in self.conf_values(scenario).items()
        ]
        return "\n".join(lines) + "\n"


def _conf_number(value: float | int) -> str:
    """A number as LoadGen's config parser reads it: integers bare, others in plain decimals (no exponent)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.9f}".rstrip("0")


def audit_config(test: str, benchmark: str, round_name: str = "v6.1") -> str:
    """The ``audit.config`` of MLPerf compliance ``test`` (``TEST01``, ``TEST04``) for ``benchmark`` (LoadGen's
    ``model.scenario.key = value`` lines, for every model and scenario), as ``run_loadgen(audit_config=...)`` takes it;
    LoadGenError for another test, or TEST01 of a benchmark whose sampling target reef does not know."""
    lines = [
        f"# MLPerf {round_name} compliance {test} for {benchmark}, written by reef; LoadGen reads it over the "
        "test settings"
    ]
    if test == "TEST01":
        if benchmark not in SAMPLING_TARGET:
            raise LoadGenError(
                f"TEST01: reef knows no accuracy_log_sampling_target for '{benchmark}' (known: "
                f"{', '.join(SAMPLING_TARGET)})"
            )
        lines += [
            "*.*.mode = 2",
            f"*.*.accuracy_log_rng_seed = {TEST01_SEED}",
            f"*.*.accuracy_log_sampling_target = {SAMPLING_TARGET[benchmark]}",
        ]
    elif test == "TEST04":
        lines += [
            "*.*.mode = 2",
            "*.*.performance_issue_unique = 0",
            "*.*.performance_issue_same = 1",
            f"*.*.performance_issue_same_index = {SAME_INDEX}",
        ]
    else:
        raise LoadGenError(f"compliance test '{test}': reef runs {', '.join(COMPLIANCE_TESTS)}")
    return "\n".join(lines) + "\n"


def loadgen_model(benchmark: str) -> str:
    """The ``mlperf.conf`` model name of an MLPerf benchmark: without its accuracy target (``yolo-99`` is
    ``yolo``, ``bert-99.9`` is ``bert``) and with ``_`` for ``.`` (``llama3.1-8b`` is ``llama3_1-8b``)."""
    name = benchmark
    for suffix in ("-99.9", "-99", "-95"):
        if name.endswith(suffix):
            name = name.removesuffix(suffix)
            break
    return name.replace(".", "_")


def run_loadgen(
    predict: Predict,
    sample_count: int,
    scenario: str = "SingleStream",
    mode: str = "performance",
    *,
    load: Callable[[Sequence[int]], None] | None = None,
    unload: Callable[[Sequence[int]], None] | None = None,
    batch_size: int = 1,
    performance_sample_count: int | None = None,
    profile: str = "short",
    model: str = "*",
    expected_qps: float | None = None,
    expected_latency_ms: float | None = None,
    log_dir: str | Path | None = None,
    audit_config: str | None = None,
    **short: Any,
) -> LoadGenResult:
    """Run one LoadGen test of ``predict`` over ``sample_count`` samples and return its result.

    LoadGen takes the official ``mlperf.conf`` it embeds for ``model`` (its name there: ``yolo``,
    ``resnet50``...; see ``loadgen_model``; ``*``: only the lines for every model) and ``scenario``,
    then the values of the ``user.conf`` written in ``log_dir`` for ``profile`` (``rules`` or ``short``).
    ``expected_qps`` sets Offline's expected and Server's target rate (LoadGen calls an Offline run
    INVALID when it is below the real rate); ``expected_latency_ms`` (per sample) sets how many
    queries SingleStream and MultiStream prepare (too high: "min duration not satisfied"). Only the
    ``short`` profile takes ``min_duration_ms`` (default 10000), ``min_query_count`` (default 100),
    ``max_duration_ms``, ``max_query_count``, ``samples_per_query`` (MultiStream's query size) and
    ``target_latency_ms`` (Server's latency bound); ``rules`` refuses them.
    ``batch_size`` is how many samples one ``predict`` call gets at most; ``performance_sample_count``
    what the QSL offers (``mlperf.conf``'s count for ``model`` overrides it). ``load``/``unload`` are the
    QSL's callbacks (the samples LoadGen is about to use). The logs and ``user.conf`` go to ``log_dir``, else to a new
    folder in the run's own folder (``reefnb.run_folder()``), where ``reefnb.attach`` can keep them.
    ``audit_config`` (the text of an MLPerf compliance test's ``audit.config``) is written as ``log_dir/audit.config``,
    which LoadGen reads over the settings (its detail log says so); responses keep their data in every mode then
    (TEST01 samples them into the accuracy log). Without it
    LoadGen reads no audit file (never one in the working folder).
    """
    import mlperf_loadgen as loadgen

    unknown = sorted(set(short) - set(SHORT_KEYS))
    if unknown:
        raise TypeError(f"run_loadgen() got unexpected keyword arguments: {', '.join(unknown)}")
    test = _LoadGenTest(scenario, mode, sample_count, batch_size, performance_sample_count, load, unload)
    values = _LoadGenSettings(profile, model, expected_qps, expected_latency_ms, **short)
    test.check()
    values.check()
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="loadgen-", dir=run_folder()))
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "user.conf").write_text(values.user_conf(scenario), encoding="utf-8")
    if audit_config is not None:
        (log_dir / "audit.config").write_text(audit_config, encoding="utf-8")
    settings = _test_settings(loadgen, test, values, log_dir / "user.conf")
    harness = _Harness(
        loadgen,
        predict,
        batch_size,
        threaded=scenario == "Server",
        keep_data=mode != "performance" or audit_config is not None,
    )
    wall = _run_test(loadgen, harness, test, settings, _log_settings(loadgen, log_dir), log_dir / "audit.config")
    if harness.error is not None:
        raise harness.error
    result = read_result(log_dir, scenario, mode, wall)
    result.profile = profile
    return result


def _test_settings(loadgen: Any, test: _LoadGenTest, values: _LoadGenSettings, user_conf: Path) -> Any:
    """LoadGen's ``TestSettings`` from its ``mlperf.conf`` and ``user_conf``, with the test's scenario and mode.

    ``FromConfig(user_conf, model, scenario, 1)`` reads both files only on its first call in a process:
    later calls skip ``mlperf.conf`` (seeds 0 again) and log "Multiple conf files are used", an error
    MLPerf's checker refuses. So every test loads ``mlperf.conf`` alone (``conf_type`` 0, which reads
    no file) and then sets ``user_conf``'s values as LoadGen's reader would (tests/kernel/test_bench.py
    compares the two)."""
    settings = loadgen.TestSettings()
    if settings.FromConfig(str(user_conf), values.model, test.scenario, 0) != 0:
        raise LoadGenError(
            f"LoadGen could not read the mlperf.conf it embeds (model '{values.model}', {test.scenario})"
        )
    for key, value in values.conf_values(test.scenario).items():
        setattr(
            settings,
            _SETTING[key, test.scenario] if (key, test.scenario) in _SETTING else _SETTING[key],
            _setting_value(key, value),
        )
    settings.scenario = getattr(loadgen.TestScenario, test.scenario)
    settings.mode = getattr(loadgen.TestMode, MODES[test.mode])
    return settings


_SETTING = {  # user.conf key (and scenario) -> TestSettings attribute, as LoadGen's FromConfig maps them
    "min_duration": "min_duration_ms",
    "max_duration": "max_duration_ms",
    "min_query_count": "min_query_count",
    "max_query_count": "max_query_count",
    "samples_per_query": "multi_stream_samples_per_query",
    ("target_qps", "Offline"): "offline_expected_qps",
    ("target_qps", "Server"): "server_target_qps",
    ("target_latency", "SingleStream"): "single_stream_expected_latency_ns",
    ("target_latency", "MultiStream"): "multi_stream_expected_latency_ns",
    ("target_latency", "Server"): "server_target_latency_ns",
}


def _setting_value(key: str, value: float | int) -> float | int:
    """A user.conf value in the attribute's unit: latencies in ns, rates as floats, the rest integers."""
    if key == "target_latency":
        return max(1, int(value * 1e6))
    return float(value) if key == "target_qps" else int(value)


def _log_settings(loadgen: Any, log_dir: Path) -> Any:
    """LoadGen's ``LogSettings``: its four logs in ``log_dir``, nothing copied to stdout."""
    output = loadgen.LogOutputSettings()
    output.outdir = str(log_dir)
    output.copy_summary_to_stdout = False
    log_settings = loadgen.LogSettings()
    log_settings.log_output = output
    return log_settings


def _run_test(
    loadgen: Any, harness: _Harness, test: _LoadGenTest, settings: Any, log_settings: Any, audit: Path
) -> float:
    """Run the test with the harness as SUT over a QSL of the test's samples (``audit``: the audit.config LoadGen
    reads if it exists); its wall time in seconds."""
    sut = loadgen.ConstructSUT(harness.issue_queries, harness.flush_queries)
    performance_count = min(test.performance_sample_count or test.sample_count, test.sample_count)
    qsl = loadgen.ConstructQSL(test.sample_count, performance_count, test.load or _nothing, test.unload or _nothing)
    started = time.perf_counter()
    try:
        loadgen.StartTestWithLogSettings(sut, qsl, settings, log_settings, str(audit))
    finally:
        harness.close()
        loadgen.DestroyQSL(qsl)
        loadgen.DestroySUT(sut)
    return time.perf_counter() - started


def read_result(
    log_dir: Path, scenario: str, mode: str, wall_s: float = 0.0, samples_per_query: int | None = None
) -> LoadGenResult:
    """The figures of a finished test from ``mlperf_log_detail.txt`` (and the summary for the invalid reason).

    A MultiStream rate is the samples per query (``samples_per_query``, else the log's) over the mean query latency."""
    detail_path = Path(log_dir) / "mlperf_log_detail.txt"
    try:
        lines = detail_path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise LoadGenError(f"{detail_path}: cannot read LoadGen's detail log: {error.strerror}") from None
    detail: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":::MLLOG"):
            entry = json.loads(line.removeprefix(":::MLLOG").strip())
            key = str(entry.get("key", ""))
            if key.startswith("result_"):
                detail[key.removeprefix("result_")] = entry.get("value")
            elif key.startswith("effective_"):
                settings[key.removeprefix("effective_")] = entry.get("value")
    if samples_per_query is None:
        samples_per_query = int(settings.get("samples_per_query") or 1)
    latency = {}
    if mode == "performance":
        for name, key in (
            ("p50", "50.00_percentile_latency_ns"),
            ("p90", "90.00_percentile_latency_ns"),
            ("p99", "99.00_percentile_latency_ns"),
            ("mean", "mean_latency_ns"),
            ("min", "min_latency_ns"),
            ("max", "max_latency_ns"),
        ):
            if detail.get(key) is not None:
                latency[name] = float(detail[key]) / 1e6
    rate = None
    if mode == "performance":
        for key in ("samples_per_second", "completed_samples_per_sec", "qps_with_loadgen_overhead"):
            if detail.get(key) is not None:
                rate = float(detail[key])
                break
        if scenario == "MultiStream" and detail.get("mean_query_latency_ns"):
            rate = samples_per_query / (float(detail["mean_query_latency_ns"]) / 1e9)
    valid = detail.get("validity") == "VALID"
    reason = None if valid or mode != "performance" else _invalid_reason(Path(log_dir) / "mlperf_log_summary.txt")
    return LoadGenResult(
        scenario,
        mode,
        valid if mode == "performance" else True,
        reason,
        detail.get("query_count"),
        rate,
        latency,
        Path(log_dir),
        wall_s,
        detail,
        settings,
    )


def read_accuracy_log(path: str | Path) -> list[tuple[int, bytes]]:
    """``(qsl_idx, data)`` of each entry of ``mlperf_log_accuracy.json`` (data is hex in the log)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8") or "[]")
    except (OSError, json.JSONDecodeError) as error:
        raise LoadGenError(f"{path}: not a LoadGen accuracy log: {error}") from None
    return [(int(entry["qsl_idx"]), bytes.fromhex(entry["data"])) for entry in entries]


def _invalid_reason(summary: Path) -> str | None:
    try:
        lines = summary.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    failed = [line.strip().split(":")[0] for line in lines if line.strip().endswith((": NO", ": No"))]
    return "; ".join(failed) or None


def _nothing(indices: Sequence[int]) -> None:
    return None


class _Harness:
    """The SUT's callbacks: run ``predict`` on each query's samples and hand LoadGen the responses.

    Server queries go through one worker thread (LoadGen's issuing thread must not block); the other
    scenarios answer inside ``issue_queries``, the cheapest path.
    """

    def __init__(self, loadgen, predict: Predict, batch_size: int, threaded: bool, keep_data: bool = True):
        self.loadgen = loadgen
        self.keep_data = keep_data  # whether responses carry predict's outputs (accuracy mode logs them)
        self.predict = predict
        self.batch_size = batch_size
        self.error: BaseException | None = None
        self.queue: queue.Queue | None = None
        self.worker: threading.Thread | None = None
        if threaded:
            self.queue = queue.Queue()
            self.worker = threading.Thread(target=self._work, name="reef-loadgen-worker", daemon=True)
            self.worker.start()

    def issue_queries(self, query_samples) -> None:
        if self.queue is not None:
            self.queue.put(list(query_samples))
        else:
            self._answer(query_samples)

    def flush_queries(self) -> None:
        return None

    def close(self) -> None:
        if self.queue is not None and self.worker is not None:
            self.queue.put(None)
            self.worker.join()

    def _work(self) -> None:
        while (samples := self.queue.get()) is not None:
            self._answer(samples)

    def _answer(self, query_samples) -> None:
        loadgen, size, count = self.loadgen, self.batch_size, len(query_samples)
        for start in range(0, count, size):
            chunk = query_samples if count <= size else query_samples[start : start + size]
            outputs = None
            if self.error is None:
                try:
                    outputs = self.predict([sample.index for sample in chunk])
                    if len(outputs) != len(chunk):
                        raise LoadGenError(f"predict returned {len(outputs)} responses for {len(chunk)} samples")
                except BaseException as error:  # LoadGen cannot take an exception: answer empty, raise after the test
                    self.error, outputs = error, None
            if outputs is None or not self.keep_data:  # performance mode: LoadGen logs no response data
                loadgen.QuerySamplesComplete([loadgen.QuerySampleResponse(sample.id, 0, 0) for sample in chunk])
                continue
            keep, responses = [], []
            for sample, output in zip(chunk, outputs, strict=True):
                if output is None:
                    responses.append(loadgen.QuerySampleResponse(sample.id, 0, 0))
                    continue
                buffer = _as_buffer(output)
                keep.append(buffer)
                address, _ = buffer.buffer_info()
                responses.append(loadgen.QuerySampleResponse(sample.id, address, len(buffer) * buffer.itemsize))
            loadgen.QuerySamplesComplete(responses)
            del keep  # the buffers had to live until LoadGen copied them


def _as_buffer(output: Any):
    if hasattr(output, "tobytes"):
        output = output.tobytes()
    return array.array("B", bytes(output))
