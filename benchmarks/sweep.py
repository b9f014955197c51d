"""16 runs of a trivial notebook: `reef sweep --jobs 2` against a shell loop of `papermill` commands.

Both are whole commands, as a user would type them, in pairs whose order alternates, so the machine's changing
load falls on both sides alike; printed: the median of the pairs' ratios (sweep wall / loop wall) and their
spread, how many cores each side kept busy on average (the CPU time of the command and everything it started and
waited for, over its wall time: 2.0 is both cores all the time), and the load average before and after (issue
32: goal <= 0.20 with both cores busy). Then once: a second `reef sweep` of the same grid (every run recorded ok,
all skipped) and `--jobs 1`. With BASELINE_PYTHONPATH=FOLDER (a checkout of an earlier reefnb), that reefnb's sweep is
a third side, in the same rounds (the order rotating), for before/after.
Run: .venv/bin/python benchmarks/sweep.py [PAIRS] [RUNS]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
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


def trivial_solution(folder: Path) -> Path:
    folder.mkdir()
    trivial_notebook(folder / "main.ipynb")
    (folder / "solution.json").write_text(
        json.dumps({"name": "trivial", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
    )
    return folder


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: list[list[str]], env: dict) -> tuple[float, float]:
    """Wall time of the commands one after another, and the cores they kept busy on average."""
    cpu, started = children_cpu(), time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return wall, (children_cpu() - cpu) / wall


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def spread(values: list[float], digits: int = 3) -> str:
    ordered = sorted(values)
    low, _, high = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else ordered * 3
    median, lowest, highest = statistics.median(ordered), ordered[0], ordered[-1]
    return (
        f"median {median:.{digits}f}, quartiles {low:.{digits}f}-{high:.{digits}f}, min-max "
        f"{lowest:.{digits}f}-{highest:.{digits}f}"
    )


def main(pairs: int = 5, runs: int = 16) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = trivial_solution(Path(scratch) / "trivial")
        # Bytecode written as a user's Python writes it (this environment sets PYTHONDONTWRITEBYTECODE).
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["REEF_HOME"] = str(Path(scratch) / "home")
        values = [str(value) for value in range(runs)]
        loop = [
            [
                str(BIN / "papermill"),
                str(folder / "main.ipynb"),
                str(Path(scratch) / f"out-{value}.ipynb"),
                "-p",
                "x",
                value,
                "--no-progress-bar",
            ]
            for value in values
        ]
        sweep = [[str(BIN / "reef"), "sweep", str(folder), "--jobs", "2", "--rerun", "-p", "x", *values]]
        order = [("loop", loop, env), ("sweep", sweep, env)]
        baseline = os.environ.get("BASELINE_PYTHONPATH")  # another checkout's reefnb: its sweep as a third side
        if baseline:
            order.append(("baseline", sweep, {**env, "PYTHONPATH": baseline}))
        for _, commands, variables in order:
            timed(commands[:1], variables)  # bytecode and caches warm for every side
        before = load()
        sides: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in order}
        for index in range(pairs):
            shift = index % len(order)
            for name, commands, variables in order[shift:] + order[:shift]:
                sides[name].append(timed(commands, variables))
        after = load()
        again = timed([[str(BIN / "reef"), "sweep", str(folder), "--jobs", "2", "-p", "x", *values]], env)[0]
        one_job = timed([[str(BIN / "reef"), "sweep", str(folder), "--jobs", "1", "--rerun", "-p", "x", *values]], env)

    loop_walls, sweep_walls = [wall for wall, _ in sides["loop"]], [wall for wall, _ in sides["sweep"]]
    print(
        f"papermill loop, {runs} runs   : wall {spread(loop_walls, 1)} s; cores busy "
        f"{spread([cores for _, cores in sides['loop']], 2)}"
    )
    print(
        f"reef sweep --jobs 2, {runs} runs: wall {spread(sweep_walls, 1)} s; cores busy "
        f"{spread([cores for _, cores in sides['sweep']], 2)}"
    )
    print(
        f"reef sweep --jobs 1, {runs} runs: {one_job[0]:.1f} s, cores busy {one_job[1]:.2f} (kernel start "
        "overlapped with the run before)"
    )
    print(f"reef sweep again (all skipped) : {again:.1f} s")
    ratios = [mine / theirs for mine, theirs in zip(sweep_walls, loop_walls, strict=True)]
    print(f"ratio sweep --jobs 2 / loop, {pairs} pairs: {spread(ratios)}  (goal <= 0.20; {before}; after: {after})")
    if "baseline" in sides:
        older = [wall for wall, _ in sides["baseline"]]
        print(
            f"baseline's sweep --jobs 2: wall {spread(older, 1)} s; cores busy "
            f"{spread([cores for _, cores in sides['baseline']], 2)}"
        )
        print(
            "ratio baseline's sweep / loop: "
            f"{spread([mine / theirs for mine, theirs in zip(older, loop_walls, strict=True)])}"
        )
        print(
            "ratio sweep / baseline's sweep: "
            f"{spread([mine / theirs for mine, theirs in zip(sweep_walls, older, strict=True)])}"
        )


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:3]))
