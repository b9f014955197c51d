"""The typed parameter contract: annotations and comments of the parameters cell become a JSON Schema."""

from __future__ import annotations

import io
import json

import jsonschema
import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.frontends.cli import main
from reefnb.solution.notebook import notebook_parameters, parameters_schema, read_notebook

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
