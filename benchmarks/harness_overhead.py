"""What the LoadGen harness adds per query: a system under test that sleeps 1 ms, three ways.

1. a bare timing loop (perf_counter around the call), the floor;
2. LoadGen SingleStream with the smallest SUT one can write (the callbacks straight on mlperf_loadgen);
3. LoadGen SingleStream through ``reefnb.kernel.bench.run_loadgen`` (the solution's harness).

Latencies of 2 and 3 come from LoadGen's own detail log. Goal: 3 adds under 50 us per query
(mean) over 1, and its p90 is within 3% of the loop's.
Run: .venv/bin/python benchmarks/harness_overhead.py [SECONDS_PER_TEST]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

SLEEP_S = 0.001
SAMPLES = 64


def work() -> None:
    time.sleep(SLEEP_S)


def bare_loop(seconds: float) -> list[float]:
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        work()
        latencies.append(time.perf_counter() - started)
    return latencies


def raw_loadgen(seconds: float, log_dir: Path) -> dict:
    import mlperf_loadgen as loadgen

    from reefnb.kernel.bench import read_result

    def issue(query_samples):
        responses = []
        for sample in query_samples:
            work()
            responses.append(loadgen.QuerySampleResponse(sample.id, 0, 0))
        loadgen.QuerySamplesComplete(responses)

    sut = loadgen.ConstructSUT(issue, lambda: None)
    qsl = loadgen.ConstructQSL(SAMPLES, SAMPLES, lambda indices: None, lambda indices: None)
    settings = loadgen.TestSettings()
    settings.scenario = loadgen.TestScenario.SingleStream
    settings.mode = loadgen.TestMode.PerformanceOnly
    settings.min_duration_ms = int(seconds * 1000)
    settings.min_query_count = 100
    output = loadgen.LogOutputSettings()
    output.outdir = str(log_dir)
    log_settings = loadgen.LogSettings()
    log_settings.log_output = output
    log_dir.mkdir(parents=True, exist_ok=True)
    loadgen.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    loadgen.DestroyQSL(qsl)
    loadgen.DestroySUT(sut)
    return read_result(log_dir, "SingleStream", "performance").detail


def reef_harness(seconds: float, log_dir: Path) -> dict:
    from reefnb.kernel.bench import run_loadgen

    def predict(indices):
        for _ in indices:
            work()
        return [None] * len(indices)

    # expected latency as the minimal SUT's LoadGen default (1 ms), not mlperf.conf's 10 ms: enough queries prepared
    short = {"min_duration_ms": int(seconds * 1000), "min_query_count": 100}
    return run_loadgen(
        predict, SAMPLES, "SingleStream", "performance", expected_latency_ms=1.0, log_dir=log_dir, **short
    ).detail


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(seconds: float = 3.0, rounds: int = 3) -> None:
    """Each round runs the three tests in turn (order rotated); the figures are the medians over rounds,
    so that a slow moment of the machine does not land on one test only."""
    runs: dict[str, list[dict]] = {"bare loop": [], "LoadGen, minimal SUT": [], "LoadGen, reefnb.kernel.bench": []}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(rounds):
            tests = [
                ("bare loop", None),
                ("LoadGen, minimal SUT", raw_loadgen),
                ("LoadGen, reefnb.kernel.bench", reef_harness),
            ]
            tests = tests[round_number % 3 :] + tests[: round_number % 3]
            for name, test in tests:
                if test is None:
                    loop = bare_loop(seconds)
                    runs[name].append(
                        {
                            "query_count": len(loop),
                            "mean_latency_ns": statistics.fmean(loop) * 1e9,
                            "50.00_percentile_latency_ns": percentile(loop, 0.5) * 1e9,
                            "90.00_percentile_latency_ns": percentile(loop, 0.9) * 1e9,
                        }
                    )
                else:
                    runs[name].append(
                        test(seconds, Path(scratch) / f"{round_number}-{len(runs[name])}-{test.__name__}")
                    )

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name]) / 1e3

    loop_mean, loop_p90 = median("bare loop", "mean_latency_ns"), median("bare loop", "90.00_percentile_latency_ns")
    print(f"SUT: sleep {SLEEP_S * 1000:.0f} ms; {rounds} rounds of {seconds:.0f} s per test, medians over rounds")
    print(f"{'':24} {'queries':>8} {'mean us':>10} {'p50 us':>10} {'p90 us':>10} {'+mean us':>10} {'p90 vs loop':>12}")
    for name in runs:
        mean, p90 = median(name, "mean_latency_ns"), median(name, "90.00_percentile_latency_ns")
        queries = int(statistics.median(run["query_count"] for run in runs[name]))
        extra = "" if name == "bare loop" else f" {mean - loop_mean:>10.1f} {(p90 / loop_p90 - 1) * 100:>+11.2f}%"
        print(
            f"{name:24} {queries:>8} {mean:>10.1f} {median(name, '50.00_percentile_latency_ns'):>10.1f} "
            f"{p90:>10.1f}{extra}"
        )
    overhead = median("LoadGen, reefnb.kernel.bench", "mean_latency_ns") - loop_mean
    p90_ratio = median("LoadGen, reefnb.kernel.bench", "90.00_percentile_latency_ns") / loop_p90 - 1
    verdict = "met" if overhead < 50 and abs(p90_ratio) <= 0.03 else "NOT met"
    print(f"goal (< 50 us per query, p90 within 3%): {verdict}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
