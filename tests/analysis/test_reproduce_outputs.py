"""Reproducing notebooks that record no metric: their outputs are the results, compared cell by cell.

The corpus cases ``tests/corpus/shows-*`` are notebooks as people write them (a table, a printed mean,
a chart, widgets, lines that differ on every run, a notebook that shows nothing). Each is run once (the
recorded run) and exported; the evaluator imports the package, may break one thing in their copy (a data
value, the seed, a file, the package version the author used) and reproduces on this python's kernel.
Every break must give NOT REPRODUCED naming the cell, the missing file or the environment's difference;
an unbroken copy REPRODUCED with the number of outputs compared; a notebook that shows nothing NOTHING
COMPARED and no badge.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import pytest

import reefnb
from reefnb.analysis.reproduce import reproduce
from reefnb.frontends.cli import main
from reefnb.frontends.reproduce_text import report_lines
from reefnb.sharing.package import export_package, import_package, package_records, recorded_notebook

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = {
    "shows-table-chart": "density.ipynb",
    "shows-seeded-numbers": "simulation.ipynb",
    "shows-widgets-volatile": "widgets.ipynb",
    "shows-nothing": "quiet.ipynb",
}
pytest.importorskip("matplotlib")  # the table-and-chart case draws with it, as the pandas notebooks it stands for do


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """Each case run once on this python's kernel (the author's run) and exported: case -> package."""
    work = tmp_path_factory.mktemp("authors")
    made = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REEF_HOME", str(work / "reef-home"))
        for case, name in CASES.items():
            shutil.copytree(CORPUS / case, work / case)
            record = reefnb.run(work / case / name)
            assert record["status"] == "ok", record.get("error")
            made[case] = Path(export_package(work / case / name, work / f"{case}.reef.zip")["package"])
    return made


def evaluator_copy(package: Path, tmp_path: Path) -> Path:
    """The package imported as an evaluator would (``reef import``), to change things in."""
    return import_package(package, tmp_path / "evaluator")


def last_line(report: dict) -> str:
    return report_lines(report)[-1]


def differences(report: dict) -> list[dict]:
    return [
        difference
        for experiment in report["experiments"]
        for difference in (experiment["outputs"] or {}).get("differences", [])
    ]


def test_a_table_a_mean_and_a_chart_reproduce_and_say_how_much_was_compared(packages, tmp_path):
    report = reproduce(packages["shows-table-chart"], trust=True, environment="native", folder=tmp_path / "evaluator")
    assert report["verdict"] == "reproduced", json.dumps(report["experiments"], default=str)[:3000]
    outputs = report["experiments"][0]["outputs"]
    kinds = {
        (output["cell"], output["kind"])
        for cell in outputs["cells"]
        for output in cell.get("outputs", [])
        if output.get("verdict") == "same"
    }
    kinds = {kind for _, kind in kinds}
    assert {"table", "stream", "image/png"} <= kinds, outputs["cells"]  # the density table, the printed mean, the chart
    assert outputs["compared"] >= 4 and outputs["volatile"] >= 1  # the object's address and datetime.now()
    assert "Results Reproduced" in report["badges"]
    assert re.fullmatch(
        r"density@0\.1\.0: REPRODUCED \(0 metrics, \d+ outputs compared, \d+ volatile ignored\); report: .+",
        last_line(report),
    )


def test_the_package_keeps_the_recorded_notebook_with_valid_pngs(packages, tmp_path):
    from PIL import Image

    folder = evaluator_copy(packages["shows-table-chart"], tmp_path)
    [record] = package_records(folder)
    notebook = json.loads(recorded_notebook(folder, record["run_id"]).read_text())
    images = [
        output["data"]["image/png"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 1
    data = "".join(images[0]) if isinstance(images[0], list) else images[0]
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100


def test_a_changed_data_value_is_not_reproduced_and_names_the_cell_and_the_file(packages, tmp_path):
    folder = evaluator_copy(packages["shows-table-chart"], tmp_path)
    data = folder / "data" / "state-areas.csv"
    data.write_text(data.read_text().replace("Ohio,OH,44828", "Ohio,OH,5"))
    report = reproduce(folder, environment="native", report=tmp_path / "report.json")
    assert report["verdict"] == "not reproduced"
    found = differences(report)
    assert found[0]["cell"] == 3 and found[0]["kind"] == "table" and "Ohio" in found[0]["first"], found
    assert {difference["cell"] for difference in found} >= {3, 4, 5}  # the table, the mean and the chart
    experiment = report["experiments"][0]
    assert experiment["input_differences"]["files"] == {"data/state-areas.csv": "sha256 differs"}
    assert "environment_differences" in experiment  # shown beside every difference, even when empty
    lines = report_lines(report)
    assert any(line.startswith("  output differs: cell 3") and "Ohio" in line for line in lines), lines
    assert any("input: data/state-areas.csv: sha256 differs" in line for line in lines), lines
    assert last_line(report).startswith("density@0.1.0: NOT REPRODUCED (0 metrics, ")
    assert "Results Reproduced" not in report["badges"]
    page = Path(report["html_report"]).read_text()
    assert "Ohio" in page and "state-areas.csv" in page and "NOT REPRODUCED" in page


def test_a_removed_file_is_named(packages, tmp_path):
    folder = evaluator_copy(packages["shows-table-chart"], tmp_path)
    (folder / "data" / "state-areas.csv").unlink()
    report = reproduce(folder, environment="native", report=tmp_path / "report.json")
    assert report["verdict"] == "not reproduced" and report["missing_files"] == ["data/state-areas.csv"]
    experiment = report["experiments"][0]
    assert experiment["error"]["name"] == "FileNotFoundError" and experiment["error"]["cell_index"] == 2
    assert experiment["input_differences"]["files"] == {"data/state-areas.csv": "missing here"}
    assert any("missing here: data/state-areas.csv" in line for line in report_lines(report))


def test_a_changed_seed_is_not_reproduced_and_the_changed_cell_is_named(packages, tmp_path):
    folder = evaluator_copy(packages["shows-seeded-numbers"], tmp_path)
    notebook = folder / "simulation.ipynb"
    notebook.write_text(notebook.read_text().replace("default_rng(2024)", "default_rng(7)"))
    report = reproduce(folder, environment="native", report=tmp_path / "report.json")
    assert report["verdict"] == "not reproduced"
    found = differences(report)
    assert found[0]["cell"] == 4 and "estimate" in found[0]["first"], found
    assert report["experiments"][0]["input_differences"]["code_cells"] == [2]
    assert any("input: code cell 2 changed since the recorded run" in line for line in report_lines(report))


def test_the_seeded_numbers_reproduce_with_timings_and_progress_masked(packages, tmp_path):
    report = reproduce(
        packages["shows-seeded-numbers"], trust=True, environment="native", folder=tmp_path / "evaluator"
    )
    assert report["verdict"] == "reproduced", json.dumps(differences(report))[:2000]
    assert report["outputs"]["compared"] >= 2 and report["outputs"]["volatile"] >= 1  # %%time's lines (and tqdm's bar)
    assert "input_differences" not in report["experiments"][0]


def test_widgets_json_and_volatile_lines_reproduce(packages, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    arguments = [
        "reproduce",
        str(packages["shows-widgets-volatile"]),
        "--trust",
        "--env",
        "native",
        "--folder",
        str(tmp_path / "evaluator"),
        "--json",
    ]
    code = main(arguments, out=out, err=err)
    report = json.loads(out.getvalue())
    assert code == 0 and report["verdict"] == "reproduced", json.dumps(differences(report))[:2000] + err.getvalue()
    assert report["outputs"]["volatile"] >= 2  # the scratch folder, the process id and time, %time's line
    cells = report["experiments"][0]["outputs"]["cells"]  # --json carries the comparison cell by cell
    assert any(
        output["kind"] == "json" and output["verdict"] == "same" for cell in cells for output in cell.get("outputs", [])
    )


def test_a_different_package_version_is_not_reproduced_and_the_environment_says_why(packages, tmp_path):
    """The author's run as if made with tqdm 4.0.0: its printed version and its record say so (the evaluator's
    copy is changed, since this machine has one tqdm); the rerun prints this machine's version."""
    folder = evaluator_copy(packages["shows-widgets-volatile"], tmp_path)
    [record] = package_records(folder)
    recorded = recorded_notebook(folder, record["run_id"])
    recorded.write_text(re.sub(r"tqdm \d+\.\d+[^\"\\]*", "tqdm 4.0.0", recorded.read_text()))
    record["environment"]["packages"]["tqdm"] = "4.0.0"
    (folder / "results" / f"{record['run_id']}.json").write_text(json.dumps(record))
    report = reproduce(folder, environment="native", report=tmp_path / "report.json")
    assert report["verdict"] == "not reproduced"
    found = differences(report)
    assert [difference["cell"] for difference in found] == [4] and "4.0.0" in found[0]["first"]
    assert report["experiments"][0]["environment_differences"]["packages"]["tqdm"][0] == "4.0.0"
    assert any(line.startswith("  environment packages differs: tqdm 4.0.0 -> ") for line in report_lines(report))


def test_a_notebook_that_shows_nothing_compares_nothing_and_earns_no_badge(packages, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "reproduce",
            str(packages["shows-nothing"]),
            "--trust",
            "--env",
            "native",
            "--folder",
            str(tmp_path / "evaluator"),
        ],
        out=out,
        err=err,
    )
    assert code == 1, out.getvalue() + err.getvalue()
    text = out.getvalue().splitlines()
    assert text[-1].startswith("quiet@0.1.0: NOTHING COMPARED (0 metrics, 0 outputs compared, 0 volatile ignored)"), (
        text
    )
    report = json.loads((tmp_path / "evaluator" / "reproduce-report.json").read_text())
    assert report["verdict"] == "nothing compared" and "Results Reproduced" not in report["badges"]
    assert report["badges"] == ["Artifacts Evaluated - Functional"]  # it ran
