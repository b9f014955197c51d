"""The one reader of untrusted JSON (reefnb.common.json_input): bounded, one line per problem, with its pointer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reefnb.common.exceptions import InputError
from reefnb.common.json_input import (
    FORMAT_CHECKER_ONLY,
    MAX_INTEGER_DIGITS,
    describe_type,
    json_pointer,
    parse_json,
    read_json,
    schema_validator,
)


def refusal(data, **options) -> str:
    with pytest.raises(InputError) as raised:
        parse_json(data, "body.json", **options)
    return str(raised.value)


def test_plain_json_parses_from_text_or_bytes():
    assert parse_json('{"a": [1, 2.5, null, true]}', "x") == {"a": [1, 2.5, None, True]}
    assert parse_json('{"é": "ü"}'.encode(), "x") == {"é": "ü"}


def test_pointers_escape_tilde_and_slash_and_show_control_characters():
    assert json_pointer(()) == "/"
    assert json_pointer(("a/b", "c~d", 3)) == "/a~1b/c~0d/3"
    assert json_pointer(("line\nbreak",)) == "/line\\u000abreak"


@pytest.mark.parametrize(
    ("data", "pointer", "words"),
    [
        ('{"a": {"b": [1, NaN]}}', "/a/b/1", "NaN is not a JSON number"),
        ('{"big": ' + "9" * (MAX_INTEGER_DIGITS + 1) + "}", "/big", f"at most {MAX_INTEGER_DIGITS}"),
        ('{"far": 1e999}', "/far", "beyond the range of a float"),
        ('["ok", "\\ud800"]', "/1", "lone surrogate"),
        ("{'a': 1}", "/", "invalid JSON at line 1 column 2"),
    ],
)
def test_each_refusal_names_the_source_and_the_pointer(data, pointer, words):
    message = refusal(data)
    assert message.startswith(f"body.json: {pointer}: ")
    assert words in message


def test_nesting_deeper_than_the_limit_is_refused_at_its_place_even_past_python_s_recursion():
    assert refusal('{"a": [[[1]]]}', max_depth=3) == "body.json: /a/0/0: nested deeper than 3 levels"
    deep = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert "nested deeper than 64 levels" in refusal(deep)


def test_size_encoding_and_top_level_type_are_checked():
    assert "larger than the limit of 4 bytes" in refusal("[1, 2]", max_bytes=4)
    assert "not UTF-8 text (byte 1)" in refusal(b'"\xff"')
    assert refusal("[1]", expect=dict) == "body.json: /: expected an object, got an array"


def test_a_schema_problem_is_named_without_quoting_the_value():
    secret = "S3CR3T-" * 10
    manifest = {"name": secret, "version": "1.0.0", "workflows": {"run": {"notebook": "a.ipynb"}}}
    message = refusal(json.dumps(manifest), schema="solution")
    assert message.startswith("body.json: /name: does not match the pattern") and secret not in message
    assert refusal(json.dumps({**manifest, "name": 7}), schema="solution") == (
        "body.json: /name: expected string, got a number"
    )


def test_the_schema_validator_takes_no_nan_or_infinity_for_a_number():
    validator = schema_validator({"maximum": 10})
    assert validator.is_valid(3) and not validator.is_valid(11)
    assert not validator.is_valid(float("nan")) and not validator.is_valid(float("inf"))
    assert not schema_validator({"type": "number"}).is_valid(float("nan"))


def test_read_json_reads_a_regular_file_only(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    assert read_json(path, expect=dict) == {"a": 1}
    with pytest.raises(InputError, match="no such file"):
        read_json(tmp_path / "missing.json")
    with pytest.raises(InputError, match="not a regular file"):
        read_json(tmp_path)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):  # returns at once: a fifo is never opened
        read_json(fifo, source="the lock")


@pytest.mark.parametrize(
    ("value", "words"),
    [({}, "an object"), ([], "an array"), ("", "a string"), (None, "null"), (True, "a boolean"), (1, "a number")],
)
def test_types_are_described_in_json_s_words(value, words):
    assert describe_type(value) == words
    assert describe_type(float("nan")) == "NaN or an infinity"


def test_a_process_without_format_checkers_imports_none_of_their_packages():
    code = (
        "import sys\nfrom reefnb.common.json_input import FORMAT_CHECKER_ONLY, without_format_checkers, parse_json\n"
        "without_format_checkers()\n"
        "import jsonschema\nassert jsonschema.Draft202012Validator({'format': 'uri'}).is_valid('not a uri')\n"
        "print(sorted(name for name in FORMAT_CHECKER_ONLY if sys.modules.get(name) is not None))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert "rfc3987_syntax" in FORMAT_CHECKER_ONLY
