"""Export throughput and memory: `reef export` of a solution with one incompressible file, against `sha256sum` + `cp`.

A minimal solution (a notebook, its manifest) with a MEGABYTES MB random file included (``--include``), exported
with reefnb.sharing.package.export_package in a child process (its own wall time around the call, and its peak
resident memory from the kernel, ru_maxrss), against `sha256sum FILE` then `cp FILE COPY` (the least an export must
do: read the bytes, hash them, write them). The two sides run alternately, ROUNDS times; printed: each round's
ratio, the median ratio and the spread (lowest-highest), the peak memory, how the big member was stored, and the
load average before and after.
Goals (issue 32): <= 2x, peak memory <= 150 MB whatever the file size, the random file stored (not deflated).
Run: .venv/bin/python benchmarks/export.py [MEGABYTES] [ROUNDS]
(default 350, 5; PYTHONPATH=OLD_CHECKOUT measures another version)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from reefnb.runs.store import Store
from reefnb.sharing.package import export_package
folder = Path(sys.argv[1])
start = time.perf_counter()
store = Store(folder / "results.sqlite")
export_package(folder / "solution", folder / "out.reef.zip", include=[folder / "weights.bin"], store=store)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak}))
"""

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "a1", "metadata": {}, "outputs": [], "source": "print(1)"}
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 350
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data = folder / "weights.bin"
        with open(data, "wb") as out:
            for _ in range(megabytes):
                out.write(os.urandom(1 << 20))
        solution = folder / "solution"
        solution.mkdir()
        (solution / "solution.json").write_text(
            json.dumps({"name": "big", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
        )
        (solution / "main.ipynb").write_text(json.dumps(NOTEBOOK))

        def baseline() -> float:
            start = time.perf_counter()
            subprocess.run(["sha256sum", str(data)], check=True, capture_output=True)
            subprocess.run(["cp", str(data), str(folder / "copy.bin")], check=True)
            return time.perf_counter() - start

        def export() -> dict:
            (folder / "out.reef.zip").unlink(missing_ok=True)
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(folder)], cwd=folder, check=True, capture_output=True, text=True
            )
            return json.loads(done.stdout.strip().splitlines()[-1])

        print(f"load before: {load()}")
        export()  # warm the page cache and the imports once
        ratios, peaks = [], []
        for index in range(rounds):
            if index % 2:
                ours = export()
                theirs = baseline()
            else:
                theirs = baseline()
                ours = export()
            ratios.append(ours["seconds"] / theirs)
            peaks.append(ours["peak_mb"])
            print(
                f"round {index + 1}: export {ours['seconds']:.2f} s (peak {ours['peak_mb']:.0f} MB); sha256sum "
                f"+ cp {theirs:.2f} s; ratio {ratios[-1]:.2f}x"
            )
        with zipfile.ZipFile(folder / "out.reef.zip") as archive:
            big = [info for info in archive.infolist() if info.file_size > 1 << 20]
            kinds = {
                info.filename: "stored" if info.compress_type == zipfile.ZIP_STORED else "deflated" for info in big
            }
        print(
            f"{megabytes} MB random file: export / (sha256sum + cp) median {statistics.median(ratios):.2f}x "
            f"(spread {min(ratios):.2f}-{max(ratios):.2f}x, {rounds} alternating rounds); peak memory "
            f"{max(peaks):.0f} MB; "
            f"big members: {kinds}; load after: {load()}"
        )


if __name__ == "__main__":
    main()
