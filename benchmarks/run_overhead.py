"""What reef adds to a notebook run: `reefnb.run` against a bare `papermill.execute_notebook`.

Both execute solutions/hello-sweep's notebook with the same parameters, in this process, on a
fresh kernel each time; the ratio is reef's overhead (fingerprint, record, store, provenance).
Run: .venv/bin/python benchmarks/run_overhead.py [REPEATS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(repeats: int = 5) -> None:
    import papermill

    import reefnb

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["REEF_HOME"] = str(Path(scratch) / "home")
        solution = Path(scratch) / "hello-sweep"
        shutil.copytree(REPO / "solutions" / "hello-sweep", solution, ignore=shutil.ignore_patterns("runs"))
        parameters = {"samples": 1000, "method": "random"}
        bare, reef = [], []
        reefnb.run(solution, parameters=parameters)  # warm imports and caches for both
        for index in range(repeats):
            started = time.perf_counter()
            papermill.execute_notebook(
                str(solution / "main.ipynb"), str(Path(scratch) / f"bare-{index}.ipynb"), parameters=parameters, progress_bar=False, cwd=str(solution)
            )
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            record = reefnb.run(solution, parameters=parameters)
            reef.append(time.perf_counter() - started)
            assert record["status"] == "ok", record["error"]
    bare_median, reef_median = statistics.median(bare), statistics.median(reef)
    print(f"papermill alone : median {bare_median * 1000:7.1f} ms over {repeats} runs")
    print(f"reefnb.run      : median {reef_median * 1000:7.1f} ms over {repeats} runs")
    print(f"ratio reef/bare : {reef_median / bare_median:.2f}  (overhead {1000 * (reef_median - bare_median):.0f} ms per run)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
