"""Dashboard generation for 100 runs of the flagship: `reef dashboard` against Altair's own offline page.

100 recorded runs of solutions/obj-detection-coco-tf (the 6 runs of a real `reef benchmark`,
tests/data/flagship-benchmark-runs.json, each repeated with its latency and mAP jittered by a fixed seed)
in a temporary REEF_HOME. Each measurement is a fresh process, as a user's command is:

- reef: `commands.dashboard(FOLDER, OUTPUT)` (results read, comparison, charts, the page written), timed
  after the imports (wall and the process's CPU time: on the shared 2-core machine the wall time follows
  the load); "first" with an empty REEF_HOME cache, then warm (what every later dashboard costs);
- baseline: the same 100 runs read by `reefnb.results`, one Altair scatter of latency against mAP saved as
  an offline page (`chart.save(PATH, inline=True)`: what a user writes by hand), timed after the imports;
- the whole `reef dashboard` command (interpreter start and imports included).

Reef and the baseline run alternately, best of three each. Goal (issue 31): under 3 s for 100 runs.
With ``--before FOLDER`` (an older tree: `git archive COMMIT reefnb solutions/obj-detection-coco-tf | tar -x -C FOLDER`)
that tree's reefnb makes the same dashboard of its own flagship's manifest in the same rounds.
Run: .venv/bin/python benchmarks/dashboard.py [--before FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reefnb.common.json_input import FORMAT_CHECKER_ONLY

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = REPO / "solutions" / "obj-detection-coco-tf"
RUNS = 100

REEF = f"""
import sys, time
for name in {FORMAT_CHECKER_ONLY!r}:  # as the reef command goes without them
    sys.modules.setdefault(name, None)
from reefnb.frontends import commands
started, cpu = time.perf_counter(), time.process_time()
commands.dashboard(sys.argv[1], sys.argv[2])
print(time.perf_counter() - started, time.process_time() - cpu)
"""

BASELINE = """
import sys, time
import altair as alt
import reefnb
started, cpu = time.perf_counter(), time.process_time()
frame = reefnb.results(solution="obj-detection-coco-tf")
chart = alt.Chart(frame).mark_point().encode(
    x="metric\\\\.latency_p90_ms:Q", y="metric\\\\.mAP:Q", color="param\\\\.backend:N"
)
chart.save(sys.argv[2], inline=True)
print(time.perf_counter() - started, time.process_time() - cpu)
"""


ADD = """
import json, sys
from reefnb.runs.store import default_store
default_store().add_many(json.loads(open(sys.argv[1], encoding="utf-8").read()))
print(0, 0)
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


def timed(code: str, *arguments: str, environment: dict[str, str]) -> tuple[float, float]:
    """The wall and CPU seconds a fresh process printed for ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older tree (reefnb/ and the flagship) measured alike")
    before = parser.parse_args().before
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        folder = root / "obj-detection-coco-tf"
        shutil.copytree(
            FLAGSHIP,
            folder,
            ignore=shutil.ignore_patterns("runs", "__pycache__", "reproduce-report.*", "reef.lock.json"),
        )
        environment = {**os.environ, "REEF_HOME": str(root / "home")}
        made = root / "records.json"
        made.write_text(json.dumps(records(folder, RUNS)), encoding="utf-8")
        timed(ADD, str(made), environment=environment)
        output = str(root / "dashboard.html")
        first = timed(REEF, str(folder), output, environment=environment)
        reef, baseline, older = [], [], []
        old_environment = {}
        if before is not None:  # its own store (its store's schema), the same runs
            old_environment = {
                **environment,
                "PYTHONPATH": str(before.resolve()),
                "REEF_HOME": str(root / "home-before"),
            }
            timed(ADD, str(made), environment=old_environment)
        for _ in range(3):
            if (
                before is not None
            ):  # its flagship's manifest in the same place (the one its schema knows), the same runs
                shutil.copy(before / "solutions" / "obj-detection-coco-tf" / "solution.json", folder / "solution.json")
                older.append(timed(REEF, str(folder), output, environment=old_environment))
                shutil.copy(FLAGSHIP / "solution.json", folder / "solution.json")
            reef.append(timed(REEF, str(folder), output, environment=environment))
            baseline.append(timed(BASELINE, str(folder), str(root / "altair.html"), environment=environment))
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "reefnb", "dashboard", "-s", str(folder), "-o", output],
            env=environment,
            check=True,
            capture_output=True,
        )
        command = time.perf_counter() - started
        size = Path(output).stat().st_size

    def shown(times: list[tuple[float, float]]) -> str:
        wall, cpu = min(times)
        return f"{wall:.2f} s wall, {cpu:.2f} s CPU (each: {', '.join(f'{w:.2f}/{c:.2f}' for w, c in times)})"

    print(
        f"{RUNS} runs of the flagship (load {os.getloadavg()[0]:.2f}; wall time on a loaded machine, CPU time "
        "of the process beside it):"
    )
    print(f"  reef dashboard generation, first (empty cache):   {shown([first])}")
    print(f"  reef dashboard generation, warm (best of 3):      {shown(reef)}")
    print(f"  baseline, Altair's inline chart.save (best of 3): {shown(baseline)}")
    if older:
        print(f"  before ({before}), the same dashboard:  {shown(older)}")
    print(
        f"  reef / baseline: {min(reef)[0] / min(baseline)[0]:.2f}x wall, "
        f"{min(reef, key=lambda t: t[1])[1] / min(baseline, key=lambda t: t[1])[1]:.2f}x CPU"
    )
    print(f"  the page: {size / 1e6:.1f} MB; the whole `reef dashboard` command: {command:.2f} s wall")


if __name__ == "__main__":
    main()
