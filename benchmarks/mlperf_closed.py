"""How long a closed-division ``reef mlperf submission --short`` takes (issue 30): the toy closed benchmark of the
tests (tests/data/mlperf-closed-toy, yolo-95, Offline), each time on a fresh copy with a fresh REEF_HOME (three runs:
performance and accuracy, TEST01, TEST04, on reef's own kernel), then again reusing every run. Fresh and reused
alternate; the load average is printed beside each figure (the machine is shared).
Run: .venv/bin/python benchmarks/mlperf_closed.py [REPEATS]   (default 3)
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOY = REPO / "tests" / "data" / "mlperf-closed-toy"
SYSTEM = {
    **{name: "N/A" for name in ("host_processor_interconnect", "host_networking", "host_networking_topology")},
    **{
        "system_name": "benchmark machine",
        "status": "available",
        "system_type": "edge",
        "system_type_detail": "virtual machine",
    },
    **{
        "cooling": "air",
        "hw_notes": "",
        "sw_notes": "",
        "host_storage_type": "SSD",
        "host_memory_configuration": "unknown",
    },
}


def submit(folder: Path, output: Path) -> tuple[float, dict]:
    """One ``reef mlperf submission --division closed --short`` in this process: its wall time and JSON result."""
    from reefnb.frontends.cli import main

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    command = [
        str(folder),
        "-o",
        str(output),
        "--submitter",
        "bench",
        "--division",
        "closed",
        "--system",
        str(folder.parent / "system.json"),
    ]
    code = main(["mlperf", "submission", *command, "--short", "--kernel", "python3", "--json"], out=out, err=err)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the submission failed (exit {code}): {err.getvalue().strip()}")
    return wall, json.loads(out.getvalue())


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="mlperf-closed-") as scratch:
        for repeat in range(repeats):
            root = Path(scratch) / str(repeat)
            folder = root / TOY.name
            shutil.copytree(TOY, folder, ignore=shutil.ignore_patterns("runs", "__pycache__"))
            (root / "system.json").write_text(json.dumps(SYSTEM))
            os.environ["REEF_HOME"] = str(root / "reef-home")
            for kind in ("fresh", "reused"):
                load = os.getloadavg()[0]
                wall, result = submit(folder, root / kind)
                runs = {
                    run_id
                    for scenario in result["scenarios"]
                    for run_id in (scenario["performance_run"], *(t["run"] for t in scenario["compliance"]))
                }
                print(
                    f"{kind:6s} {wall:5.1f} s  ({len(runs)} runs {'reused' if kind == 'reused' else 'run'}, "
                    f"load {load:.1f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
