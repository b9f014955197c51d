"""What run telemetry costs: a CPU-bound notebook run with sampling on (200 ms) and off, alternately.

The notebook does a fixed amount of pure-Python work and records how long it took (perf_counter in the
kernel), so kernel start-up noise stays out of the comparison; the whole run's wall time is shown too.
It also reports how long the sampler itself spent taking samples (``system.sampling_seconds``), the
samples taken, and whether energy (RAPL) was readable here.
Run: .venv/bin/python benchmarks/telemetry.py [REPEATS] [SECONDS_OF_WORK]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

WORK = """
import time, reefnb
def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
calibration = time.perf_counter(); work(200_000); per_item = (time.perf_counter() - calibration) / 200_000
"""
MEASURE = """
n = int(seconds / per_item) if items == 0 else items
begin = time.perf_counter()
work(n)
reefnb.record("work_s", time.perf_counter() - begin, unit="s")
reefnb.record("items", n)
"""


def _solution(folder: Path) -> Path:
    folder.mkdir()
    cells = [
        nbformat.v4.new_code_cell("seconds = 3.0\nitems = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(WORK),
        nbformat.v4.new_code_cell(MEASURE),
    ]
    notebook = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nbformat.write(notebook, folder / "main.ipynb")
    manifest = {"name": "telemetry-overhead", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    (folder / "solution.json").write_text(json.dumps(manifest))
    return folder


def main(repeats: int = 5, seconds: float = 3.0) -> None:
    import reefnb

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["REEF_HOME"] = str(Path(scratch) / "home")
        solution = _solution(Path(scratch) / "overhead")
        first = reefnb.run(
            solution, parameters={"seconds": seconds}, store=False
        )  # warm imports; fixes the work for all runs
        items = first["metrics"]["items"]["value"]
        parameters = {"seconds": seconds, "items": items}
        on, off, whole_on, whole_off, sampling, samples = [], [], [], [], [], []
        for index in range(repeats):
            for telemetry in (True, False) if index % 2 == 0 else (False, True):
                started = time.perf_counter()
                record = reefnb.run(solution, parameters=parameters, store=False, telemetry=telemetry)
                whole = time.perf_counter() - started
                assert record["status"] == "ok", record["error"]
                (on if telemetry else off).append(record["metrics"]["work_s"]["value"])
                (whole_on if telemetry else whole_off).append(whole)
                if telemetry:
                    sampling.append(record["system"]["sampling_seconds"])
                    samples.append(record["system"]["samples"])
                    last = record["system"]
    work_on, work_off = statistics.median(on), statistics.median(off)
    print(f"work cell, telemetry off : median {work_off:.3f} s over {repeats} runs ({items} items)")
    print(f"work cell, telemetry on  : median {work_on:.3f} s (samples: median {statistics.median(samples):.0f})")
    print(f"overhead on the work     : {100 * (work_on - work_off) / work_off:+.2f} %")
    print(
        f"whole run off / on       : median {statistics.median(whole_off):.2f} s / {statistics.median(whole_on):.2f} s "
        f"({100 * (statistics.median(whole_on) - statistics.median(whole_off)) / statistics.median(whole_off):+.2f} %)"
    )
    print(
        f"sampler's own time       : median {statistics.median(sampling) * 1000:.1f} ms per run "
        f"({100 * statistics.median(sampling) / statistics.median(whole_on):.2f} % of the run's wall time)"
    )
    print(
        f"energy here              : {last['energy_joules']} J"
        if last.get("energy_joules") is not None
        else f"energy here              : not measured ({last.get('energy_unavailable')})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, float(sys.argv[2]) if len(sys.argv) > 2 else 3.0)
