"""``reef export --external NAME=PATH``: a file outside the solution, named by an absolute path parameter,
travels as an artifact the evaluator supplies (its sha256 and size in the manifest, never its bytes), and
``reef reproduce --artifact NAME=PATH`` takes the evaluator's copy, wherever it lives, after checking its sha256."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.common.paths import reef_home
from reefnb.frontends.cli import main
from reefnb.provision.artifacts import ArtifactError, artifact_status
from reefnb.sharing.sources import init

CONTENT = "3\n5\n8\n"


@pytest.fixture
def exported(tmp_path):
    """A notebook whose parameter names a file outside its folder, run once, and its data file."""
    data = tmp_path / "exporter-disk" / "measurements" / "values.csv"
    data.parent.mkdir(parents=True)
    data.write_text(CONTENT)
    notebook = write_notebook(
        tmp_path / "work" / "totals.ipynb",
        f"data_file = {str(data)!r}",
        "with open(data_file) as handle:\n    total = sum(int(line) for line in handle)",
        "import reefnb\nreefnb.record('total', total)",
    )
    record = reefnb.run(notebook)
    assert record["status"] == "ok", record["error"]
    return notebook, data


def test_external_file_is_an_artifact_the_evaluator_supplies(exported, tmp_path, capsys):
    notebook, data = exported
    package = tmp_path / "totals.reef.zip"
    assert main(["export", str(notebook), "-o", str(package)]) == 2  # refused as is, and told how to go on
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"--external values={data}" in error and "'data_file'" in error
    assert not package.exists()

    assert main(["export", str(notebook), "-o", str(package), "--external", f"values={data}"]) == 0
    out = capsys.readouterr().out
    assert "warning" not in out  # the run read the file, and it is declared: nothing left to warn about
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("solution.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
    artifact = manifest["artifacts"]["values"]
    assert artifact["supplied"] is True and artifact["path"] == "external/values/values.csv"
    assert artifact["sha256"] == hashlib.sha256(CONTENT.encode()).hexdigest() and artifact["size"] == len(CONTENT)
    assert "url" not in artifact and "urls" not in artifact
    assert manifest["workflows"]["run"]["parameters"]["data_file"] == "external/values/values.csv"
    assert str(data.parent) not in json.dumps(manifest)
    assert not any(name.endswith("values.csv") for name in members)  # the bytes stay with the exporter
    [record] = [
        json.loads(content)
        for name, content in members.items()
        if name.startswith("results/") and name.endswith(".json")
    ]
    assert record["files_read"] == ["external/values/values.csv"]  # read where the evaluator's copy goes

    elsewhere = tmp_path / "evaluator-disk" / "copy-of-values.csv"  # another machine: the file lives somewhere else
    elsewhere.parent.mkdir()
    shutil.move(data, elsewhere)
    reproduce = ["reproduce", str(package), "--trust", "--env", "native"]

    assert main([*reproduce, "--folder", str(tmp_path / "first")]) == 2  # not supplied: one line that says what to type
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--artifact values=/path/to/values.csv" in error and "sha256 " in error

    wrong = tmp_path / "evaluator-disk" / "other.csv"
    wrong.write_text("3\n5\n9\n")
    assert main([*reproduce, "--folder", str(tmp_path / "second"), "--artifact", f"values={wrong}"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert hashlib.sha256(b"3\n5\n9\n").hexdigest() in error and artifact["sha256"] in error  # both digests
    assert "not the file" in error
    assert main([*reproduce, "--artifact", f"values={wrong}"]) == 2  # into $REEF_HOME/reproductions: nothing left there
    capsys.readouterr()
    reproductions = reef_home() / "reproductions"
    assert not reproductions.exists() or not any(reproductions.iterdir())

    folder = tmp_path / "third"
    assert main([*reproduce, "--folder", str(folder), "--artifact", f"values={elsewhere}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "reproduced"
    assert report["experiments"][0]["metrics"]["total"]["got"] == 16
    assert report["missing_files"] == []  # the supplied file is where the run read it
    assert "parameters" not in report["experiments"][0].get(
        "input_differences", {}
    )  # the default export rewrote is no difference
    placed = folder / "external" / "values" / "values.csv"
    assert placed.read_text() == CONTENT and placed.resolve() != elsewhere.resolve()  # a verified copy, in the cache

    again = tmp_path / "fourth"  # the cache now has it: a second reproduction needs no --artifact
    assert main([*reproduce, "--folder", str(again), "--json"]) == 0
    capsys.readouterr()
    assert (again / "external" / "values" / "values.csv").read_text() == CONTENT


def test_reef_init_takes_the_supplied_file_or_says_how(exported, tmp_path):
    notebook, data = exported
    package = tmp_path / "totals.reef.zip"
    reefnb.export_package(notebook, package, external={"values": data})
    folder = reefnb.import_package(package, tmp_path / "imported")
    manifest = folder / "solution.json"
    specs = json.loads(manifest.read_text())["artifacts"]
    status = artifact_status("values", specs, manifest_path=manifest)
    assert status["status"] == "missing" and "--artifact values=/path/to/values.csv" in status["detail"]
    with pytest.raises(reefnb.ReefError, match=r"--artifact values=/path/to/values.csv"):
        init(folder, native=True, yes=True)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("nope\n")
    with pytest.raises(ArtifactError, match="not the file the solution was made with"):
        init(folder, native=True, yes=True, artifacts=[f"values={wrong}"])
    assert not (folder / "external").exists()
    lock = init(folder, native=True, yes=True, artifacts=[f"values={data}"])
    assert lock["artifacts"]["values"]["sha256"] == specs["values"]["sha256"]
    assert (folder / "external" / "values" / "values.csv").read_text() == CONTENT


def test_external_refusals_are_one_line(exported, tmp_path):
    notebook, data = exported
    package = tmp_path / "x.reef.zip"
    with pytest.raises(reefnb.ReefError, match="no such file"):
        reefnb.export_package(notebook, package, external={"values": tmp_path / "absent.csv"})
    inside = notebook.parent / "local.csv"
    inside.write_text("1\n")
    with pytest.raises(reefnb.ReefError, match="inside the solution folder"):
        reefnb.export_package(notebook, package, external={"values": inside})
    with pytest.raises(reefnb.ReefError, match="NAME may hold"):
        reefnb.export_package(notebook, package, external={"../up": data})
    assert not package.exists()


def test_an_external_file_no_parameter_names_is_a_warning(tmp_path):
    data = tmp_path / "elsewhere" / "table.txt"
    data.parent.mkdir()
    data.write_text("x\n")
    notebook = write_notebook(
        tmp_path / "work" / "fixed.ipynb",
        None,
        f"text = open({str(data)!r}).read()",
        "import reefnb\nreefnb.record('n', len(text))",
    )
    assert reefnb.run(notebook)["status"] == "ok"
    summary = reefnb.export_package(notebook, tmp_path / "fixed.reef.zip", external={"table": Path(data)})
    assert [
        warning
        for warning in summary["warnings"]
        if "no parameter names" in warning and "make the path a parameter" in warning
    ]
    assert not [warning for warning in summary["warnings"] if "read by the recorded run but outside" in warning]
