"""The LoadGen harness's settings (reefnb.kernel.bench): the official mlperf.conf that the installed LoadGen embeds,
then the user.conf the harness writes, in the ``rules`` and ``short`` profiles. Real LoadGen; runs of a fraction of
a second (the ``rules`` profile's 600 s runs are timed in benchmarks/mlperf_rules.py, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mlperf_loadgen")

from reefnb.kernel.bench import (  # noqa: E402
    LoadGenError,
    _LoadGenSettings,
    _LoadGenTest,
    _test_settings,
    loadgen_model,
    run_loadgen,
)

MLPERF_CONF = (
    Path(__file__).resolve().parents[3] / "shared" / "mlperf-inference-tools" / "loadgen" / "mlperf.conf"
)  # round v6.1
OFFICIAL_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}
COMPARED = [
    "min_duration_ms",
    "max_duration_ms",
    "min_query_count",
    "max_query_count",
    "qsl_rng_seed",
    "sample_index_rng_seed",
    "schedule_rng_seed",
    "performance_sample_count_override",
    "single_stream_expected_latency_ns",
    "single_stream_target_latency_percentile",
    "multi_stream_expected_latency_ns",
    "multi_stream_samples_per_query",
    "multi_stream_target_latency_percentile",
    "server_target_qps",
    "server_target_latency_ns",
    "server_target_latency_percentile",
    "offline_expected_qps",
]
CASES = {
    "short": {
        "expected_qps": 250.5,
        "expected_latency_ms": 1.5,
        "min_duration_ms": 700,
        "min_query_count": 40,
        "max_duration_ms": 9000,
    },
    "rules": {"expected_qps": 250.5, "expected_latency_ms": 1.5},
}


def _sleepy(indices):
    time.sleep(0.001)
    return [bytes([index]) for index in indices]


def _settings(profile: str, scenario: str, tmp_path: Path):
    import mlperf_loadgen

    values = _LoadGenSettings(profile, "yolo", **CASES[profile])
    values.check()
    conf = tmp_path / f"{profile}-{scenario}.conf"
    conf.write_text(values.user_conf(scenario))
    return conf, _test_settings(
        mlperf_loadgen, _LoadGenTest(scenario, "performance", 50, 1, None, None, None), values, conf
    )


def test_the_harness_sets_what_loadgen_itself_reads_from_mlperf_conf_and_user_conf(tmp_path):
    """LoadGen's FromConfig(user.conf, model, scenario, 1) reads mlperf.conf and user.conf only on its first call in a
    process, so the harness loads mlperf.conf alone and sets user.conf's values itself: in a fresh process, LoadGen's
    own reading of the same user.conf gives the same settings, for each scenario and profile."""
    script = (
        "import json, sys, mlperf_loadgen as lg\n"
        "s = lg.TestSettings()\n"
        "assert s.FromConfig(sys.argv[1], 'yolo', sys.argv[2], 1) == 0\n"
        f"print(json.dumps({{name: getattr(s, name) for name in {COMPARED!r}}}))\n"
    )
    for profile in CASES:
        for scenario in ("SingleStream", "MultiStream", "Server", "Offline"):
            conf, ours = _settings(profile, scenario, tmp_path)
            out = subprocess.run(
                [sys.executable, "-c", script, str(conf), scenario], capture_output=True, text=True, check=True
            ).stdout
            theirs = json.loads(out.strip().splitlines()[-1])
            assert {name: getattr(ours, name) for name in COMPARED} == pytest.approx(theirs), (
                profile,
                scenario,
                conf.read_text(),
            )
            assert {name: getattr(ours, name) for name in OFFICIAL_SEEDS} == OFFICIAL_SEEDS


def test_the_rules_profile_takes_every_value_the_rules_fix_from_mlperf_conf(tmp_path):
    conf, single = _settings("rules", "SingleStream", tmp_path)
    assert conf.read_text().splitlines()[1:] == [
        "yolo.SingleStream.target_latency = 1.5"
    ]  # what a submitter states, nothing else
    assert single.min_duration_ms == 600_000 and single.single_stream_target_latency_percentile == pytest.approx(0.9)
    assert (
        single.performance_sample_count_override == 64
    )  # yolo's; the synthetic-50 QSL has fewer, LoadGen repeats them
    _, offline = _settings("rules", "Offline", tmp_path)
    assert offline.min_duration_ms == 600_000 and offline.offline_expected_qps == 250.5
    _, multi = _settings("rules", "MultiStream", tmp_path)
    assert (
        multi.multi_stream_samples_per_query,
        multi.min_query_count,
        multi.multi_stream_target_latency_percentile,
    ) == (8, 662, pytest.approx(0.99))
    conf, short = _settings("short", "SingleStream", tmp_path)
    assert (short.min_duration_ms, short.min_query_count, short.max_duration_ms) == (700, 40, 9000)
    assert "yolo.SingleStream.min_duration = 700" in conf.read_text() and short.performance_sample_count_override == 64

    with pytest.raises(
        LoadGenError, match="profile 'rules' takes min_duration_ms, min_query_count from MLPerf's mlperf.conf"
    ):
        run_loadgen(_sleepy, 4, profile="rules", min_duration_ms=5, min_query_count=1, log_dir=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    with pytest.raises(LoadGenError, match="profile: 'quick' is not one of rules, short"):
        run_loadgen(_sleepy, 4, profile="quick")
    with pytest.raises(TypeError, match="unexpected keyword arguments: min_duration"):
        run_loadgen(_sleepy, 4, min_duration=5)
    names = ("yolo-99", "yolo-95", "bert-99.9", "llama3.1-8b", "resnet50")
    assert [loadgen_model(name) for name in names] == ["yolo", "yolo", "bert", "llama3_1-8b", "resnet50"]


def test_every_run_of_a_process_logs_the_official_seeds_and_keeps_its_user_conf(tmp_path):
    """Three short runs in one process (a notebook runs accuracy, then performance): each detail log has the official
    seeds, no LoadGen error, the percentile and sample count of mlperf.conf, and its user.conf beside it."""
    short = {"min_duration_ms": 200, "min_query_count": 20}
    runs = [
        run_loadgen(_sleepy, 16, "SingleStream", "accuracy", model="yolo", log_dir=tmp_path / "accuracy"),
        run_loadgen(
            _sleepy,
            16,
            "SingleStream",
            "performance",
            model="yolo",
            expected_latency_ms=0.5,
            log_dir=tmp_path / "single",
            **short,
        ),
        run_loadgen(
            _sleepy,
            16,
            "Offline",
            "performance",
            model="yolo",
            batch_size=8,
            min_duration_ms=100,
            expected_qps=2000,
            log_dir=tmp_path / "offline",
        ),
    ]
    for run in runs:
        detail = (run.log_dir / "mlperf_log_detail.txt").read_text()
        assert "error_invalid_config" not in detail and '"is_error": true' not in detail, run.log_dir
        assert {name: run.settings[name] for name in OFFICIAL_SEEDS} == OFFICIAL_SEEDS
        assert run.settings["performance_sample_count"] == 64 and run.profile == "short"
        assert run.user_conf == run.log_dir / "user.conf" and run.user_conf.read_text().startswith(
            "# reef's user.conf (short profile)"
        )
    accuracy, single, offline = runs
    assert sorted(index for index, _ in accuracy.accuracy_responses()) == list(range(16))  # accuracy: every sample once
    assert (
        single.valid
        and single.settings["target_latency_percentile"] == pytest.approx(0.9)
        and single.settings["min_duration_ms"] == 200
    )
    assert offline.query_count == 1 and offline.settings["samples_per_query"] >= 16 and offline.samples_per_second > 100
    assert "yolo.Offline.target_qps = 2000" in offline.user_conf.read_text()
    if MLPERF_CONF.is_file():  # the round's file, beside the project: the installed LoadGen embeds the same seeds
        lines = [
            line.removeprefix("*.*.")
            for line in MLPERF_CONF.read_text().splitlines()
            if line.startswith("*.*.") and "rng_seed" in line
        ]
        official = dict(line.split(" = ") for line in lines)
        assert {name: int(official[name]) for name in OFFICIAL_SEEDS} == OFFICIAL_SEEDS
