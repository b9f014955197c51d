"""The solution manifest: loading, schema and semantic validation, ``reef validate``, and fuzzing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.solutions import HELLO, write_notebook, write_solution
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reefnb
from reefnb.common.exceptions import ManifestError
from reefnb.frontends.cli import main
from reefnb.solution.manifest import WORKFLOW_NAMES, solution_from_data

REEF = str(Path(sys.executable).parent / "reef")
MINIMAL = {"name": "my-solution", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        reefnb.load_solution(folder)
    assert caught.value.problems, "a ManifestError must carry its problems"
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def split(problem: str) -> tuple[str, str, str]:
    """``FILE: /pointer: message`` as its three parts."""
    file, pointer, message = problem.split(": ", 2)
    return file, pointer, message


def invalid(tmp_path: Path, manifest: dict, parameters: str | None = "x = 1") -> tuple[Path, list[str]]:
    """Write a solution with ``manifest``; its problems, checked to be ``FILE: /pointer: message``."""
    folder = write_solution(tmp_path / "solution", manifest, parameters)
    problems = problems_of(folder)
    for problem in problems:
        file, pointer, message = split(problem)
        assert file == str(folder / "solution.json")
        assert pointer.startswith("/")
        assert message
    return folder, problems


def pointers(problems: list[str]) -> list[str]:
    return [split(problem)[1] for problem in problems]


# --- valid manifests ---


@pytest.mark.parametrize("target", ["folder", "file"])
def test_minimal_manifest_loads_from_folder_or_file(tmp_path, target):
    folder = write_solution(tmp_path / "my-solution", MINIMAL)
    solution = reefnb.load_solution(folder if target == "folder" else folder / "solution.json")
    assert isinstance(solution, reefnb.Solution)
    assert solution.name == "my-solution"
    assert solution.version == "0.1.0"
    assert solution.path == folder
    assert solution.manifest_path == folder / "solution.json"
    assert list(solution.workflows) == ["run"]
    workflow = solution.workflows["run"]
    assert isinstance(workflow, reefnb.Workflow)
    assert workflow.notebook == folder / "main.ipynb"
    assert workflow.parameters == {} and workflow.sweep == {} and workflow.timeout is None
    assert solution.workflow("run") is workflow
    assert solution.metrics == {}


def test_workflow_of_unknown_name_names_the_manifest(tmp_path):
    folder = write_solution(tmp_path / "my-solution", MINIMAL)
    solution = reefnb.load_solution(folder)
    with pytest.raises(
        reefnb.ReefError, match=r"solution\.json: /workflows: no workflow 'benchmark' \(this solution has: run\)"
    ):
        solution.workflow("benchmark")


def test_hello_sweep_in_the_repository_validates():
    assert reefnb.validate_manifest(json.loads((HELLO / "solution.json").read_text()), HELLO / "solution.json") == []
    solution = reefnb.load_solution(HELLO)
    assert solution.name == "hello-sweep"
    assert set(solution.workflows) == {"run", "benchmark"}
    assert solution.workflows["run"].parameters == {"samples": 10000, "method": "random"}
    assert solution.workflows["benchmark"].sweep == {
        "samples": [1000, 10000, 100000],
        "method": ["random", "stratified"],
    }
    assert solution.workflows["benchmark"].timeout == 120
    assert solution.metrics["time_ms"]["unit"] == "ms"


def test_defaults_and_sweep_of_declared_parameters_are_kept(tmp_path):
    manifest = {
        **MINIMAL,
        "workflows": {
            "run": {"notebook": "main.ipynb", "parameters": {"x": 2}, "sweep": {"x": [1, 2, 3]}, "timeout": 5}
        },
    }
    solution = reefnb.load_solution(write_solution(tmp_path / "s", manifest, "x = 1\ny = 'a'"))
    assert solution.workflows["run"].parameters == {"x": 2}
    assert solution.workflows["run"].sweep == {"x": [1, 2, 3]}
    assert solution.workflows["run"].timeout == 5


# --- invalid manifests: one problem each, with its pointer ---


def test_missing_folder_and_missing_manifest(tmp_path):
    problems = problems_of(tmp_path / "nowhere")
    assert pointers(problems) == ["/"] and str(tmp_path / "nowhere") in problems[0]
    (tmp_path / "empty").mkdir()
    problems = problems_of(tmp_path / "empty")
    assert problems == [f"{tmp_path / 'empty' / 'solution.json'}: /: file not found"]


def test_invalid_json_reports_line_and_column(tmp_path):
    folder = write_solution(tmp_path / "s", MINIMAL)
    (folder / "solution.json").write_text('{\n  "name": "x",\n  "version" "0.1.0"\n}\n', encoding="utf-8")
    problems = problems_of(folder)
    assert len(problems) == 1
    file, pointer, message = split(problems[0])
    assert (file, pointer) == (str(folder / "solution.json"), "/")
    assert "invalid JSON at line 3 column 13" in message


def test_manifest_that_is_not_utf8_is_a_problem(tmp_path):
    folder = write_solution(tmp_path / "s", MINIMAL)
    (folder / "solution.json").write_bytes(b'{"name": "\xff"}')
    assert pointers(problems_of(folder)) == ["/"]


@pytest.mark.parametrize(
    ("change", "pointer", "words"),
    [
        ({"name": None}, "/", "'name' is a required property"),
        ({"version": None}, "/", "'version' is a required property"),
        ({"workflows": None}, "/", "'workflows' is a required property"),
        ({"name": "Bad Name"}, "/name", "does not match"),
        ({"version": 5}, "/version", "5 is not of type 'string'"),
        ({"workflows": ["main.ipynb"]}, "/workflows", "is not of type 'object'"),
        ({"workflows": {}}, "/workflows", "non-empty"),
        (
            {"workflows": {"train": {"notebook": "main.ipynb"}}},
            "/workflows",
            "unknown name 'train' (allowed: init, run, benchmark, validate)",
        ),
        ({"workflows": {"run": {}}}, "/workflows/run", "'notebook' is a required property"),
        (
            {"workflows": {"run": {"notebook": "main.ipynb", "timeout": 0}}},
            "/workflows/run/timeout",
            "less than or equal to the minimum",
        ),
        ({"workflows": {"run": {"notebook": "main.ipynb", "sweep": {"x": []}}}}, "/workflows/run/sweep/x", "non-empty"),
        ({"metrics": [{"name": "loss", "goal": "lowest"}]}, "/metrics/0/goal", "'lowest' is not one of ['min', 'max']"),
        ({"metrics": {"loss": {}}}, "/metrics", "is not of type 'array'"),
        ({"extra": 1}, "/", "unknown field(s) 'extra' (allowed: $schema, "),
        (
            {"workflows": {"run": {"notebook": "main.ipynb", "notbook": "x"}}},
            "/workflows/run",
            "unknown field(s) 'notbook'",
        ),
        (
            {"artifacts": {"data": {"url": "https://example.org/d.zip", "sha256": "ABC"}}},
            "/artifacts/data/sha256",
            "does not match",
        ),
        ({"version": "1.0"}, "/version", "'1.0' is not a semantic version"),
        ({"version": "01.2.3"}, "/version", "is not a semantic version"),
        (
            {"metrics": [{"name": "loss"}, {"name": "accuracy"}, {"name": "loss"}]},
            "/metrics/2/name",
            "metric 'loss' is declared twice",
        ),
        (
            {"workflows": {"run": {"notebook": "missing.ipynb"}}},
            "/workflows/run/notebook",
            "notebook 'missing.ipynb' not found in",
        ),
        (
            {"workflows": {"run": {"notebook": "main.ipynb", "parameters": {"batch": 2}}}},
            "/workflows/run/parameters/batch",
            "'batch' is not a variable of the parameters cell of main.ipynb (it has: x)",
        ),
        (
            {"workflows": {"run": {"notebook": "main.ipynb", "sweep": {"lr": [0.1]}}}},
            "/workflows/run/sweep/lr",
            "'lr' is not a variable",
        ),
        (
            {"expected": [{"workflow": "benchmark", "metrics": {"loss": {"value": 1}}}]},
            "/expected/0/workflow",
            "no workflow 'benchmark'",
        ),
        (
            {"expected": [{"parameters": {"lr": 1}, "metrics": {"loss": {"value": 1}}}]},
            "/expected/0/parameters/lr",
            "'lr' is not a variable",
        ),
        ({"artifacts": {"data": {"url": "https://example.org/d.zip"}}}, "/artifacts/data/sha256", "needs its sha256"),
        (
            {"artifacts": {"data": {"generate": "m:f", "fallback": "other"}}},
            "/artifacts/data/fallback",
            "no artifact 'other'",
        ),
        ({"requires": {"python": "three"}}, "/requires/python", "is not a version range"),
    ],
)
def test_bad_manifest_problem_has_its_pointer(tmp_path, change, pointer, words):
    manifest = {key: value for key, value in {**MINIMAL, **change}.items() if value is not None}
    _, problems = invalid(tmp_path, manifest)
    assert len(problems) == 1, problems
    assert pointers(problems) == [pointer]
    assert words in split(problems[0])[2]


def test_json_pointer_escapes_slash_and_tilde(tmp_path):
    manifest = {**MINIMAL, "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"a/b~c": 1}}}}
    _, problems = invalid(tmp_path, manifest)
    assert pointers(problems) == ["/workflows/run/parameters/a~1b~0c"]


def test_notebook_without_parameters_cell_says_so(tmp_path):
    manifest = {**MINIMAL, "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"x": 1}}}}
    _, problems = invalid(tmp_path, manifest, parameters=None)
    assert pointers(problems) == ["/workflows/run/parameters/x"]
    assert "no cell tagged 'parameters'" in problems[0]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("this is not json", "not a notebook (not JSON: line 1 column 1)"),
        ("{}", "not a notebook (no 'nbformat' version"),
        (
            json.dumps(
                {
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "metadata": {},
                    "cells": [
                        {
                            "id": "c1",
                            "cell_type": "code",
                            "source": "1",
                            "metadata": {},
                            "outputs": [],
                            "execution_count": "one",
                        }
                    ],
                }
            ),
            "not valid nbformat at /cells/0",
        ),
    ],
)
def test_notebook_that_is_not_valid_nbformat(tmp_path, content, words):
    folder = write_solution(tmp_path / "s", MINIMAL)
    (folder / "main.ipynb").write_text(content, encoding="utf-8")
    problems = problems_of(folder)
    assert pointers(problems) == ["/workflows/run/notebook"]
    assert str(folder / "main.ipynb") in problems[0] and words in problems[0]
    assert "this is not" not in problems[0] and "'one'" not in problems[0]  # where, never what the file holds


def test_every_schema_problem_is_reported_at_once(tmp_path):
    manifest = {"version": 5, "workflows": [], "extra": True, "metrics": [{"goal": "up"}]}
    _, problems = invalid(tmp_path, manifest)
    assert sorted(pointers(problems)) == ["/", "/", "/metrics/0", "/metrics/0/goal", "/version", "/workflows"]
    assert any("'name' is a required property" in problem for problem in problems)
    assert any("unknown field(s) 'extra'" in problem for problem in problems)


def test_every_semantic_problem_is_reported_at_once(tmp_path):
    write_notebook(tmp_path / "solution" / "other.ipynb", "y = 2")
    manifest = {
        "name": "my-solution",
        "version": "1.0",
        "workflows": {
            "run": {"notebook": "main.ipynb", "parameters": {"batch": 2}, "sweep": {"lr": [0.1, 0.2]}},
            "benchmark": {"notebook": "gone.ipynb"},
            "validate": {"notebook": "other.ipynb", "parameters": {"y": 3}},
        },
        "metrics": [{"name": "loss"}, {"name": "loss"}],
    }
    _, problems = invalid(tmp_path, manifest)
    assert pointers(problems) == [
        "/version",
        "/metrics/1/name",
        "/workflows/run/parameters/batch",
        "/workflows/run/sweep/lr",
        "/workflows/benchmark/notebook",
    ]


def test_bad_requirement_string_is_reported_on_one_line(tmp_path):
    """A PEP 508 typo is one problem line (packaging's own message spans three lines)."""
    _, problems = invalid(tmp_path, {**MINIMAL, "requires": {"packages": ["numpy>=1", "numpy>>1"]}})
    assert pointers(problems) == ["/requires/packages/1"]
    assert all("\n" not in problem for problem in problems), problems


def test_overlong_notebook_name_is_a_problem_not_an_oserror(tmp_path):
    manifest = {**MINIMAL, "workflows": {"run": {"notebook": "n" * 300 + ".ipynb"}}}
    _, problems = invalid(tmp_path, manifest)
    assert pointers(problems) == ["/workflows/run/notebook"]


@pytest.mark.parametrize("field", ["version", "name"])
def test_trailing_newline_is_not_accepted(tmp_path, field):
    """Python's ``$`` also matches before a final newline; "0.1.0\\n" is no semver, "my-solution\\n" no name."""
    _, problems = invalid(tmp_path, {**MINIMAL, field: MINIMAL[field] + "\n"})
    assert pointers(problems) == [f"/{field}"]


# --- reef validate ---


def validate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", *args], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_validate_valid_solution(tmp_path):
    folder = write_solution(tmp_path / "my-solution", MINIMAL)
    code, out, err = validate(str(folder))
    assert (code, err) == (0, "")
    assert out.strip() == f"{folder / 'solution.json'}: valid (my-solution@0.1.0, workflows: run)"
    code, out, err = validate("--json", str(folder))
    assert (code, err) == (0, "")
    assert json.loads(out) == {"valid": True, "problems": [], "name": "my-solution", "version": "0.1.0"}


def test_cli_validate_prints_one_line_per_problem(tmp_path):
    manifest = {
        **MINIMAL,
        "version": "1.0",
        "metrics": [{"name": "a"}, {"name": "a"}],
        "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"nope": 1}}},
    }
    folder = write_solution(tmp_path / "s", manifest)
    with pytest.raises(ManifestError) as caught:
        reefnb.load_solution(folder)
    code, out, err = validate(str(folder))
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines() == caught.value.problems
    assert len(caught.value.problems) == 3


def test_cli_validate_json_lists_problems(tmp_path):
    folder = write_solution(tmp_path / "s", {**MINIMAL, "version": 5, "extra": 1})
    code, out, err = validate("--json", str(folder))
    assert (code, err) == (2, "")
    report = json.loads(out)
    assert report["valid"] is False
    assert [split(problem)[1] for problem in report["problems"]] == ["/", "/version"]


def test_cli_validate_missing_path(tmp_path):
    code, out, err = validate(str(tmp_path / "nowhere"))
    assert code == 2 and out == ""
    assert err.splitlines() == [f"{tmp_path / 'nowhere'}: /: no such solution folder or solution.json"]


def test_cli_validate_bad_requirement_keeps_one_line_per_problem(tmp_path):
    folder = write_solution(tmp_path / "s", {**MINIMAL, "requires": {"packages": ["numpy>>1"]}})
    code, _, err = validate(str(folder))
    assert code == 2
    assert len(err.splitlines()) == 1, err


def test_reef_console_script_validate_bad_path(tmp_path):
    bad = tmp_path / "bad"
    write_solution(bad, {**MINIMAL, "workflows": {"train": {"notebook": "main.ipynb"}}})
    done = subprocess.run(
        [REEF, "validate", str(bad)], capture_output=True, text=True, env=os.environ.copy(), timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"{bad / 'solution.json'}: /workflows: unknown name 'train' (allowed: init, run, benchmark, validate)"
    ]
    assert done.stdout == ""


# --- fuzzing: any JSON, and manifest-shaped dicts ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def text_or(*choices: str) -> st.SearchStrategy:
    """Any of ``choices`` or any text."""
    return st.sampled_from(choices) | st.text()


parameter_names = text_or("x", "y", "a/b")
workflows = st.dictionaries(
    st.sampled_from(WORKFLOW_NAMES) | st.text(),
    st.fixed_dictionaries(
        {"notebook": text_or("main.ipynb", "missing.ipynb", "broken.ipynb", ".", "/", "../main.ipynb")},
        optional={
            "parameters": st.dictionaries(parameter_names, json_values, max_size=3),
            "sweep": st.dictionaries(parameter_names, st.lists(json_values, max_size=3), max_size=3),
            "timeout": st.integers() | st.floats(allow_nan=False),
            "description": st.text(),
        },
    )
    | json_values,
    max_size=3,
)
metrics = st.lists(
    st.fixed_dictionaries(
        {"name": text_or("loss", "accuracy")}, optional={"unit": st.text(), "goal": text_or("min", "max")}
    )
    | json_values,
    max_size=4,
)
requires = (
    st.fixed_dictionaries(
        {},
        optional={
            "python": text_or(">=3.10", "3.x"),
            "packages": st.lists(text_or("numpy>=1.24", "numpy>>1", "pandas; python_version<'3'"), max_size=3),
            "tools": st.lists(
                st.fixed_dictionaries({"name": text_or("git")}, optional={"version": text_or(">=2", "two")}), max_size=2
            ),
            "platforms": st.lists(st.text(), max_size=2),
        },
    )
    | json_values
)
artifacts = st.dictionaries(
    text_or("data", "model", "-bad"),
    st.fixed_dictionaries(
        {},
        optional={
            "url": text_or("https://example.org/d.zip"),
            "sha256": text_or("0" * 64),
            "fallback": text_or("data", "model"),
            "generate": text_or("pkg.mod:make"),
            "unpack": st.booleans(),
        },
    )
    | json_values,
    max_size=3,
)
expected = st.lists(
    st.fixed_dictionaries(
        {
            "metrics": st.dictionaries(
                text_or("loss"), st.fixed_dictionaries({"value": json_values}) | json_values, max_size=2
            )
        },
        optional={
            "workflow": text_or("run", "benchmark"),
            "parameters": st.dictionaries(parameter_names, json_values, max_size=2),
        },
    )
    | json_values,
    max_size=2,
)
manifests = st.fixed_dictionaries(
    {},
    optional={
        "name": text_or("my-solution", "Bad Name") | json_values,
        "version": text_or("0.1.0", "1.0", "1.0.0-rc.1+build.5") | json_values,
        "workflows": workflows | json_values,
        "metrics": metrics | json_values,
        "requires": requires,
        "artifacts": artifacts | json_values,
        "expected": expected | json_values,
    },
)


@pytest.fixture
def fuzz_folder(tmp_path) -> Path:
    """A folder with a good notebook (parameters x, y) and a broken one, beside the fuzzed manifest."""
    folder = tmp_path / "fuzz"
    write_notebook(folder / "main.ipynb", "x = 1\ny = 'a'")
    (folder / "broken.ipynb").write_text("{not json", encoding="utf-8")
    return folder


def check_fuzzed(data, manifest_path: Path) -> list[str]:
    problems = reefnb.validate_manifest(data, manifest_path)
    assert isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem, str)
        assert problem.startswith(f"{manifest_path}: /"), problem
    try:
        solution = solution_from_data(data, manifest_path)
    except ManifestError as error:
        assert error.problems == problems and problems
    else:
        assert problems == []
        assert solution.name == data["name"] and set(solution.workflows) == set(data["workflows"])
    return problems


@FUZZ
@given(data=json_values)
def test_fuzz_any_json_value(fuzz_folder, data):
    check_fuzzed(data, fuzz_folder / "solution.json")


@FUZZ
@given(data=manifests)
def test_fuzz_manifest_shaped_dicts(fuzz_folder, data):
    check_fuzzed(data, fuzz_folder / "solution.json")


@FUZZ
@given(data=manifests)
def test_fuzz_every_problem_is_one_line(fuzz_folder, data):
    """The CLI prints one line per problem, so no problem may contain a line break."""
    for problem in reefnb.validate_manifest(data, fuzz_folder / "solution.json"):
        assert len(problem.splitlines()) == 1, problem
