"""The typed parameter contract: annotations and comments of the parameters cell become a JSON Schema."""

from __future__ import annotations

import copy
import io
import json

import jsonschema
import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.common.exceptions import NotebookError
from reefnb.frontends.cli import main
from reefnb.solution.notebook import (
    notebook_digest,
    notebook_language,
    notebook_parameters,
    parameters_schema,
    read_notebook,
)

CELL = """from typing import Annotated, Literal

batch: int = 1  # images per query
backend: Literal["tf", "tflite"] = "tf"  # which runtime
threads: Annotated[int, range(1, 65)] = 4
ratio: Annotated[float, (0.0, 1.0)] = 0.5  # a fraction
scale = 2.5
names = ["a", "b"]
label = f"run-{batch}"
"""


def schema_of(path):
    return parameters_schema(notebook_parameters(read_notebook(path)))


def test_annotations_and_comments_become_a_json_schema(tmp_path):
    notebook = write_notebook(tmp_path / "typed.ipynb", CELL, "print(batch)")
    schema = schema_of(notebook)
    jsonschema.Draft202012Validator.check_schema(schema)
    properties = schema["properties"]
    assert properties["batch"] == {"type": "integer", "default": 1, "description": "images per query"}
    assert properties["backend"] == {
        "type": "string",
        "enum": ["tf", "tflite"],
        "default": "tf",
        "description": "which runtime",
    }
    assert properties["threads"] == {"type": "integer", "minimum": 1, "maximum": 64, "default": 4}
    assert properties["ratio"]["minimum"] == 0.0 and properties["ratio"]["maximum"] == 1.0
    assert properties["scale"] == {"type": "number", "default": 2.5}
    assert properties["names"] == {"type": "array", "default": ["a", "b"]}
    assert "default" not in properties["label"] and "type" not in properties["label"]  # not a literal
    assert schema["additionalProperties"] is False
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"batch": 8, "backend": "tflite", "threads": 64})
    assert not validator.is_valid({"backend": "torch"})
    assert not validator.is_valid({"threads": 65})


def test_mistyped_or_out_of_range_values_are_refused_before_any_kernel(tmp_path):
    notebook = write_notebook(tmp_path / "typed.ipynb", CELL, "import reefnb\nreefnb.record('batch', batch)")
    cases = [
        ({"backend": "torch"}, "parameter 'backend' must be one of 'tf', 'tflite', got 'torch'"),
        ({"threads": "0"}, "parameter 'threads' must be >= 1, got '0'"),
        ({"ratio": 1.5}, "parameter 'ratio' must be <= 1.0, got 1.5"),
        ({"batch": "two"}, "parameter 'batch' expects int, got 'two'"),
        ({"batchsize": 2}, "unknown parameter 'batchsize'"),
    ]
    for values, message in cases:
        with pytest.raises(reefnb.ParameterError) as error:
            reefnb.run(notebook, parameters=values)
        assert message in str(error.value)
        assert "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists() and reefnb.results().empty
    record = reefnb.run(notebook, parameters={"batch": "3", "backend": "tflite", "threads": "64"})
    assert record["status"] == "ok" and record["parameters"]["threads"] == 64
    assert record["metrics"]["batch"]["value"] == 3


def test_reef_params_prints_the_schema(hello):
    out, err = io.StringIO(), io.StringIO()
    assert main(["params", str(hello), "--json"], out=out, err=err) == 0
    schema = json.loads(out.getvalue())
    assert schema["properties"]["method"]["enum"] == ["random", "stratified"]
    assert schema["properties"]["samples"]["minimum"] == 1
    out = io.StringIO()
    assert main(["params", str(hello / "main.ipynb")], out=out, err=err) == 0
    assert "method" in out.getvalue() and "random points to draw" in out.getvalue()
    out = io.StringIO()
    assert main(["sweep", str(hello), "-p", "method", "random", "fancy"], out=out, err=err) == 2
    assert "must be one of 'random', 'stratified', got 'fancy'" in err.getvalue()
    assert not (hello / "runs").exists()


