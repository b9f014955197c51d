"""What every HTML page reef writes shares (reefnb.common.pages): inert embedded JSON and the CSP."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from reefnb.common.pages import embedded_json, json_script, script_source, security_policy

HOSTILE = {"name": "</Script ><!--<script>alert(1)</script>&amp;", "line\u2028end": "para\u2029graph"}


def test_embedded_json_holds_no_character_that_can_end_a_script_and_reads_back_the_same():
    text = embedded_json(HOSTILE)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == HOSTILE


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_json_cannot_hold_become_null_wherever_they_are(value):
    assert json.loads(embedded_json({"a": [1.5, value], "b": (value,)})) == {"a": [1.5, None], "b": [None]}


def test_values_json_has_no_type_for_are_written_as_their_text():
    class Thing:
        def __str__(self):
            return "a <thing>"

    assert json.loads(embedded_json({"thing": Thing()})) == {"thing": "a <thing>"}


def test_json_script_is_an_inert_element_with_an_escaped_id():
    element = json_script('data" onload="x', HOSTILE)
    match = re.fullmatch(r'<script type="application/json" id="([^"]*)">(.*)</script>', element, re.S)
    assert match, element
    assert match.group(1) == "data&quot; onload=&quot;x"
    assert json.loads(match.group(2)) == HOSTILE


def test_a_script_source_is_the_sha256_of_exactly_that_code():
    code = "document.body.dataset.ready = 1;"
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    assert script_source(code) == f"'sha256-{digest}'"
    assert script_source(code + " ") != script_source(code)


def test_the_policy_allows_only_the_given_scripts_and_fetches_nothing():
    def directives(meta: str) -> dict[str, str]:
        content = re.search(r'content="([^"]*)"', meta).group(1)
        return dict(part.strip().split(" ", 1) for part in content.split(";"))

    none = directives(security_policy())
    assert none["script-src"] == "'none'"
    assert none["default-src"] == "'none'" and none["base-uri"] == "'none'" and none["form-action"] == "'none'"
    two = directives(security_policy(["a()", "b()"]))
    assert two["script-src"].split() == [script_source("a()"), script_source("b()")]
    assert security_policy().startswith('<meta http-equiv="Content-Security-Policy"')
