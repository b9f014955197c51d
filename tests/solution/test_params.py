"""Run parameters: declared types from a real notebook, casting, merging sources, parameter files."""

from __future__ import annotations

import json

import pytest
from helpers.solutions import write_notebook

from reefnb.common.exceptions import ParameterError, ReefError
from reefnb.solution.notebook import notebook_parameters, read_notebook
from reefnb.solution.params import cast_parameter, read_parameter_file, resolve_parameters

PARAMETERS_CELL = """\
batch: int = 1
x = 1.5
flag = True
names = ["a"]
label = "hello"  # what to call the run
options = {"depth": 2}
anything = None
computed = 2 * 3
"""


@pytest.fixture
def declared(tmp_path):
    notebook = write_notebook(tmp_path / "params.ipynb", PARAMETERS_CELL, "print(batch, x)")
    return notebook_parameters(read_notebook(notebook))


def test_declared_types_come_from_annotations_and_literal_defaults(declared):
    assert list(declared) == ["batch", "x", "flag", "names", "label", "options", "anything", "computed"]
    types = {name: parameter.type_name for name, parameter in declared.items()}
    assert types == {
        "batch": "int",
        "x": "float",
        "flag": "bool",
        "names": "list",
        "label": "str",
        "options": "dict",
        "anything": None,
        "computed": None,
    }
    assert declared["batch"].default == 1
    assert declared["names"].default == ["a"]
    assert declared["computed"].default == "2 * 3"  # not a literal: the source text
    assert declared["label"].help == "what to call the run"


def test_notebook_without_parameters_cell_declares_nothing(tmp_path):
    assert notebook_parameters(read_notebook(write_notebook(tmp_path / "n.ipynb", None, "x = 1"))) == {}


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("batch", "4", 4),
        ("batch", " 12 ", 12),
        ("batch", "-3", -3),
        ("x", "0.5", 0.5),
        ("x", "2", 2.0),
        ("x", "1e-3", 0.001),
        ("flag", "true", True),
        ("flag", "True", True),
        ("flag", "yes", True),
        ("flag", "1", True),
        ("flag", "false", False),
        ("flag", "off", False),
        ("flag", "0", False),
        ("names", "[1,2]", [1, 2]),
        ("names", '["a", "b"]', ["a", "b"]),
        ("names", "[a, b]", ["a", "b"]),  # YAML flow sequence
        ("names", "[]", []),
        ("label", "hello world", "hello world"),
        ("label", "4", "4"),
        ("options", '{"depth": 3}', {"depth": 3}),
        ("options", "{depth: 3}", {"depth": 3}),
        ("anything", "3", 3),
        ("anything", "[1]", [1]),
        ("anything", "plain text", "plain text"),
        ("computed", "null", None),
    ],
)
def test_command_line_strings_are_cast(declared, name, text, value):
    cast = cast_parameter(declared[name], text, "command line")
    assert cast == value
    assert type(cast) is type(value)
    assert resolve_parameters(declared, ("command line", {name: text})) == {name: value}


@pytest.mark.parametrize(
    ("name", "value", "cast"),
    [
        ("batch", 4, 4),
        ("batch", 4.0, 4),
        ("x", 2, 2.0),
        ("flag", False, False),
        ("flag", 1, True),
        ("names", ("a", "b"), ["a", "b"]),
        ("options", {"a": [1]}, {"a": [1]}),
        ("anything", {"k": 1}, {"k": 1}),
    ],
)
def test_typed_values_from_files_are_kept_or_converted(declared, name, value, cast):
    result = cast_parameter(declared[name], value, "params.yaml")
    assert result == cast
    assert type(result) is type(cast)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("batch", "abc"),
        ("batch", "4.5"),
        ("batch", 4.5),
        ("batch", True),
        ("batch", [1]),
        ("x", "fast"),
        ("x", False),
        ("x", None),
        ("flag", "maybe"),
        ("flag", 2),
        ("names", "a, b"),
        ("names", "[1, 2"),
        ("names", {"a": 1}),
        ("label", 5),
        ("options", "[1, 2]"),
    ],
)
def test_mistyped_value_raises_parameter_error_naming_it(declared, name, value):
    with pytest.raises(ParameterError) as caught:
        cast_parameter(declared[name], value, "command line")
    message = str(caught.value)
    assert message == f"command line: parameter '{name}' expects {declared[name].type_name}, got {value!r}"
    assert isinstance(caught.value, ReefError) and caught.value.exit_code == 2


