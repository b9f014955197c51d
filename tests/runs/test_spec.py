"""reefnb.runs.spec: a run's and a sweep's options as one value, made from parsed arguments or keywords, resolved
by execute.prepare without being changed."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from helpers.solutions import write_solution

from reefnb.common.exceptions import ReefError
from reefnb.runs.execute import prepare
from reefnb.runs.spec import RunSpec, SweepExecution, SweepSpec
from reefnb.runs.sweeps import plan_sweep


def test_a_run_spec_takes_the_arguments_named_as_its_fields():
    arguments = argparse.Namespace(
        solution="folder", workflow="run", timeout=9.0, telemetry=False, resume="r1", trust=True, parameter=[("n", "3")]
    )
    spec = RunSpec.from_arguments(arguments, parameters=dict(arguments.parameter))
    assert spec == RunSpec(solution="folder", parameters={"n": "3"}, timeout=9.0, telemetry=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.timeout = 1.0  # type: ignore[misc]


def test_a_sweep_spec_sends_each_name_to_its_part():
    arguments = argparse.Namespace(
        solution="folder", workflow="run", environments=["a", "b"], kernels=None, jobs=2, retries=1, rerun=True
    )
    spec = SweepSpec.from_arguments(arguments, workflow="benchmark", grid={"n": [1, 2]})
    assert spec.run == RunSpec(solution="folder", workflow="benchmark", trace_files=False)  # sweeps trace no files
    assert spec.grid == {"n": [1, 2]} and spec.environments == ("a", "b") and spec.kernels == ()
    assert spec.execution == SweepExecution(jobs=2, retries=1, rerun=True)
    assert spec.targets == [("a", None), ("b", None)]


def test_a_sweep_spec_refuses_what_it_cannot_hold():
    with pytest.raises(TypeError, match="unexpected keyword arguments: colour"):
        SweepSpec.from_options(solution="folder", colour="red")
    with pytest.raises(ReefError, match="give environments or kernels, not both"):
        SweepSpec.from_options(solution="folder", environment="a", kernels=["k"])
    with pytest.raises(ReefError, match="jobs must be 1 or more"):
        SweepSpec.from_options(solution="folder", jobs=0)
    one = SweepSpec.from_options(solution="folder", kernel="python3")
    assert one.targets == [(None, "python3")]  # the one kernel, when no kernels are given
    assert SweepSpec.from_options(solution="folder").targets == [(None, None)]


def test_prepare_keeps_the_spec_it_resolved(tmp_path, reef_home):
    folder = tmp_path / "solution"
    write_solution(
        folder,
        {"name": "probe", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"n": 2}}}},
        "n = 1",
    )
    spec = RunSpec(solution=folder, parameters={"n": "5"}, timeout=30, max_output="1K", checkpoint=True)
    request = prepare(spec)
    assert request.spec is spec  # carried unchanged: the request adds what was resolved
    assert request.parameters == {"n": 5} and request.timeout == 30 and request.output_limit == 1024
    assert request.kernel == "python3" and request.source == str((folder / "solution.json").resolve())


def test_a_sweep_plans_one_spec_per_point(tmp_path, reef_home):
    folder = tmp_path / "solution"
    write_solution(
        folder,
        {"name": "probe", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "n = 1\nm = 'a'",
    )
    spec = SweepSpec.from_options(solution=folder, grid={"n": [1, 2, 2]}, parameters={"m": "b"}, timeout=20)
    requests = plan_sweep(spec)
    assert [request.parameters for request in requests] == [{"m": "b", "n": 1}, {"m": "b", "n": 2}]  # no duplicate
    assert {request.spec.timeout for request in requests} == {20} and not requests[0].spec.trace_files


# What the run and sweep verbs parse for the front end itself, not for the spec: -p pairs (the RunSpec's parameters, a
# sweep's grid), --grid FILE (read into the grid), --resume RUN_ID, --trust, --json, --help.
FRONT_END_ONLY = {"parameter", "grid", "resume", "trust", "json", "help"}


def _verb_options(verb: str) -> set[str]:
    from reefnb.frontends.verbs import build_parser

    subparsers = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return {action.dest for action in subparsers.choices[verb]._actions}


def _fields(*kinds: type) -> set[str]:
    return {spec.name for kind in kinds for spec in dataclasses.fields(kind)}


def test_every_run_option_is_a_run_spec_field_and_every_field_a_run_option():
    """A run option is one RunSpec field and one line of the run verb, whose dest is the field's name: an option
    without its field would be dropped by RunSpec.from_arguments, a field without its option unreachable by `reef`."""
    options = _verb_options("run") - FRONT_END_ONLY
    assert options == _fields(RunSpec) - {"parameters"}


@pytest.mark.parametrize("verb", ["sweep", "benchmark"])
def test_every_sweep_option_is_a_field_of_the_sweep_spec(verb):
    assert _verb_options(verb) - FRONT_END_ONLY <= _fields(RunSpec, SweepSpec, SweepExecution)


def test_the_keyword_api_takes_the_spec_s_fields_and_nothing_else(tmp_path):
    """reefnb.run and reefnb.sweep take the fields as keywords; a misspelt one is a TypeError before anything runs."""
    import reefnb

    with pytest.raises(TypeError, match="timout"):
        reefnb.run(tmp_path / "nowhere", timout=3)
    with pytest.raises(TypeError, match="timout"):
        reefnb.sweep(tmp_path / "nowhere", grid={"n": [1]}, timout=3)
    with pytest.raises(ReefError, match="jobs must be 1 or more"):
        reefnb.sweep(tmp_path / "nowhere", grid={"n": [1]}, jobs=0)
