"""MLPerf LoadGen harness: drive a system under test through LoadGen's scenarios and read LoadGen's own logs.

``run_loadgen(predict, sample_count, ...)`` builds the LoadGen SUT and QSL around ``predict`` (a
function from a list of sample indices to one response per index: ``bytes``, a numpy array or
``None``), runs one test and returns a ``LoadGenResult`` whose figures (latency percentiles,
samples per second, VALID/INVALID) come from ``mlperf_log_detail.txt``, and whose accuracy
responses come from ``mlperf_log_accuracy.json``. ``mlperf_loadgen`` is imported only here, and only
when a test runs (never ``mlcommons_loadgen``: importing it empties ``mlperf_loadgen``).
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
Predict = Callable[[Sequence[int]], Sequence[Any]]


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
            raise LoadGenError(f"sample_count and batch_size must be at least 1, got {self.sample_count} and {self.batch_size}")


@dataclass
class _LoadGenSettings:
    """The ``run_loadgen`` parameters that become LoadGen's test settings: durations, query counts, rates, latencies."""

    min_duration_ms: int
    min_query_count: int
    max_duration_ms: int | None
    expected_qps: float | None
    samples_per_query: int
    target_latency_ms: float | None
    expected_latency_ms: float | None


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
    min_duration_ms: int = 10_000,
    min_query_count: int = 100,
    max_duration_ms: int | None = None,
    expected_qps: float | None = None,
    samples_per_query: int = 8,
    target_latency_ms: float | None = None,
    expected_latency_ms: float | None = None,
    log_dir: str | Path | None = None,
) -> LoadGenResult:
    """Run one LoadGen test of ``predict`` over ``sample_count`` samples and return its result.

    ``expected_qps`` sets Offline's expected and Server's target rate (LoadGen calls an Offline run
    INVALID when it is below the real rate); ``expected_latency_ms`` (per sample) sets how many
    queries SingleStream and MultiStream prepare (too high: "min duration not satisfied");
    ``target_latency_ms`` is Server's latency bound; ``samples_per_query`` is MultiStream's query size;
    ``batch_size`` how many samples one ``predict`` call gets at most. ``load``/``unload`` are the
    QSL's callbacks (the samples LoadGen is about to use). The logs go to ``log_dir``, else to a new
    folder in the run's own folder (``reefnb.run_folder()``), where ``reefnb.attach`` can keep them.
    """
    import mlperf_loadgen as loadgen

    test = _LoadGenTest(scenario, mode, sample_count, batch_size, performance_sample_count, load, unload)
    values = _LoadGenSettings(min_duration_ms, min_query_count, max_duration_ms, expected_qps, samples_per_query, target_latency_ms, expected_latency_ms)
    test.check()
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="loadgen-", dir=run_folder()))
    log_dir.mkdir(parents=True, exist_ok=True)
    settings = _test_settings(loadgen, test, values)
    harness = _Harness(loadgen, predict, batch_size, threaded=scenario == "Server", keep_data=mode != "performance")
    wall = _run_test(loadgen, harness, test, settings, _log_settings(loadgen, log_dir))
    if harness.error is not None:
        raise harness.error
    return read_result(log_dir, scenario, mode, wall, samples_per_query)


def _test_settings(loadgen: Any, test: _LoadGenTest, values: _LoadGenSettings) -> Any:
    """LoadGen's ``TestSettings``: the test's scenario and mode, and the values asked for."""
    settings = loadgen.TestSettings()
    settings.scenario = getattr(loadgen.TestScenario, test.scenario)
    settings.mode = getattr(loadgen.TestMode, MODES[test.mode])
    settings.min_duration_ms = int(values.min_duration_ms)
    settings.min_query_count = int(values.min_query_count)
    if values.max_duration_ms is not None:
        settings.max_duration_ms = int(values.max_duration_ms)
    if values.expected_qps is not None:
        settings.offline_expected_qps = float(values.expected_qps)
        settings.server_target_qps = float(values.expected_qps)
    if values.target_latency_ms is not None:
        settings.server_target_latency_ns = int(values.target_latency_ms * 1e6)
    if values.expected_latency_ms is not None:  # LoadGen makes min_duration / expected latency queries: err low
        settings.single_stream_expected_latency_ns = max(1, int(values.expected_latency_ms * 1e6))
        settings.multi_stream_expected_latency_ns = max(1, int(values.expected_latency_ms * values.samples_per_query * 1e6))
    settings.multi_stream_samples_per_query = int(values.samples_per_query)
    return settings


def _log_settings(loadgen: Any, log_dir: Path) -> Any:
    """LoadGen's ``LogSettings``: its four logs in ``log_dir``, nothing copied to stdout."""
    output = loadgen.LogOutputSettings()
    output.outdir = str(log_dir)
    output.copy_summary_to_stdout = False
    log_settings = loadgen.LogSettings()
    log_settings.log_output = output
    return log_settings


def _run_test(loadgen: Any, harness: _Harness, test: _LoadGenTest, settings: Any, log_settings: Any) -> float:
    """Run the test with the harness as SUT over a QSL of the test's samples; its wall time in seconds."""
    sut = loadgen.ConstructSUT(harness.issue_queries, harness.flush_queries)
    performance_count = min(test.performance_sample_count or test.sample_count, test.sample_count)
    qsl = loadgen.ConstructQSL(test.sample_count, performance_count, test.load or _nothing, test.unload or _nothing)
    started = time.perf_counter()
    try:
        loadgen.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        harness.close()
        loadgen.DestroyQSL(qsl)
        loadgen.DestroySUT(sut)
    return time.perf_counter() - started


def read_result(log_dir: Path, scenario: str, mode: str, wall_s: float = 0.0, samples_per_query: int = 1) -> LoadGenResult:
    """The figures of a finished test from ``mlperf_log_detail.txt`` (and the summary for the invalid reason).

    A MultiStream rate is ``samples_per_query`` over the mean query latency."""
    detail_path = Path(log_dir) / "mlperf_log_detail.txt"
    try:
        lines = detail_path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise LoadGenError(f"{detail_path}: cannot read LoadGen's detail log: {error.strerror}") from None
    detail: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":::MLLOG"):
            entry = json.loads(line.removeprefix(":::MLLOG").strip())
            if str(entry.get("key", "")).startswith("result_"):
                detail[entry["key"].removeprefix("result_")] = entry.get("value")
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
        scenario, mode, valid if mode == "performance" else True, reason, detail.get("query_count"), rate, latency, Path(log_dir), wall_s, detail
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
