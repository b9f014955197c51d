"""How long `reef detect` takes: cold (empty detection cache) and warm (cache current).

Measures ``reefnb.provision.detection.detect()`` in this process, the same call in a fresh python process
(``python -c "import reefnb.provision.detection as d; d.detect()"``, close to the command), and ``reef detect``
itself when the ``reef`` script sits next to this python. Medians of REPEATS runs each.
Then the time of creating the same environment (ipykernel + numpy) with uv and with pip, as a
ratio; it needs the package index or a warm cache. Skip it with REEF_BENCH_NO_ENVS=1.
Run: .venv/bin/python benchmarks/detect.py [REPEATS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def median_ms(action: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def report(label: str, cold: float, warm: float) -> None:
    print(f"{label:<24} cold: {cold:7.1f} ms, warm: {warm:6.1f} ms, ratio warm/cold {warm / cold:.2f}")


def main(repeats: int = 5) -> None:
    from reefnb.provision import detection as detect

    with tempfile.TemporaryDirectory() as scratch:
        homes = iter(Path(scratch, f"home-{index}") for index in range(10 * repeats))

        def fresh_home() -> None:
            os.environ["REEF_HOME"] = str(next(homes))

        cold = median_ms(detect.detect, repeats, before=fresh_home)
        warm = median_ms(detect.detect, repeats)
        report("detect() in-process", cold, warm)

        def command_timing(command: list[str]) -> tuple[float, float]:
            def run() -> None:
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())

            return median_ms(run, repeats, before=fresh_home), median_ms(run, repeats)

        report(
            "python -c detect()",
            *command_timing([sys.executable, "-c", "import reefnb.provision.detection as d; d.detect()"]),
        )
        reef = Path(sys.executable).with_name("reef")
        if reef.exists():
            report("reef detect", *command_timing([str(reef), "detect"]))
        baseline = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeats)
        print(f"{'(python -c pass)':<24} {baseline:7.1f} ms: the interpreter's own start")
        if not os.environ.get("REEF_BENCH_NO_ENVS"):
            environment_creation(Path(scratch))


def environment_creation(scratch: Path) -> None:
    """Create the same environment with each installer; print both times and their ratio."""
    from reefnb.provision.envs import create_environment, installer

    os.environ["REEF_HOME"] = str(scratch / "envs-home")
    os.environ["JUPYTER_DATA_DIR"] = str(scratch / "jupyter")
    timings = {}
    for tool in ("uv", "pip"):
        os.environ["REEF_INSTALLER"] = tool
        if installer() != tool:
            print(f"env create with {tool}: not available here")
            continue
        started = time.perf_counter()
        create_environment(f"bench-{tool}", ["numpy"])
        timings[tool] = time.perf_counter() - started
        print(f"env create with {tool:<3}: {timings[tool]:6.1f} s (ipykernel + numpy + reefnb, kernel registered)")
    os.environ.pop("REEF_INSTALLER", None)
    if len(timings) == 2:
        print(f"ratio uv/pip: {timings['uv'] / timings['pip']:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
