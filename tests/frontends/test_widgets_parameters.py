"""reefnb.frontends.widgets.parameters: the form of a workflow's parameters, one input each, and its Run button."""

from __future__ import annotations

from reefnb.common.exceptions import ReefError
from reefnb.frontends.widgets.parameters import ParametersForm
from reefnb.runs.spec import RunSpec

SCHEMA = {
    "title": "hello-sweep: run",
    "properties": {
        "samples": {"type": "integer", "minimum": 10, "maximum": 10000, "default": 1000, "description": "points"},
        "method": {"enum": ["random", "stratified"], "default": "random"},
        "verbose": {"type": "boolean", "default": False},
        "label": {"type": "string", "default": "<b>"},
    },
}


def test_one_input_per_parameter_with_its_default():
    form = ParametersForm("hello-sweep", SCHEMA)
    assert form.values() == {"samples": 1000, "method": "random", "verbose": False, "label": "<b>"}
    assert list(form.inputs["method"].options) == ["random", "stratified"]
    assert (form.inputs["samples"].min, form.inputs["samples"].max) == (10, 10000)
    assert "hello-sweep: run" in form.children[0].value


def test_submit_runs_with_the_values_and_keeps_the_record():
    calls = []

    def run(spec):
        calls.append(spec)
        return {
            "run_id": "r1",
            "status": "ok",
            "parameters": spec.parameters,
            "solution": {"name": "s", "version": "1"},
        }

    form = ParametersForm("hello-sweep", SCHEMA, workflow="benchmark", run=run)
    form.inputs["samples"].value = 50
    assert form.submit()["run_id"] == "r1" and form.record["parameters"]["samples"] == 50
    assert calls == [RunSpec(solution="hello-sweep", workflow="benchmark", parameters={**form.values(), "samples": 50})]
    assert not form.button.disabled


def test_a_refused_run_leaves_the_form_usable():
    def run(spec):
        raise ReefError("samples: 5 is below the minimum 10")

    form = ParametersForm("hello-sweep", SCHEMA, run=run)
    assert form.submit() is None and form.record is None and not form.button.disabled
