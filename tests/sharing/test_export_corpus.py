"""The corpus: notebooks in the styles of public repositories, each run -> export -> import -> reproduce.

Every notebook in ``tests/corpus/CASE/`` is copied to a temporary folder, run once (the recorded
run), exported as a package, and reproduced from the package in a new folder. The verdict of each
is asserted.

Where the reproduction runs: every case on this python's kernel (``--env native``), and a
representative subset of four in a new environment each (``--env new``: a fresh virtual environment
``NAME-reproduce`` with ipykernel, reefnb and the package's requirements pinned to its lock, as an
evaluator gets by default). The subset covers what a new environment can change: pinned third-party
distributions (handbook-pandas: pandas and numpy from the lock), a local helper module and a file
found only by tracing (helper-module), a file name built at run time (dynamic-file-name) and a
failing notebook whose reasons must survive (pm-broken). Twenty-three new environments would cost
about 10-20 s each here (uv, warm cache) for no new coverage: the rest stay native.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import reefnb
from reefnb.analysis.reproduce import reproduce
from reefnb.frontends.reproduce_text import report_lines
from reefnb.sharing.package import export_package

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"

# case: (verdict, error name when the rerun fails, cell index of the
# failure, files found statically, files found only by tracing)
EXPECTED = {
    "pm-simple": (REPRODUCED, None, None, [], []),
    "pm-complex-parameters": (REPRODUCED, None, None, [], []),
    "pm-sysexit0": (REPRODUCED, None, None, [], []),
    "pm-sysexit1": (NOT_REPRODUCED, "SystemExit", 1, [], []),
    "pm-broken": (NOT_REPRODUCED, "AssertionError", 4, [], []),
    "pm-line-magic-error": (NOT_REPRODUCED, "UsageError", 0, [], []),
    "magics": (REPRODUCED, None, None, [], []),
    "no-kernelspec": (REPRODUCED, None, None, [], []),
    "kernel-name-python": (REPRODUCED, None, None, [], []),
    "handbook-pandas": (REPRODUCED, None, None, ["data/births.csv"], []),
    "handbook-matplotlib": (
        REPRODUCED,
        None,
        None,
        [],
        [],
    ),  # its font list (~/.cache/matplotlib) is no input: no warning
    "os-path-join": (REPRODUCED, None, None, ["data/input.csv"], []),
    "pathlib-style": (REPRODUCED, None, None, ["config/settings.json", "data/raw/measurements.json"], []),
    "glob-shards": (REPRODUCED, None, None, ["shards/part-000.txt", "shards/part-001.txt", "shards/part-002.txt"], []),
    "numpy-load": (REPRODUCED, None, None, ["arrays/weights.npy"], []),
    "helper-module": (REPRODUCED, None, None, ["helpers.py"], ["tables/lookup.csv"]),
    "dynamic-file-name": (REPRODUCED, None, None, [], ["input.txt"]),
    "environment-variables": (REPRODUCED, None, None, [], []),
    "secret-in-output": (REPRODUCED, None, None, [], []),
    "reads-nothing": (REPRODUCED, None, None, [], []),
    "raises-in-helper": (NOT_REPRODUCED, "ValueError", 2, [], []),
    "absolute-path-parameter": (REPRODUCED, None, None, ["data/values.txt"], []),
    "outside-file": (NOT_REPRODUCED, "FileNotFoundError", 0, [], []),
}
# What each export warns about (every other case exports with no warning).
WARNINGS = {"outside-file": "shared-lookup.txt: read by the recorded run"}


def r_kernel() -> str | None:
    from jupyter_client.kernelspec import KernelSpecManager

    return next(
        (
            name
            for name, spec in KernelSpecManager().get_all_specs().items()
            if spec["spec"].get("language", "").lower() == "r"
        ),
        None,
    )


def prepare(case: str, work: Path) -> Path:
    """The case copied into ``work`` (``@CORPUS@`` in a notebook becomes the copy's absolute path); its notebook."""
    folder = work / case
    shutil.copytree(CORPUS / case, folder)
    for notebook in folder.glob("*.ipynb"):
        notebook.write_text(notebook.read_text().replace("@CORPUS@", str(folder)))
    if case == "outside-file":
        (work / "shared-lookup.txt").write_text("a b c\n")
    return next(folder.glob("*.ipynb"))


def run_case(case: str, work: Path) -> dict:
    """Run, export, import and reproduce one corpus notebook; what happened at each step, and how long it took."""
    notebook = prepare(case, work)
    record = reefnb.run(notebook)
    started = time.perf_counter()
    summary = export_package(notebook, work / f"{case}.reef.zip")
    exported = time.perf_counter() - started
    started = time.perf_counter()
    report = reproduce(
        summary["package"], trust=True, environment="native", folder=work / "reproduced" / case, store=True
    )
    return {
        "case": case,
        "record": record,
        "summary": summary,
        "report": report,
        "export_s": exported,
        "reproduce_s": time.perf_counter() - started,
    }


def pngs(notebook: dict) -> list[bytes]:
    """The PNG outputs of a notebook, decoded."""
    found = [
        output["data"]["image/png"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    return [base64.b64decode("".join(image)) for image in found]


def without_code(name: str, text: str) -> str:
    """A member's text without the notebooks' code (exported as written: a path the code holds stays)."""
    if not name.endswith(".ipynb"):
        return text

    def drop(value):
        if isinstance(value, dict):
            return {key: drop(item) for key, item in value.items() if key != "source"}
        return [drop(item) for item in value] if isinstance(value, list) else value

    return json.dumps(drop(json.loads(text)))


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_corpus_notebook_exports_and_reproduces(case, tmp_path, monkeypatch):
    monkeypatch.delenv("MY_SECRET", raising=False)
    monkeypatch.delenv("CORPUS_SCALE", raising=False)
    verdict, error_name, cell_index, static, traced = EXPECTED[case]
    result = run_case(case, tmp_path)
    summary, report = result["summary"], result["report"]
    assert report["verdict"] == verdict, json.dumps(report["experiments"], default=str)[:2000]
    assert sorted(name for name in summary["files"]["static"] if not name.endswith(".ipynb")) == static
    assert sorted(summary["files"]["traced"]) == traced
    assert [warning for warning in summary["warnings"] if WARNINGS.get(case, "-") not in warning] == []
    assert bool(summary["warnings"]) == (case in WARNINGS)
    with zipfile.ZipFile(summary["package"]) as archive:
        names = set(archive.namelist())
        texts = [without_code(name, archive.read(name).decode("utf-8", "replace")) for name in sorted(names)]
    assert set(static) | set(traced) <= names
    run_id = result["record"]["run_id"]  # an ok run is packed with its executed notebook
    assert (
        (f"results/{run_id}/notebook.ipynb" in names)
        == (result["record"]["status"] == "ok")
        == (summary["runs"] == [run_id])
    )
    assert not [
        text for text in texts if str(tmp_path) in text or str(Path.home()) in text
    ]  # no absolute or home path but in code
    if summary["runs"]:  # its images are the executed notebook's, valid PNGs (handbook-matplotlib: a matplotlib chart)
        with zipfile.ZipFile(summary["package"]) as archive:
            packed = pngs(json.loads(archive.read(f"results/{run_id}/notebook.ipynb")))
        assert packed == pngs(json.loads(Path(result["record"]["notebook"]["output_path"]).read_text()))
        assert all(Image.open(io.BytesIO(image)).format == "PNG" for image in packed)
        assert bool(packed) == (case == "handbook-matplotlib")
    if error_name:
        failed = [experiment for experiment in report["experiments"] if experiment["status"] != "ok"]
        assert failed, report
        error = failed[0]["error"]
        assert error["name"] == error_name and error["message"].strip()
        assert error["cell_index"] == cell_index
        assert error["cell_source"]  # the failing cell's first line, for the console and both reports
        lines = report_lines(report)
        assert any(error_name in line and f"cell {cell_index}" in line for line in lines), lines


NEW_ENVIRONMENT_CASES = ("handbook-pandas", "helper-module", "dynamic-file-name", "pm-broken")


@pytest.mark.usefixtures("private_jupyter")
@pytest.mark.parametrize("case", NEW_ENVIRONMENT_CASES)
def test_corpus_subset_reproduces_in_a_new_environment(case, tmp_path, monkeypatch):
    from reefnb.provision.envs import get_environment
    from reefnb.runs.store import default_store

    monkeypatch.delenv("MY_SECRET", raising=False)
    verdict, error_name, cell_index, _, _ = EXPECTED[case]
    notebook = prepare(case, tmp_path)
    assert reefnb.run(notebook)["status"] in ("ok", "failed")
    summary = export_package(notebook, tmp_path / f"{case}.reef.zip")
    report = reproduce(summary["package"], trust=True, environment="new", folder=tmp_path / "evaluator")
    assert report["verdict"] == verdict, json.dumps(report["experiments"], default=str)[:2000]
    environment = get_environment(f"{summary['solution'].split('@')[0]}-reproduce")
    for experiment in report["experiments"]:
        record = default_store().get(experiment["run_id"])
        assert record["environment"]["name"] == environment.name  # ran in the new environment, not on this python
        assert record["environment"]["kernel"] == environment.kernel
    if error_name:
        error = report["experiments"][0]["error"]
        assert error["name"] == error_name and error["cell_index"] == cell_index and error["cell_source"]
    if case == "handbook-pandas":  # the new environment holds the lock's versions
        with zipfile.ZipFile(summary["package"]) as archive:
            locked = json.loads(archive.read("reef.lock.json"))["packages"]
        from reefnb.provision.detection import environment_packages

        installed = environment_packages(environment.python, refresh=True)
        assert installed["pandas"] == locked["pandas"] and installed["numpy"] == locked["numpy"]


def test_corpus_has_twenty_notebooks_in_public_styles():
    notebooks = sorted(CORPUS.glob("*/*.ipynb"))
    assert len(notebooks) >= 20
    # shows-*: notebooks that record no metric, with deliberate breaks (tests/analysis/test_reproduce_outputs.py)
    assert {path.parent.name for path in notebooks if not path.parent.name.startswith("shows-")} - {
        "r-parameters"
    } == set(EXPECTED)


def test_corpus_r_notebook(tmp_path):
    kernel = r_kernel()
    if kernel is None:
        pytest.skip(
            "no Jupyter kernel for R is installed here (IRkernel); the R notebook's parameters are tested in "
            "test_papermill_parity.py"
        )
    notebook = prepare("r-parameters", tmp_path)
    record = reefnb.run(notebook, parameters={"alpha": 2.0}, kernel=kernel)
    assert record["status"] == "ok", record["error"]


def test_export_warnings_are_counted_and_strict_fails(tmp_path, capsys):
    from helpers.solutions import write_notebook

    from reefnb.frontends.cli import main

    notebook = write_notebook(
        tmp_path / "work" / "plots.ipynb",
        None,
        "try:\n    import reef_not_installed_anywhere\nexcept ImportError:\n    pass\nimport numpy\nimport "
        "reefnb\nreefnb.record('ok', 1)",
    )
    assert reefnb.run(notebook)["status"] == "ok"
    package = tmp_path / "plots.reef.zip"
    assert main(["export", str(notebook), "-o", str(package)]) == 0
    captured = capsys.readouterr()
    assert (
        "exported with 1 warning" in captured.out
        and "warning: plots.ipynb: import 'reef_not_installed_anywhere'" in captured.out
    )
    with zipfile.ZipFile(package) as archive:
        requirements = archive.read("requirements.txt").decode().split()
    assert "reef-not-installed-anywhere" in requirements and any(line.startswith("numpy==") for line in requirements)
    assert main(["export", str(notebook), "-o", str(package), "--strict"]) == 1


def test_reproduce_warns_before_running_when_a_file_the_run_read_is_missing(tmp_path, caplog):
    result = run_case("dynamic-file-name", tmp_path)
    folder = Path(result["report"]["folder"])
    (folder / "input.txt").unlink()
    report = reproduce(folder, environment="native", report=tmp_path / "again.json")
    assert report["missing_files"] == ["input.txt"]
    assert any("input.txt: read by the recorded run, missing here" in message for message in caplog.messages)
    experiment = report["experiments"][0]
    assert experiment["error"]["name"] == "FileNotFoundError" and experiment["missing_files"] == ["input.txt"]
    lines = report_lines(report)
    assert any(
        "FileNotFoundError" in line and "cell 1" in line and "with open(name) as handle:" in line for line in lines
    )
    assert any("missing here: input.txt" in line for line in lines)
    assert "Why:" in Path(report["html_report"]).read_text()
