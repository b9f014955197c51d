"""Declaring a notebook's dependencies: metadata.reef, solution.json, checks, atomic writes, the CLI verbs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import nbformat
import pytest
from helpers.cli import call
from helpers.solutions import write_notebook, write_solution

import reefnb
from reefnb.common.exceptions import ManifestError, ReefError
from reefnb.provision.declare import (
    artifact_spec,
    declare_artifact,
    declare_packages,
    declare_tools,
    format_json,
    notebook_declarations,
    parse_tool,
    running_notebook,
    solution_of,
)

SHA = hashlib.sha256(b"rows\n").hexdigest()


def manifest(folder) -> dict:
    return json.loads((folder / "solution.json").read_text())


def test_packages_go_to_the_notebook_and_its_solution_and_replace_by_name(hello):
    notebook = hello / "main.ipynb"
    cells_before = nbformat.read(notebook, as_version=4).cells
    declaration = declare_packages(["numpy>=1.20", "reef-no-such-package>=1"], notebook=notebook)
    assert declaration.manifest == (hello / "solution.json").resolve()
    assert sorted(declaration.changed) == sorted([str(notebook.resolve()), str(declaration.manifest)])
    statuses = {check.name: check.status for check in declaration.checks}
    assert statuses == {"numpy": "found", "reef-no-such-package": "missing"}
    [warning] = declaration.as_dict()["warnings"]
    assert warning.startswith("reef-no-such-package>=1: not installed in this python") and "%pip install" in warning

    assert notebook_declarations(notebook) == {"requires": {"packages": ["numpy>=1.20", "reef-no-such-package>=1"]}}
    assert manifest(hello)["requires"] == {"python": ">=3.10", "packages": ["numpy>=1.20", "reef-no-such-package>=1"]}
    assert nbformat.read(notebook, as_version=4).cells == cells_before  # only the metadata changed
    reefnb.load_solution(hello)  # still valid

    # The same package again replaces its spec, in place (canonical names: NumPy == numpy).
    declare_packages(["NumPy>=1.24"], notebook=notebook)
    assert notebook_declarations(notebook)["requires"]["packages"] == ["NumPy>=1.24", "reef-no-such-package>=1"]
    assert manifest(hello)["requires"]["packages"] == ["NumPy>=1.24", "reef-no-such-package>=1"]

    # Declaring what is there already rewrites nothing (an open editor is not disturbed).
    stamps = [os.stat(path).st_mtime_ns for path in (notebook, hello / "solution.json")]
    again = declare_packages(["NumPy>=1.24"], notebook=notebook)
    assert again.changed == [] and [os.stat(path).st_mtime_ns for path in (notebook, hello / "solution.json")] == stamps

    removed = declare_packages(["reef-no-such-package"], notebook=notebook, remove=True)
    assert removed.removed and removed.checks == []
    assert manifest(hello)["requires"]["packages"] == ["NumPy>=1.24"]
    declare_packages(["numpy"], notebook=notebook, remove=True)
    assert notebook_declarations(notebook) == {}
    assert manifest(hello)["requires"] == {"python": ">=3.10"}
    assert not list(hello.glob(".*.tmp"))


def test_a_notebook_outside_any_solution_keeps_its_declarations_alone(tmp_path):
    notebook = write_notebook(tmp_path / "analysis" / "scratch.ipynb", None, "x = 1")
    # a solution.json beside it that does not use this notebook is not its solution
    write_solution(
        tmp_path / "analysis" / "other",
        {"name": "other", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
    )
    shutil.copy(tmp_path / "analysis" / "other" / "solution.json", tmp_path / "analysis" / "solution.json")
    before = (tmp_path / "analysis" / "solution.json").read_text()
    declaration = declare_packages(["packaging"], notebook=notebook)
    assert declaration.manifest is None and declaration.changed == [str(notebook.resolve())]
    assert (tmp_path / "analysis" / "solution.json").read_text() == before
    assert notebook_declarations(notebook) == {"requires": {"packages": ["packaging"]}}


def test_the_solution_is_found_above_the_notebook(tmp_path):
    folder = tmp_path / "solution"
    write_notebook(folder / "notebooks" / "train.ipynb", "x = 1")
    (folder / "solution.json").write_text(
        json.dumps({"name": "deep", "version": "1.0.0", "workflows": {"run": {"notebook": "notebooks/train.ipynb"}}})
    )
    assert solution_of(folder / "notebooks" / "train.ipynb") == (folder / "solution.json").resolve()
    declare_tools(["git"], notebook=folder / "notebooks" / "train.ipynb")
    assert manifest(folder)["requires"] == {"tools": [{"name": "git"}]}


def test_tools_are_checked_on_path_and_unknown_ones_refused(hello):
    assert parse_tool("gcc>=9") == {"name": "gcc", "version": ">=9"}
    assert parse_tool("g++ >= 10, <14") == {"name": "g++", "version": ">=10,<14"}
    assert parse_tool("git") == {"name": "git"}
    for bad in ("gcc 9", ">=9", "gcc>=nine"):
        with pytest.raises(ReefError, match="reef tool"):
            parse_tool(bad)
    declaration = declare_tools(["git>=1", "git>=999"], solution=hello)  # the later one replaces the first
    assert declaration.notebook is None
    assert manifest(hello)["requires"]["tools"] == [{"name": "git", "version": ">=999"}]
    [check, *_] = declaration.checks
    assert check.name == "git" and check.found and declaration.unmet
    before = (hello / "solution.json").read_text()
    with pytest.raises(ReefError, match="reef knows no tool 'fortran-9000'"):
        declare_tools(["fortran-9000"], solution=hello)
    assert (hello / "solution.json").read_text() == before


def test_artifacts_are_validated_before_anything_is_written(hello):
    notebook = hello / "main.ipynb"
    spec = artifact_spec(
        ["https://a.example/rows.csv", "https://b.example/rows.csv"], SHA.upper(), size=5, license="CC0-1.0"
    )
    assert spec == {
        "kind": "dataset",
        "urls": ["https://a.example/rows.csv", "https://b.example/rows.csv"],
        "sha256": SHA,
        "size": 5,
        "license": "CC0-1.0",
    }
    declaration = declare_artifact("rows", spec, notebook=notebook)
    [check] = declaration.checks
    assert check.kind == "artifact" and check.status == "missing" and not declaration.unmet
    assert manifest(hello)["artifacts"] == {"rows": spec}
    assert notebook_declarations(notebook)["artifacts"] == {"rows": spec}
    reefnb.load_solution(hello)

    files = {path: path.read_bytes() for path in (notebook, hello / "solution.json")}
    for name, bad, expected in [
        ("rows", artifact_spec(["ftp://x.example/rows.csv"], SHA), "only http, https and file URLs"),
        ("rows", artifact_spec(["https://x.example/rows.csv"], "abc"), "is not a sha256"),
        ("rows", {**artifact_spec(["https://x.example/r"], SHA), "size": -1}, "/artifacts/rows/size"),
        ("../up", artifact_spec(["https://x.example/r"], SHA), "not a valid artifact name"),
    ]:
        with pytest.raises(ReefError, match=expected):
            declare_artifact(name, bad, notebook=notebook)
    assert {path: path.read_bytes() for path in files} == files


def test_an_invalid_manifest_is_reported_and_nothing_is_written(hello):
    data = manifest(hello)
    data["workflows"]["run"]["parameters"]["batch"] = 3  # not a variable of the parameters cell
    (hello / "solution.json").write_text(json.dumps(data))
    files = {path: path.read_bytes() for path in (hello / "main.ipynb", hello / "solution.json")}
    with pytest.raises(ManifestError) as caught:
        declare_packages(["numpy"], notebook=hello / "main.ipynb")
    assert "/workflows/run/parameters/batch" in caught.value.problems[0]
    assert {path: path.read_bytes() for path in files} == files
    (hello / "solution.json").write_text("{not json")
    with pytest.raises(ManifestError, match="invalid JSON"):
        declare_packages(["numpy"], notebook=hello / "main.ipynb")
    assert (hello / "main.ipynb").read_bytes() == files[hello / "main.ipynb"]


def test_bad_input_names_the_problem(tmp_path):
    notebook = write_notebook(tmp_path / "n.ipynb", None, "x = 1")
    with pytest.raises(ReefError, match="is not a PEP 508 requirement"):
        declare_packages(["numpy>>1"], notebook=notebook)
    with pytest.raises(ReefError, match="notebook not found"):
        declare_packages(["numpy"], notebook=tmp_path / "missing.ipynb")
    (tmp_path / "broken.ipynb").write_text("{")
    with pytest.raises(ReefError, match=r"broken.ipynb: not a notebook \(not JSON\)"):
        declare_packages(["numpy"], notebook=tmp_path / "broken.ipynb")
    with pytest.raises(ReefError, match="--notebook PATH"):
        declare_packages(["numpy"])


def test_write_keeps_the_file_mode_and_json_stays_readable(hello):
    os.chmod(hello / "solution.json", 0o640)
    declare_packages(["packaging"], solution=hello)
    assert os.stat(hello / "solution.json").st_mode & 0o777 == 0o640
    text = (hello / "solution.json").read_text()
    assert (
        '"requires": {"python": ">=3.10", "packages": ["numpy>=1.24", "packaging"]}' in text
    )  # short parts stay on one line
    assert json.loads(format_json(json.loads(text))) == json.loads(text)


def test_running_notebook_comes_from_the_front_end(tmp_path):
    notebook = write_notebook(tmp_path / "server-root" / "project" / "nb.ipynb", None, "x = 1")
    folder = notebook.parent
    assert running_notebook({}, {}, folder) is None
    assert running_notebook({}, {"JPY_SESSION_NAME": str(notebook)}, folder) == notebook
    # a path relative to the server's root, the kernel started in the notebook's folder
    assert running_notebook({}, {"JPY_SESSION_NAME": "project/nb.ipynb"}, folder) == notebook.resolve()
    assert running_notebook({"__session__": "project/nb.ipynb"}, {}, folder) == notebook.resolve()
    assert running_notebook({"__vsc_ipynb_file__": str(notebook)}, {}, folder) == notebook
    assert running_notebook({}, {"JPY_SESSION_NAME": "console-1"}, folder) is None  # a console, not a notebook


def test_cli_verbs_declare_and_print_what_they_did(hello):
    notebook = str(hello / "main.ipynb")
    code, out, err = call("require", "numpy>=1.24", "reef-no-such-package", "--notebook", notebook)
    assert code == 0, err
    assert (
        out.splitlines()[0]
        == f"declared in {hello.resolve() / 'main.ipynb'} (metadata.reef) and {hello.resolve() / 'solution.json'}"
    )
    assert "found    package  numpy" in out and "missing  package  reef-no-such-package" in out
    assert "warning: reef-no-such-package: not installed" in out

    code, out, _ = call("tool", "git", "--solution", str(hello), "--json")
    result = json.loads(out)
    assert code == 0 and result["notebook"] is None and result["checks"][0]["status"] == "found"

    code, out, _ = call(
        "artifact", "rows", "file:rows.csv", "--sha256", SHA, "--size", "5", "--unpack", "--notebook", notebook
    )
    assert code == 0 and "missing  artifact rows" in out
    assert manifest(hello)["artifacts"]["rows"] == {
        "kind": "dataset",
        "url": "file:rows.csv",
        "sha256": SHA,
        "size": 5,
        "unpack": True,
    }

    code, _, err = call("require", "numpy")
    assert code == 2 and "--notebook PATH" in err and len(err.strip().splitlines()) == 1
    code, _, err = call("artifact", "rows", "https://x.example/r")
    assert code == 2 and "--sha256" in err
    code, _, err = call("require", "numpy>>1", "--notebook", notebook)
    assert code == 2 and "is not a PEP 508 requirement" in err
    code, out, _ = call("validate", str(hello))
    assert code == 0
