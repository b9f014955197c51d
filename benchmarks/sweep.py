"""16 runs of a trivial notebook: `reef sweep --jobs 2` against a sequential loop of `papermill` calls.

Both are whole commands, as a user would type them; the ratio is reef's wall time over the
loop's (the goal is at most 0.55 on 2 cores). A second `reef sweep` of the same grid shows
the resumable case (every run already recorded ok).
Run: .venv/bin/python benchmarks/sweep.py [RUNS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent


def trivial_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("x = 0")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell("import reefnb\nreefnb.record('square', x * x)")]
    nbformat.write(notebook, path)


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(runs: int = 16) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "trivial"
        folder.mkdir()
        trivial_notebook(folder / "main.ipynb")
        (folder / "solution.json").write_text(json.dumps({"name": "trivial", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}))
        env = {**os.environ, "REEF_HOME": str(Path(scratch) / "home")}
        values = [str(value) for value in range(runs)]

        started = time.perf_counter()
        for value in values:
            subprocess.run(
                [str(BIN / "papermill"), str(folder / "main.ipynb"), str(Path(scratch) / f"out-{value}.ipynb"), "-p", "x", value, "--no-progress-bar"],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        loop = time.perf_counter() - started

        sweep = timed([str(BIN / "reef"), "sweep", str(folder), "--jobs", "2", "-p", "x", *values], env)
        again = timed([str(BIN / "reef"), "sweep", str(folder), "--jobs", "2", "-p", "x", *values], env)
        one_job = timed([str(BIN / "reef"), "sweep", str(folder), "--jobs", "1", "--rerun", "-p", "x", *values], env)

    print(f"papermill CLI loop, {runs} runs : {loop:6.1f} s ({loop / runs:.2f} s a run)")
    print(f"reef sweep --jobs 2, {runs} runs: {sweep:6.1f} s ({sweep / runs:.2f} s a run)")
    print(f"reef sweep --jobs 1, {runs} runs: {one_job:6.1f} s (kernel start overlapped with the run before)")
    print(f"reef sweep again (all skipped) : {again:6.1f} s")
    print(f"ratio sweep --jobs 2 / loop    : {sweep / loop:.2f}  (goal <= 0.55)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
