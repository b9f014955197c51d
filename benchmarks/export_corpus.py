"""The corpus (tests/corpus): how many notebooks export and reproduce with no manual edit, and how long each takes.

Each notebook is copied to a temporary folder, run once, exported, and reproduced from its package on
this python's kernel (as tests/sharing/test_export_corpus.py does). Prints one row per notebook: files found
statically and only by tracing, warnings, the verdict, the export and reproduce times.

    .venv/bin/python benchmarks/export_corpus.py [--markdown]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reef-corpus-") as folder:
        os.environ["REEF_HOME"] = str(Path(folder) / "home")  # before reefnb reads it: the runs go to a private store
        sys.path[:0] = [str(TESTS), str(TESTS / "sharing")]  # tests/helpers, and the test module
        from test_export_corpus import EXPECTED, run_case  # the same steps as the test

        rows = []
        for case in sorted(EXPECTED):
            work = Path(folder) / "work"
            work.mkdir(exist_ok=True)
            try:
                result = run_case(case, work)
            except Exception as error:  # a notebook the pipeline cannot take: counted, not fatal
                rows.append([case, "-", "-", "-", f"export failed: {error}", "-", "-"])
                continue
            summary, report = result["summary"], result["report"]
            static = [name for name in summary["files"]["static"] if not name.endswith(".ipynb")]
            rows.append(
                [
                    case,
                    len(static),
                    len(summary["files"]["traced"]),
                    len(summary["warnings"]),
                    report["verdict"],
                    f"{result['export_s']:.2f}",
                    f"{result['reproduce_s']:.2f}",
                ]
            )
    header = ["notebook", "files (static)", "files (traced only)", "warnings", "verdict", "export s", "reproduce s"]
    if arguments.markdown:
        print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
        print("\n".join("| " + " | ".join(map(str, row)) + " |" for row in rows))
    else:
        widths = [max(len(str(row[index])) for row in [header, *rows]) for index in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)))
    exported = sum(not str(row[4]).startswith("export failed") for row in rows)
    reproduced = sum(row[4] == "reproduced" for row in rows)
    can = sum(verdict == "reproduced" for verdict, *_ in EXPECTED.values())
    print(
        f"\n{len(rows)} notebooks: {exported} exported with no manual edit, {reproduced} reproduced "
        f"({can} can: the others raise, exit non-zero, need a module not installed here, or read a file "
        "outside their folder)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