def test_mistyped_value_in_resolve_names_origin_and_parameter(declared):
    with pytest.raises(ParameterError, match=r"^-p batch: parameter 'batch' expects int, got 'abc'$"):
        resolve_parameters(declared, ("manifest", {"batch": 2}), ("-p batch", {"batch": "abc"}))


def test_unknown_parameter_lists_the_known_ones(declared):
    with pytest.raises(ParameterError) as caught:
        resolve_parameters(declared, ("command line", {"batch": "2", "batchsize": "8"}))
    assert str(caught.value) == (
        "command line: unknown parameter 'batchsize' (the notebook's parameters: batch, x, flag, names, label, "
        "options, anything, computed)"
    )


def test_unknown_parameter_when_notebook_declares_none():
    with pytest.raises(ParameterError, match="unknown parameter 'x' .*no cell tagged 'parameters'"):
        resolve_parameters({}, ("command line", {"x": "1"}))


def test_later_sources_win_and_untouched_names_are_absent(declared):
    resolved = resolve_parameters(
        declared,
        ("solution.json", {"batch": 2, "x": 0.1, "label": "from manifest"}),
        ("params.json", {"batch": 3, "names": ["b"]}),
        ("command line", {"batch": "8", "flag": "false"}),
    )
    assert resolved == {"batch": 8, "x": 0.1, "label": "from manifest", "names": ["b"], "flag": False}
    assert list(resolved) == ["batch", "x", "label", "names", "flag"]
    assert resolve_parameters(declared) == {}
    assert resolve_parameters(declared, ("a", {}), ("b", {})) == {}


def test_error_in_an_overridden_source_still_raises(declared):
    # Each source is checked as it is merged, so a bad manifest value is not hidden by the command line.
    with pytest.raises(ParameterError, match="^solution.json: parameter 'batch'"):
        resolve_parameters(declared, ("solution.json", {"batch": "many"}), ("command line", {"batch": "2"}))


# --- parameter files ---


def test_read_json_parameter_file(tmp_path, declared):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"batch": 16, "x": 0.25, "names": ["a", "b"], "flag": False}), encoding="utf-8")
    values = read_parameter_file(path)
    assert values == {"batch": 16, "x": 0.25, "names": ["a", "b"], "flag": False}
    assert resolve_parameters(declared, (str(path), values)) == values


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_read_yaml_parameter_file(tmp_path, suffix):
    path = tmp_path / f"params{suffix}"
    path.write_text("batch: 16\nx: 0.25\nnames: [a, b]\nflag: no\nlabel: 'x: y'\n", encoding="utf-8")
    assert read_parameter_file(str(path)) == {
        "batch": 16,
        "x": 0.25,
        "names": ["a", "b"],
        "flag": False,
        "label": "x: y",
    }


@pytest.mark.parametrize("content", ["", "# only a comment\n", "null\n", "~\n"])
def test_empty_yaml_file_means_no_parameters(tmp_path, content):
    path = tmp_path / "params.yaml"
    path.write_text(content, encoding="utf-8")
    assert read_parameter_file(path) == {}


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.json", '{"batch": 1,}', "not valid JSON"),
        ("bad.json", "", "not valid JSON"),
        ("bad.yaml", "batch: [1\nx: 2\n", "not valid YAML"),
        ("bad.yaml", "a: b: c\n", "not valid YAML"),
        ("list.json", "[1, 2]", "/: expected a mapping of parameter names to values"),
        ("scalar.yaml", "just text\n", "/: expected a mapping of parameter names to values"),
        ("keys.yaml", "1: one\n", "/: expected a mapping of parameter names to values"),
    ],
)
def test_bad_parameter_file_is_one_line_naming_the_file(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ParameterError) as caught:
        read_parameter_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert words in message
    assert "\n" not in message


def test_missing_parameter_file(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(ParameterError, match=r"absent\.json: cannot read parameter file: No such file or directory"):
        read_parameter_file(path)


def test_parameter_file_that_is_a_folder(tmp_path):
    with pytest.raises(ParameterError, match="cannot read parameter file"):
        read_parameter_file(tmp_path)


@pytest.mark.parametrize("name", ["params.json", "params.yaml"])
def test_parameter_file_that_is_not_utf8_is_a_parameter_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\xff\xfebatch: 1\n")
    with pytest.raises(ParameterError) as caught:
        read_parameter_file(path)
    assert str(caught.value).startswith(f"{path}: ")
