"""How long the `reef` verbs that need no kernel take to answer and what they import, optionally against an old reefnb.

For `reef --version`, `reef detect` (warm: its cache current), `reef ls`, `reef results`, `reef export` and
`reef rm`, in a fresh REEF_HOME holding one initialised solution (a copy of solutions/hello-sweep, `--native`)
with one recorded run: the median wall time and CPU time (user + system) of REPEATS runs of
`python -m reefnb VERB`, the time `-X importtime` counts for its imports, how many modules it imports, and which
heavy ones (papermill, nbformat, jsonschema, pandas, numpy, ...) it loads. Then warm `reef detect` against
`reef --version` (the issue asks for under 0.3 s and within 4x).

With `--before TREE` (a folder holding an older `reefnb/`, e.g. `git archive COMMIT reefnb | tar -x -C TREE`) every
run is made twice in turn, this tree's and TREE's (through PYTHONPATH), so that the load of the machine touches both
alike. Both trees are byte-compiled first (this environment sets PYTHONDONTWRITEBYTECODE, as an installed package
would not). The CPU time is the steadier figure on a loaded machine.

Run: .venv/bin/python benchmarks/cli_imports.py [REPEATS] [--before TREE]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "papermill",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "jsonschema",
    "lark",
    "arrow",
    "pandas",
    "numpy",
    "tornado",
    "altair",
)
HEAVY += ("psutil", "packaging", "sqlite3", "yaml", "git", "rocrate", "detect_secrets")


def reef(
    home: Path, tree: Path | None, *args: str, importtime: bool = False
) -> tuple[subprocess.CompletedProcess, float, float]:
    """One `python -m reefnb ARGS` (of ``tree`` when given): the process, its wall time and its CPU time."""
    flags = ["-X", "importtime"] if importtime else []
    environment = {**os.environ, "REEF_HOME": str(home)}
    if tree is not None:
        environment["PYTHONPATH"] = str(tree)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    cwd = home.parent / "cwd"  # no hello-sweep folder here: `--solution hello-sweep` names the initialised solution
    cwd.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, *flags, "-m", "reefnb", *args], capture_output=True, text=True, env=environment, cwd=cwd
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"reef {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done, wall, (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)


def imports(stderr: str) -> tuple[float, set[str]]:
    """The import time ``-X importtime`` counts (the sum of the top-level imports' cumulative times) and the modules."""
    total, names = 0, set()
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header
        names.add(parts[2].strip())
        if len(parts[2]) - len(parts[2].lstrip()) == 1:  # one space: a top-level import
            total += int(parts[1])
    return total / 1e6, names


def measure(scratch: Path, trees: dict[str, Path | None], repeats: int) -> dict:
    """Per tree and verb: wall and CPU times of each run, and (import seconds, modules) of one -X importtime run. Each
    tree has its own REEF_HOME, its solution initialised and one run recorded by its own code (stores differ)."""
    solution = scratch / "hello-sweep"
    shutil.copytree(ROOT / "solutions" / "hello-sweep", solution, ignore=shutil.ignore_patterns("runs"))
    homes = {name: scratch / f"reef-home-{name}" for name in trees}
    for name, tree in trees.items():
        reef(homes[name], tree, "init", str(solution), "--native")
        reef(homes[name], tree, "run", str(solution), "-p", "samples", "100")
        reef(homes[name], tree, "detect")  # the detection cache is current from here on: the timings below are warm
    verbs = {
        "--version": ["--version"],
        "detect": ["detect"],
        "ls": ["ls"],
        "results": ["results", "--solution", "hello-sweep"],
        "export": ["export", str(solution), "-o", str(scratch / "hello.reef.zip")],
    }
    found = {name: {verb: {"wall": [], "cpu": []} for verb in [*verbs, "rm"]} for name in trees}
    for _ in range(repeats):
        for verb, args in verbs.items():
            for name, tree in trees.items():
                _, wall, cpu = reef(homes[name], tree, *args)
                found[name][verb]["wall"].append(wall)
                found[name][verb]["cpu"].append(cpu)
    for name, tree in trees.items():
        for verb, args in verbs.items():
            found[name][verb]["imports"] = imports(reef(homes[name], tree, *args, importtime=True)[0].stderr)
        for importtime in (False, True):  # rm forgets the solution: init it again before each
            reef(homes[name], tree, "init", str(solution), "--native")
            done, wall, cpu = reef(homes[name], tree, "rm", "hello-sweep", importtime=importtime)
            if importtime:
                found[name]["rm"]["imports"] = imports(done.stderr)
            else:
                found[name]["rm"]["wall"].append(wall)
                found[name]["rm"]["cpu"].append(cpu)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repeats", nargs="?", type=int, default=7)
    parser.add_argument("--before", type=Path, help="a folder holding an older reefnb/ to compare with")
    options = parser.parse_args()
    trees: dict[str, Path | None] = {"now": None}
    if options.before:
        trees["before"] = options.before.resolve()
    for tree in [ROOT, *(tree for tree in trees.values() if tree)]:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(tree / "reefnb")], check=True, stdout=subprocess.DEVNULL
        )
    print(f"load: {' '.join(f'{value:.2f}' for value in os.getloadavg())} (1, 5, 15 min), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as scratch:
        found = measure(Path(scratch), trees, options.repeats)
    print(f"{'tree':<7} {'verb':<10} {'wall':>8} {'cpu':>8} {'imports':>8} {'modules':>8}  heavy modules imported")
    for verb in found["now"]:
        for name in trees:
            result = found[name][verb]
            seconds, names = result["imports"]
            heavy = ", ".join(module for module in HEAVY if module in names) or "-"
            wall, cpu = statistics.median(result["wall"]), statistics.median(result["cpu"])
            print(f"{name:<7} {verb:<10} {wall:6.3f} s {cpu:6.3f} s {seconds:6.3f} s {len(names):8d}  {heavy}")
    for name in trees:
        times = found[name]
        detect, version = (
            statistics.median(times[verb][kind]) for verb in ("detect", "--version") for kind in ("wall",)
        )
        cpu_detect, cpu_version = (statistics.median(times[verb]["cpu"]) for verb in ("detect", "--version"))
        print(
            f"{name}: warm reef detect {detect:.3f} s wall = {detect / version:.1f}x reef --version ({version:.3f} s); "
            f"CPU {cpu_detect:.3f} s = {cpu_detect / cpu_version:.1f}x ({cpu_version:.3f} s); goal: under 0.3 s and 4x"
        )
    print(f"load after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
