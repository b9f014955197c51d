"""What recording the files a run reads costs: reef's audit hook (``reefnb.runs.engine.FILE_AUDIT_CODE``) on and off.

Two measurements:
1. In a fresh interpreter, the same workload with the hook installed and without: opening and reading
   small files (every ``open`` reaches the hook), ``np.load`` of small arrays, imports of fresh modules,
   and a compute loop that raises no audit event. Each is timed in its own process (an audit hook
   cannot be removed once added); the best of REPEATS.
2. ``reefnb.run`` of a notebook that reads 2,000 files, with ``trace_files`` on (``reef run``'s
   default) and off (``reef run --no-trace-files``, and every sweep): the median of REPEATS runs.
Run: .venv/bin/python benchmarks/trace_files.py [REPEATS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {
    "open+read 20,000 small files": """
for index in range(20000):
    with open(files[index % len(files)], "rb") as handle:
        handle.read()
""",
    "np.load 5,000 small arrays": """
import numpy
for index in range(5000):
    numpy.load(arrays[index % len(arrays)])
""",
    "import 300 fresh modules": """
import importlib
sys.path.insert(0, modules)
for index in range(300):
    importlib.import_module(f"fresh_{index}")
""",
    "compute loop (no audit event)": """
total = 0
for index in range(3_000_000):
    total += index * index
""",
}

SCRIPT = """
import sys, time, json
files, arrays, modules = json.loads(sys.argv[1])
from reefnb.runs.engine import FILE_AUDIT_CODE  # imported both ways, so that only the hook differs
if sys.argv[2] == "on":
    exec(FILE_AUDIT_CODE)
started = time.perf_counter()
{workload}
print(time.perf_counter() - started)
"""


def _fixtures(folder: Path) -> tuple[list[str], list[str], str]:
    import numpy

    files = []
    for index in range(200):
        path = folder / f"file-{index}.txt"
        path.write_text(f"{index}\n" * 10)
        files.append(str(path))
    arrays = []
    for index in range(50):
        path = folder / f"array-{index}.npy"
        numpy.save(path, numpy.arange(16) * index)
        arrays.append(str(path))
    modules = folder / "modules"
    modules.mkdir()
    for index in range(300):
        (modules / f"fresh_{index}.py").write_text(f"VALUE = {index}\n")
    return files, arrays, str(modules)


def _in_process(fixtures: str, workload: str, repeats: int) -> tuple[float, float]:
    """Best times (hook off, hook on), the two interleaved so that a busy moment hits both."""
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(repeats):
        for mode in times:
            result = subprocess.run(
                [sys.executable, "-B", "-c", SCRIPT.format(workload=workload), fixtures, mode],
                capture_output=True,
                text=True,
                check=True,
            )
            times[mode].append(float(result.stdout.strip()))
    return min(times["off"]), min(times["on"])


def _end_to_end(scratch: Path, files: list[str], repeats: int) -> tuple[float, float, int]:
    import nbformat

    import reefnb

    folder = scratch / "reader"
    folder.mkdir()
    for index in range(2000):
        (folder / f"part-{index:04d}.txt").write_text(f"{index}\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import glob, reefnb\ntotal = 0\nfor name in sorted(glob.glob('part-*.txt')):\n"
            "    with open(name) as handle:\n        total += int(handle.read())\n"
            "reefnb.record('total', total)"
        )
    ]
    path = folder / "reader.ipynb"
    nbformat.write(notebook, path)
    reefnb.run(path, trace_files=False)  # warm caches
    on, off, traced = [], [], 0
    for _ in range(repeats):
        for flag, times in ((True, on), (False, off)):
            started = time.perf_counter()
            record = reefnb.run(path, trace_files=flag, telemetry=False)
            times.append(time.perf_counter() - started)
            assert record["status"] == "ok", record["error"]
            if flag:
                traced = len(record.get("files_read") or [])
            else:
                assert "files_read" not in record
    return statistics.median(on), statistics.median(off), traced


def main(repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["REEF_HOME"] = str(scratch / "home")
        files, arrays, modules = _fixtures(scratch)
        fixtures = json.dumps([files, arrays, modules])
        print(
            f"{'workload (fresh interpreter, best of ' + str(repeats) + ')':<44} {'hook off':>10} "
            f"{'hook on':>10} {'cost':>8}"
        )
        for name, workload in WORKLOADS.items():
            off, on = _in_process(fixtures, workload, repeats)
            print(f"{name:<44} {off * 1000:8.1f}ms {on * 1000:8.1f}ms {100 * (on - off) / off:+7.1f}%")
        on, off, traced = _end_to_end(scratch, files, repeats)
        print(
            f"reefnb.run reading 2,000 files (median of {repeats}): trace_files on {on * 1000:.0f} ms "
            f"({traced} files recorded), off {off * 1000:.0f} ms: {1000 * (on - off):+.0f} ms per run"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
