"""What reef adds to a notebook run: `reef run` against the `papermill` command, and in process.

`cli` (default): the trivial notebook of benchmarks/sweep.py (a parameter, one `reefnb.record` call) run by
`reef run FOLDER -p x N` and by `papermill main.ipynb out.ipynb -p x N`, both whole commands as a user types
them, in pairs whose order alternates, so the machine's changing load falls on both sides alike; the median
of the pairs' ratios and their spread (quartiles, min-max), with the load average beside them (issue 32: goal
<= 1.03x), and against papermill's command without the packages only jsonschema's format checker imports (which
the reef command goes without). `in-process`: `reefnb.run` against `papermill.execute_notebook` of solutions/hello-sweep
in this process (imports done), the same pairing.
With BASELINE_PYTHONPATH=FOLDER (a checkout of an earlier reefnb, e.g. `git archive REV reefnb | tar -x -C FOLDER`),
a fourth side: `reef run` importing reefnb from there, for before/after in the same pairs.
Run: .venv/bin/python benchmarks/run_overhead.py [cli|in-process] [PAIRS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sweep import trivial_solution

from reefnb.common.json_input import FORMAT_CHECKER_ONLY

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def summary(name: str, ratios: list[float]) -> str:
    ordered = sorted(ratios)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else ordered * 3
    return (
        f"{name}: median {statistics.median(ordered):.3f}x over {len(ordered)} pairs, quartiles "
        f"{quartiles[0]:.3f}-{quartiles[2]:.3f}, "
        f"min-max {ordered[0]:.3f}-{ordered[-1]:.3f}"
    )


def paired(functions: list, pairs: int) -> list[list[float]]:
    """Times of each of ``functions`` (called with the round's index)
    in ``pairs`` rounds, the order rotating from round to round."""
    times: list[list[float]] = [[] for _ in functions]
    for index in range(pairs):
        shift = index % len(functions)
        for position in list(range(len(functions)))[shift:] + list(range(len(functions)))[:shift]:
            started = time.perf_counter()
            functions[position](index)
            times[position].append(time.perf_counter() - started)
    return times


# papermill's own command without the packages that only jsonschema's format checker imports, as the reef command
# goes without them (rfc3987_syntax compiles lark grammars at import: about 2 s of CPU in every process that imports
# nbformat, so papermill's command as installed): what is left between the two sides is reef's own.
LEAN_PAPERMILL = (
    f"import sys; [sys.modules.setdefault(name, None) for name in {FORMAT_CHECKER_ONLY!r}]; from "
    "papermill.__main__ import papermill; papermill()"
)


def cli(pairs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = trivial_solution(Path(scratch) / "trivial")
        # Bytecode written as a user's Python writes it (this environment sets PYTHONDONTWRITEBYTECODE).
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env["REEF_HOME"] = str(Path(scratch) / "home")

        def command(arguments: list[str], **variables: str) -> None:
            subprocess.run(
                arguments,
                check=True,
                env={**env, **variables},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=scratch,
            )

        def papermill(index: int) -> None:
            command(
                [
                    str(BIN / "papermill"),
                    str(folder / "main.ipynb"),
                    str(Path(scratch) / f"out-{index}.ipynb"),
                    "-p",
                    "x",
                    str(index),
                    "--no-progress-bar",
                ]
            )

        def lean_papermill(index: int) -> None:
            output = str(Path(scratch) / f"lean-{index}.ipynb")
            command(
                [
                    sys.executable,
                    "-c",
                    LEAN_PAPERMILL,
                    str(folder / "main.ipynb"),
                    output,
                    "-p",
                    "x",
                    str(index),
                    "--no-progress-bar",
                ]
            )

        def reef(index: int) -> None:
            command(
                [str(BIN / "reef"), "run", str(folder), "-p", "x", str(index)]
            )  # stderr is no terminal: no progress bar

        sides = [papermill, lean_papermill, reef]
        baseline = os.environ.get(
            "BASELINE_PYTHONPATH"
        )  # another checkout's reefnb, run as a fourth side (before/after)
        if baseline:

            def reef_baseline(index: int) -> None:
                command([str(BIN / "reef"), "run", str(folder), "-p", "x", str(index)], PYTHONPATH=baseline)

            sides.append(reef_baseline)
        for side in sides:
            side(pairs)  # bytecode and caches warm for all
        before = load()
        bare, lean, ours, *older = paired(sides, pairs)
        after = load()
    if older:
        print(f"reef run at {baseline}: median {statistics.median(older[0]) * 1000:7.0f} ms")
        print(
            summary(
                "ratio reef run / the same at the baseline",
                [mine / theirs for mine, theirs in zip(ours, older[0], strict=True)],
            )
        )
        print(
            summary(
                "ratio baseline's reef run / papermill CLI",
                [mine / theirs for mine, theirs in zip(older[0], bare, strict=True)],
            )
        )
        print(
            summary(
                "ratio baseline's reef run / papermill CLI without those packages",
                [mine / theirs for mine, theirs in zip(older[0], lean, strict=True)],
            )
        )
    print(f"papermill CLI                  : median {statistics.median(bare) * 1000:7.0f} ms")
    print(f"papermill CLI, no format checker packages: median {statistics.median(lean) * 1000:7.0f} ms")
    print(f"reef run                       : median {statistics.median(ours) * 1000:7.0f} ms")
    print(f"({before}; after: {after})")
    print(summary("ratio reef run / papermill CLI", [mine / theirs for mine, theirs in zip(ours, bare, strict=True)]))
    print(
        summary(
            "ratio reef run / papermill CLI without the format checker's packages",
            [mine / theirs for mine, theirs in zip(ours, lean, strict=True)],
        )
    )


def in_process(pairs: int) -> None:
    import papermill

    import reefnb

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["REEF_HOME"] = str(Path(scratch) / "home")
        solution = Path(scratch) / "hello-sweep"
        shutil.copytree(REPO / "solutions" / "hello-sweep", solution, ignore=shutil.ignore_patterns("runs"))
        parameters = {"samples": 1000, "method": "random"}
        reefnb.run(solution, parameters=parameters)  # warm imports and caches for both

        def bare(index: int) -> None:
            output = str(Path(scratch) / f"bare-{index}.ipynb")
            papermill.execute_notebook(
                str(solution / "main.ipynb"), output, parameters=parameters, progress_bar=False, cwd=str(solution)
            )

        def reef(index: int) -> None:
            record = reefnb.run(solution, parameters=parameters)
            assert record["status"] == "ok", record["error"]

        before = load()
        times_bare, times_reef = paired([bare, reef], pairs)
        after = load()
    print(f"papermill.execute_notebook : median {statistics.median(times_bare) * 1000:7.1f} ms")
    print(f"reefnb.run                 : median {statistics.median(times_reef) * 1000:7.1f} ms")
    ratios = [mine / theirs for mine, theirs in zip(times_reef, times_bare, strict=True)]
    print(summary("ratio reefnb.run / execute_notebook", ratios) + f"  ({before}; after: {after})")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "cli"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else (20 if mode == "cli" else 10)
    {"cli": cli, "in-process": in_process}[mode](count)
