"""How long the flagship's LoadGen SingleStream run takes in each LoadGen profile (issue 30).

``short``: mlperf.conf's values with min_duration and min_query_count lowered (the workflow's defaults);
``rules``: every value of the official mlperf.conf the installed LoadGen embeds (600 s of performance
run, the whole data set in accuracy mode). Each is one ``reef run`` of the flagship (mode both:
accuracy, then performance) on a copy of it with a fresh REEF_HOME, on reef's own kernel; the figures
printed come from the LoadGen detail logs the run attached.
Run: .venv/bin/python benchmarks/mlperf_rules.py [short] [rules]   (both by default; rules takes 10 min)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = REPO / "solutions" / "obj-detection-coco-tf"
OFFICIAL_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}


def detail_values(path: Path) -> dict:
    """Every key of a LoadGen detail log with its value."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":::MLLOG"):
            entry = json.loads(line.removeprefix(":::MLLOG"))
            values[entry["key"]] = entry.get("value")
    return values


def timed_run(profile: str, scratch: Path) -> dict:
    """One ``reef run`` of the flagship, SingleStream, both modes,
    in ``profile``: its wall time and LoadGen's figures."""
    import reefnb

    folder = scratch / profile / FLAGSHIP.name
    shutil.copytree(
        FLAGSHIP, folder, ignore=shutil.ignore_patterns("runs", "__pycache__", "reproduce-report.*", "reef.lock.json")
    )
    os.environ["REEF_HOME"] = str(scratch / profile / "reef-home")
    started = time.perf_counter()
    record = reefnb.run(folder, parameters={"scenario": "SingleStream", "mode": "both", "loadgen_profile": profile})
    wall = time.perf_counter() - started
    if record["status"] != "ok":
        raise SystemExit(f"{profile}: the run failed: {record.get('error')}")
    files = folder / "runs" / record["run_id"] / "files"
    performance, accuracy = (
        detail_values(files / "performance" / "mlperf_log_detail.txt"),
        detail_values(files / "accuracy" / "mlperf_log_detail.txt"),
    )
    seeds_ok = all(
        performance[f"effective_{name}"] == value and accuracy[f"effective_{name}"] == value
        for name, value in OFFICIAL_SEEDS.items()
    )
    return {
        "profile": profile,
        "wall_s": wall,
        "performance_s": _seconds(performance),
        "queries": performance["result_query_count"],
        "min_duration_ms": performance["effective_min_duration_ms"],
        "min_query_count": performance["effective_min_query_count"],
        "performance_sample_count": performance["effective_performance_sample_count"],
        "accuracy_samples": accuracy["effective_accuracy_sample_count"],
        "p90_ms": performance["result_90.00_percentile_latency_ns"] / 1e6,
        "validity": performance["result_validity"],
        "official_seeds": seeds_ok,
    }


def _seconds(detail: dict) -> float:
    """The performance test's own duration: LoadGen's power_begin to power_end ("MM-DD-YYYY HH:MM:SS.mmm")."""
    from datetime import datetime

    begin, end = (datetime.strptime(detail[key], "%m-%d-%Y %H:%M:%S.%f") for key in ("power_begin", "power_end"))
    return (end - begin).total_seconds()


def main(profiles: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="mlperf-rules-") as scratch:
        results = [timed_run(profile, Path(scratch)) for profile in profiles]
    print(
        "flagship, SingleStream, mode both (accuracy then performance), reef's own kernel; load "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'profile':8} {'run s':>8} {'perf. s':>8} {'queries':>8} {'min ms':>8} {'min q':>6} {'PSC':>5} "
        f"{'acc. n':>6} {'p90 ms':>7}  LoadGen  seeds"
    )
    for result in results:
        print(
            f"{result['profile']:8} {result['wall_s']:>8.1f} {result['performance_s']:>8.1f} "
            f"{result['queries']:>8} {result['min_duration_ms']:>8}"
            f" {result['min_query_count']:>6} {result['performance_sample_count']:>5} "
            f"{result['accuracy_samples']:>6} {result['p90_ms']:>7.2f}"
            f"  {result['validity']:7}  {'official' if result['official_seeds'] else 'NOT official'}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["short", "rules"])
