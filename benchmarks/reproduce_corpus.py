"""The corpus of notebooks that record no metric, reproduced as an evaluator would, with deliberate breaks.

Each ``tests/corpus/shows-*`` notebook is run once (the author's run), exported, imported into a fresh
folder and reproduced on this python's kernel, unbroken, then once per break made in the evaluator's copy
(a data value, the seed, a removed file, the package version the author's record names). Printed: one
Markdown row per reproduction (outputs compared, volatile masked, the verdict, the first thing it named)
and the time the output comparison took (the part of ``reef reproduce`` this adds per compared notebook,
against the whole reproduction's time in the same process).
Run: .venv/bin/python benchmarks/reproduce_corpus.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"


def _change_data(folder: Path) -> str:
    data = folder / "data" / "state-areas.csv"
    data.write_text(data.read_text().replace("Ohio,OH,44828", "Ohio,OH,5"))
    return "Ohio's area set to 5 in data/state-areas.csv"


def _remove_data(folder: Path) -> str:
    (folder / "data" / "state-areas.csv").unlink()
    return "data/state-areas.csv removed"


def _change_seed(folder: Path) -> str:
    notebook = folder / "simulation.ipynb"
    notebook.write_text(notebook.read_text().replace("default_rng(2024)", "default_rng(7)"))
    return "seed 2024 -> 7 in cell 2"


def _older_package(folder: Path) -> str:
    from reefnb.sharing.package import package_records, recorded_notebook

    [record] = package_records(folder)
    recorded = recorded_notebook(folder, record["run_id"])
    recorded.write_text(re.sub(r"tqdm \d+\.\d+[^\"\\]*", "tqdm 4.0.0", recorded.read_text()))
    record["environment"]["packages"]["tqdm"] = "4.0.0"
    (folder / "results" / f"{record['run_id']}.json").write_text(json.dumps(record))
    return "the author's run made with tqdm 4.0.0"


CASES = {
    "shows-table-chart": ("density.ipynb", [_change_data, _remove_data]),
    "shows-seeded-numbers": ("simulation.ipynb", [_change_seed]),
    "shows-widgets-volatile": ("widgets.ipynb", [_older_package]),
    "shows-nothing": ("quiet.ipynb", []),
}


def _said(report: dict) -> str:
    """The first thing the report names: an output's difference, a missing file, an error, or nothing."""
    experiment = report["experiments"][0]
    differences = (experiment.get("outputs") or {}).get("differences") or []
    parts = []
    if differences:
        parts.append(differences[0]["first"])
    if experiment.get("error"):
        parts.append(f"{experiment['error']['name']} in cell {experiment['error'].get('cell_index')}")
    inputs = experiment.get("input_differences") or {}
    parts += [f"{path}: {change}" for path, change in (inputs.get("files") or {}).items()]
    if inputs.get("code_cells"):
        parts.append(f"code cell {', '.join(map(str, inputs['code_cells']))} changed")
    packages = (experiment.get("environment_differences") or {}).get("packages") or {}
    parts += [f"environment: {name} {before} -> {after}" for name, (before, after) in packages.items()]
    return "; ".join(parts) or "-"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="reproduce-corpus-"))
    os.environ["REEF_HOME"] = str(work / "reef-home")
    import reefnb
    from reefnb.analysis.reproduce import reproduce
    from reefnb.sharing.package import export_package, import_package

    rows, comparing, whole = [], [], []
    try:
        for case, (name, breaks) in CASES.items():
            shutil.copytree(CORPUS / case, work / case)
            assert reefnb.run(work / case / name)["status"] == "ok"
            package = export_package(work / case / name, work / f"{case}.reef.zip")["package"]
            for index, breaking in enumerate([None, *breaks]):
                folder = import_package(package, work / f"{case}-{index}")
                what = breaking(folder) if breaking else "none"
                started = time.perf_counter()
                report = reproduce(folder, environment="native", report=work / f"{case}-{index}.json")
                whole.append(time.perf_counter() - started)
                outputs = report["experiments"][0].get("outputs") or {"compared": 0, "volatile": 0, "seconds": 0.0}
                comparing.append(outputs.get("seconds", 0.0))
                rows.append(
                    f"| {case} | {outputs['compared']} | {outputs['volatile']} | {what} | "
                    f"{report['verdict'].upper()} | {_said(report)} |"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| notebook | outputs compared | volatile masked | break | verdict | what reproduce said |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    ordered = sorted(comparing)
    print(
        f"output comparison per reproduced notebook: median {ordered[len(ordered) // 2] * 1000:.1f} ms, max "
        f"{max(ordered) * 1000:.0f} ms "
        "(the first includes importing nbdime/scikit-image); whole reproduction median "
        f"{sorted(whole)[len(whole) // 2]:.2f} s"
    )


if __name__ == "__main__":
    main()
