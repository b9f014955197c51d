"""How long the `reef` verbs that need no kernel take to answer, and what they import.

For `reef --version`, `reef detect` (warm: its cache current), `reef ls`, `reef results`, `reef export` and
`reef rm`, in a fresh REEF_HOME holding one initialised solution (a copy of solutions/hello-sweep, `--native`)
with one recorded run: the median wall time of REPEATS runs of `python -m reefnb VERB` (taken in turns, verb after
verb, so that a change of the machine's load touches every verb alike), the time `-X importtime` counts for its
imports, how many modules it imports, and which of the heavy ones (papermill, nbformat, jsonschema, nbclient,
pandas, numpy, ...) it loads. Then warm `reef detect` against `reef --version` as a ratio (the issue asks for
under 0.3 s and within 4x).

Run: .venv/bin/python benchmarks/cli_imports.py [REPEATS]
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

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("papermill", "nbformat", "nbclient", "jupyter_client", "jsonschema", "lark", "arrow", "pandas", "numpy", "tornado", "altair")
HEAVY += ("psutil", "packaging", "sqlite3", "yaml", "git", "rocrate", "detect_secrets")


def reef(home: Path, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    environment = {**os.environ, "REEF_HOME": str(home)}
    done = subprocess.run([sys.executable, *flags, "-m", "reefnb", *args], capture_output=True, text=True, env=environment, cwd=home.parent)
    if done.returncode != 0:
        raise SystemExit(f"reef {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done


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


def main(repeats: int = 7) -> None:
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch, "reef-home")
        solution = Path(scratch, "hello-sweep")
        shutil.copytree(ROOT / "solutions" / "hello-sweep", solution, ignore=shutil.ignore_patterns("runs"))
        reef(home, "init", str(solution), "--native")
        reef(home, "run", str(solution), "-p", "samples", "100")
        reef(home, "detect")  # the cache is current from here on: the timings below are warm
        verbs = {
            "--version": ["--version"],
            "detect": ["detect"],
            "ls": ["ls"],
            "results": ["results", "--solution", "hello-sweep"],
            "export": ["export", str(solution), "-o", str(Path(scratch, "hello.reef.zip"))],
        }
        times: dict[str, list[float]] = {verb: [] for verb in verbs}
        for _ in range(repeats):
            for verb, args in verbs.items():
                started = time.perf_counter()
                reef(home, *args)
                times[verb].append(time.perf_counter() - started)
        found = {verb: imports(reef(home, *args, importtime=True).stderr) for verb, args in verbs.items()}
        started = time.perf_counter()  # rm last, once: it forgets the solution
        reef(home, "rm", "hello-sweep")
        rm_time = time.perf_counter() - started
        reef(home, "init", str(solution), "--native")
        found["rm"] = imports(reef(home, "rm", "hello-sweep", importtime=True).stderr)
        times["rm"] = [rm_time]
    print(f"{'verb':<10} {'wall (median)':>14} {'imports':>9} {'modules':>8}  heavy modules imported")
    for verb, (seconds, names) in found.items():
        heavy = ", ".join(name for name in HEAVY if name in names) or "-"
        print(f"{verb:<10} {statistics.median(times[verb]):12.3f} s {seconds:7.3f} s {len(names):8d}  {heavy}")
    detect, version = statistics.median(times["detect"]), statistics.median(times["--version"])
    print(f"warm reef detect {detect:.3f} s = {detect / version:.1f}x reef --version ({version:.3f} s); goal: under 0.3 s and 4x")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