def test_the_form_is_built_from_the_schema_and_runs(hello):
    import ipywidgets
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "reefnb")
    form = shell.run_line_magic("reef", f"params {hello}")
    assert isinstance(form.inputs["method"], ipywidgets.Dropdown)
    assert list(form.inputs["method"].options) == ["random", "stratified"]
    samples = form.inputs["samples"]
    assert isinstance(samples, ipywidgets.BoundedIntText) and (samples.min, samples.max, samples.value) == (
        1,
        10_000_000,
        10000,
    )
    assert isinstance(form.inputs["seed"], ipywidgets.IntText)
    form.inputs["method"].value = "stratified"
    samples.value = 400
    form.button.click()
    assert form.record["status"] == "ok"
    assert form.record["parameters"] == {"samples": 400, "method": "stratified"} | {"seed": 0}
    assert form.record["metrics"]["points"]["value"] == 400
    assert not form.button.disabled


# --- reading a notebook, its digest and its language (reefnb.solution.notebook) -----------------------------------


NO_OUTPUTS = json.dumps(
    {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"note": "SECRET"},
        "cells": [{"cell_type": "code", "id": "a", "source": "SECRET", "metadata": {}, "execution_count": None}],
    }
).encode()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe not text", "not a notebook (not UTF-8 text)"),
        (b'{"cells": [', "not a notebook (not JSON: line 1 column 12)"),
        (b'{"cells": []}', "not a notebook (no 'nbformat' version reef can read)"),
        (b'{"nbformat": 99, "cells": []}', "no 'nbformat' version"),
        (NO_OUTPUTS, "not valid nbformat at /cells/0: missing 'outputs'"),
    ],
)
def test_what_is_not_a_valid_notebook_is_one_error_naming_the_file_not_its_content(tmp_path, content, words):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError) as refused:
        read_notebook(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and words in message and "SECRET" not in message
    with pytest.raises(NotebookError, match="notebook not found"):
        read_notebook(tmp_path / "absent.ipynb")


def test_an_nbformat_3_notebook_is_read_as_version_4(tmp_path):
    path = tmp_path / "old.ipynb"
    cell = {"cell_type": "code", "input": "x = 1", "language": "python", "outputs": [], "metadata": {}}
    old = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [cell]}]}
    path.write_text(json.dumps(old), encoding="utf-8")
    notebook = read_notebook(path)
    assert notebook.nbformat == 4 and [cell.source for cell in notebook.cells] == ["x = 1"]


def test_the_digest_follows_the_sources_and_not_outputs_counts_or_metadata(tmp_path):
    path = write_notebook(tmp_path / "a.ipynb", "x = 1", "print(x)")
    notebook = read_notebook(path)
    digest = notebook_digest(notebook)
    assert len(digest) == 64 and digest == notebook_digest(read_notebook(path))
    run = copy.deepcopy(notebook)
    run.cells[1].execution_count = 3
    run.cells[1].outputs = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    run.cells[1].metadata["collapsed"] = True
    run.metadata["papermill"] = {"duration": 1.0}
    assert notebook_digest(run) == digest
    edited = copy.deepcopy(notebook)
    edited.cells[1].source = "print(x + 1)"
    assert notebook_digest(edited) != digest
    markdown = copy.deepcopy(notebook)
    markdown.cells[1].cell_type = "markdown"
    assert notebook_digest(markdown) != digest


def test_the_language_comes_from_language_info_then_the_kernelspec_then_python():
    assert notebook_language({"metadata": {"language_info": {"name": "R"}, "kernelspec": {"language": "x"}}}) == "r"
    assert notebook_language({"metadata": {"kernelspec": {"language": "Julia"}}}) == "julia"
    assert notebook_language({"metadata": {}}) == "python"


def test_another_language_s_parameters_cell_gives_untyped_names_with_literal_defaults(tmp_path):
    path = write_notebook(tmp_path / "r.ipynb", 'alpha <- 0.5  # learning rate\nname = "x"\nflag <- TRUE\nn <- 1:3')
    notebook = read_notebook(path)
    notebook.metadata["kernelspec"] = {"name": "ir", "language": "R", "display_name": "R"}
    parameters = notebook_parameters(notebook)
    assert list(parameters) == ["alpha", "name", "flag", "n"]
    assert (parameters["alpha"].type_name, parameters["alpha"].default, parameters["alpha"].help) == (
        "float",
        0.5,
        "learning rate",
    )
    assert (parameters["flag"].type_name, parameters["flag"].default) == ("bool", True)
    assert (parameters["n"].type_name, parameters["n"].default) == (None, "1:3")  # not a literal: its text
    assert notebook_parameters(read_notebook(write_notebook(tmp_path / "none.ipynb", None, "x = 1"))) == {}
