"""Dashboard generation for 100 runs of the flagship: `reef dashboard` against Altair's own offline page.

100 recorded runs of solutions/obj-detection-coco-tf (the 6 runs of a real `reef benchmark`,
tests/data/flagship-benchmark-runs.json, each repeated with its latency and mAP jittered by a fixed seed)
in a temporary REEF_HOME. Each measurement is a fresh process, as a user's command is:

- reef: `commands.dashboard(FOLDER, OUTPUT)` (results read, comparison, charts, the page written), timed
  after the imports; "first" with an empty REEF_HOME cache, then warm (what every later dashboard costs);
- baseline: the same 100 runs read by `reefnb.results`, one Altair scatter of latency against mAP saved as
  an offline page (`chart.save(PATH, inline=True)`: what a user writes by hand), timed after the imports;
- the whole `reef dashboard` command (interpreter start and imports included).

Reef and the baseline run alternately, best of three each. Goal (issue 31): under 3 s for 100 runs.
Run: .venv/bin/python benchmarks/dashboard.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = REPO / "solutions" / "obj-detection-coco-tf"
RUNS = 100

REEF = """
import sys, time
from reefnb.frontends import commands
started = time.perf_counter()
commands.dashboard(sys.argv[1], sys.argv[2])
print(time.perf_counter() - started)
"""

BASELINE = """
import sys, time
import altair as alt
import reefnb
started = time.perf_counter()
frame = reefnb.results(solution="obj-detection-coco-tf")
chart = alt.Chart(frame).mark_point().encode(x="metric\\\\.latency_p90_ms:Q", y="metric\\\\.mAP:Q", color="param\\\\.backend:N")
chart.save(sys.argv[2], inline=True)
print(time.perf_counter() - started)
"""


def records(folder: Path, count: int) -> list[dict]:
    """``count`` runs of the flagship in ``folder``: the benchmark's six, again and again, jittered."""
    recorded = json.loads((REPO / "tests" / "data" / "flagship-benchmark-runs.json").read_text())
    rng = np.random.default_rng(0)
    made = []
    for index in range(count):
        record = json.loads(json.dumps(recorded[index % len(recorded)]))
        record["run_id"] = f"20270101T{index // 3600:02d}{index // 60 % 60:02d}{index % 60:02d}Z-{index:08x}"
        record.pop("run_key", None)
        record["solution"]["path"] = str(folder)
        record["parameters"]["threads"] = 1 + index // len(recorded) % 4
        for name in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "mAP"):
            record["metrics"][name]["value"] = round(record["metrics"][name]["value"] * rng.uniform(0.9, 1.1), 4)
        made.append(record)
    return made


def timed(code: str, *arguments: str, environment: dict[str, str]) -> float:
    """The seconds a fresh process printed for ``code``."""
    done = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, env=environment, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        folder = root / "obj-detection-coco-tf"
        shutil.copytree(FLAGSHIP, folder, ignore=shutil.ignore_patterns("runs", "__pycache__", "reproduce-report.*", "reef.lock.json"))
        environment = {**os.environ, "REEF_HOME": str(root / "home")}
        os.environ["REEF_HOME"] = environment["REEF_HOME"]
        from reefnb.runs.store import default_store

        default_store().add_many(records(folder, RUNS))
        output = str(root / "dashboard.html")
        first = timed(REEF, str(folder), output, environment=environment)
        reef, baseline = [], []
        for _ in range(3):
            reef.append(timed(REEF, str(folder), output, environment=environment))
            baseline.append(timed(BASELINE, str(folder), str(root / "altair.html"), environment=environment))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "reefnb", "dashboard", "-s", str(folder), "-o", output], env=environment, check=True, capture_output=True)
        command = time.perf_counter() - started
        size = Path(output).stat().st_size
    print(f"{RUNS} runs of the flagship ({os.getloadavg()[0]:.2f} load):")
    print(f"  reef dashboard generation, first (empty cache): {first:.2f} s")
    print(f"  reef dashboard generation, warm (best of 3):    {min(reef):.2f} s  {[round(value, 2) for value in reef]}")
    print(f"  baseline, Altair's inline chart.save (best of 3): {min(baseline):.2f} s  {[round(value, 2) for value in baseline]}")
    print(f"  reef / baseline: {min(reef) / min(baseline):.2f}x; the page {size / 1e6:.1f} MB")
    print(f"  the whole `reef dashboard` command: {command:.2f} s")


if __name__ == "__main__":
    main()
