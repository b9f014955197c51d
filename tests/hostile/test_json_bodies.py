"""The bounded JSON reader's cheap checks for lone surrogates: a large body without backslashes skips the regexes,
and every way a lone surrogate can arrive is still refused with its JSON pointer."""

from __future__ import annotations

import base64
import os

import pytest

from reefnb.common.exceptions import InputError
from reefnb.common.json_input import parse_json

IMAGE = base64.b64encode(os.urandom(60_000)).decode()  # the shape of a detect body: one long base64 string


@pytest.mark.parametrize(
    "data, pointer",
    [
        (b'{"image": "' + IMAGE.encode() + b'", "label": "\\ud800"}', "/label"),  # an escape after 80 KB of base64
        (b'{"image": "' + IMAGE.encode() + b'", "\\uDFFF": 1}', "/"),  # in a key, upper-case hex
        (b'{"nested": [{"x": "ok"}, {"x": "a\\udbffb"}]}', "/nested/1/x"),
        ('{"image": "' + IMAGE + '", "label": "\ud800"}', "/label"),  # a str given to the reader holds a raw one
        ('{"label": "caf\u00e9 \udc00"}', "/label"),
    ],
)
def test_a_lone_surrogate_is_refused_wherever_it_hides(data, pointer):
    with pytest.raises(InputError) as caught:
        parse_json(data, "the request body", expect=dict)
    assert str(caught.value).startswith(f"the request body: {pointer}: ") and "surrogate" in str(caught.value)


def test_utf8_bytes_that_encode_a_surrogate_are_not_utf8():
    with pytest.raises(InputError, match=r"^the request body: /: not UTF-8 text \(byte 11\)$"):
        parse_json(b'{"label": "\xed\xa0\x80"}', "the request body")


@pytest.mark.parametrize(
    "data, expected",
    [
        (b'{"image": "' + IMAGE.encode() + b'"}', {"image": IMAGE}),
        (b'{"text": "\\\\ud800"}', {"text": "\\ud800"}),  # an escaped backslash, then letters: no surrogate
        (b'{"emoji": "\\ud83d\\ude00"}', {"emoji": "\U0001f600"}),  # a pair is one character
        ('{"label": "caf\u00e9 \U0001f600"}', {"label": "caf\u00e9 \U0001f600"}),
    ],
)
def test_bodies_without_lone_surrogates_parse(data, expected):
    assert parse_json(data, "the request body", expect=dict) == expected
