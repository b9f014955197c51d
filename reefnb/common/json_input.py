"""The one reader of JSON that reef does not trust: manifests, packages, locks, registries, shared results, REST bodies.

Python's ``json`` accepts input that later breaks the code reading it: nesting deep enough to raise
RecursionError (here or in a later recursive walk), integers of thousands of digits (ValueError, or
OverflowError once converted to a float), number literals beyond a float's range, lone surrogates
that cannot be written back as UTF-8, ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, yet Python reads
them as floats every comparison with a bound lets through), and files of any size. This reader bounds all of
those and reports each as one line ``SOURCE: /json/pointer: message`` (an InputError), never quoting the input.
Its schema checks (``schema_validator``) take no NaN or infinity for a number either, whichever way it came.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import InputError

# Imported by jsonschema's format checker alone, a package per format at `import jsonschema` (idna and jsonpointer
# stay: requests and others import them): rfc3987_syntax compiles 38 lark grammars (1-2 s), the others take 0.1-0.3 s.
FORMAT_CHECKER_ONLY = (
    "rfc3987_syntax",
    "rfc3987",
    "rfc3986_validator",
    "rfc3339_validator",
    "isoduration",
    "webcolors",
    "uri_template",
    "fqdn",
)


def without_format_checkers() -> None:
    """In a process of reef's own, before anything imports jsonschema (papermill and nbformat do): reef validates
    with no FormatChecker (nor does nbformat), so the process goes without the packages only the format checker
    imports; jsonschema then leaves those formats unchecked, as when they are not installed."""
    for name in FORMAT_CHECKER_ONLY:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


MAX_DEPTH = 64  # nested arrays/objects; the top-level value is level 1
MAX_BYTES = 64 * 1024 * 1024  # default limit of a file or body; callers pass smaller ones where they know better
MAX_INTEGER_DIGITS = 64  # larger integers are refused: nothing reef reads needs them, and float(huge) overflows

_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


class _Refused:
    """A number the parser hooks refused; the walk reports it with its JSON pointer."""

    def __init__(self, reason: str):
        self.reason = reason


def _integer(text: str) -> Any:
    digits = len(text.lstrip("-"))
    return (
        _Refused(f"an integer of {digits} digits (at most {MAX_INTEGER_DIGITS})")
        if digits > MAX_INTEGER_DIGITS
        else int(text)
    )


def _float(text: str) -> Any:
    value = float(text)
    return _Refused("a number beyond the range of a float") if math.isinf(value) else value


def _constant(text: str) -> Any:
    return _Refused(f"{text} is not a JSON number")


def pointer_token(part: object) -> str:
    """One key or index as a JSON pointer (RFC 6901) token: ``~`` and ``/`` escaped."""
    return str(part).replace("~", "~0").replace("/", "~1")


def json_pointer(parts: tuple | list) -> str:
    """The JSON pointer (RFC 6901) of a path of keys and indexes; ``/`` for the whole document. Control
    characters and lone surrogates in keys are shown as ``\\uXXXX``, so the pointer stays on one line."""
    text = "/" + "/".join(pointer_token(part) for part in parts) if parts else "/"
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def parse_json(
    data: bytes | str,
    source: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_bytes: int = MAX_BYTES,
    expect: type | None = None,
    schema: str | None = None,
) -> Any:
    """Parse untrusted JSON ``data`` read from ``source`` (a path or a name used in messages).

    Raises InputError naming ``source`` and the JSON pointer when the data is larger than ``max_bytes``,
    not UTF-8, not JSON, nested deeper than ``max_depth``, holds an integer of more than
    ``MAX_INTEGER_DIGITS`` digits, a number beyond a float's range, ``NaN``, ``Infinity`` or ``-Infinity``, a
    lone surrogate, (with
    ``expect``) is not of that type at the top, or (with ``schema``, a name in ``reefnb/schemas``)
    does not follow that JSON Schema (the first problem in document order).
    """
    if len(data) > max_bytes:
        raise InputError(source, "/", f"larger than the limit of {max_bytes} bytes")
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(source, "/", f"not UTF-8 text (byte {error.start})") from None
    else:
        text = data
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise InputError(source, _deep_pointer(text, max_depth), f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as error:
        raise InputError(
            source, "/", f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except ValueError as error:  # what the hooks did not catch, e.g. a number literal Python cannot convert
        raise InputError(source, "/", f"invalid JSON: {type(error).__name__}") from None
    # Lone surrogates come only from \uD800-\uDFFF escapes or from
    # a str given to us: UTF-8 decoding refuses them in bytes.
    # The cheap checks first (a backslash is a memchr, isascii a flag): a 30 KB base64 body needs neither regex.
    surrogates = ("\\" in text and _SURROGATE_ESCAPE.search(text) is not None) or (
        not isinstance(data, (bytes, bytearray)) and not text.isascii() and _SURROGATE.search(text) is not None
    )
    problem = _first_problem(value, max_depth, surrogates)
    if problem:
        raise InputError(source, json_pointer(problem[0]), problem[1])
    if expect is not None and not isinstance(value, expect):
        raise InputError(
            source, "/", f"expected {_TYPE_NAMES.get(expect, expect.__name__)}, got {describe_type(value)}"
        )
    if schema is not None:
        error = min(
            _schema_validator(schema).iter_errors(value),
            key=lambda error: list(map(str, error.absolute_path)),
            default=None,
        )
        if error is not None:
            raise InputError(source, json_pointer(tuple(error.absolute_path)), _schema_message(error))
    return value


def read_json(
    path: str | Path,
    *,
    max_depth: int = MAX_DEPTH,
    max_bytes: int = MAX_BYTES,
    expect: type | None = None,
    schema: str | None = None,
    source: str | None = None,
) -> Any:
    """Read and parse an untrusted JSON file (see ``parse_json``); InputError for a missing or unreadable file too.

    Only ``max_bytes + 1`` bytes are ever read, and only from a regular file (never a device or a fifo).
    """
    path = Path(path)
    source = source or str(path)
    try:
        if not path.is_file():
            raise InputError(source, "/", "no such file" if not path.exists() else "not a regular file")
        with open(path, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):  # replaced between the check and the open
                raise InputError(source, "/", "not a regular file")
            data = stream.read(max_bytes + 1)
    except OSError as error:
        raise InputError(source, "/", f"cannot read: {error.strerror or error}") from None
    return parse_json(data, source, max_depth=max_depth, max_bytes=max_bytes, expect=expect, schema=schema)


def describe_type(value: Any) -> str:
    """``an object``, ``an array``, ``a string``, ``null``, ... for messages about a value's JSON type."""
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN or an infinity"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@cache
def _schema_validator(name: str):
    return schema_validator(
        json.loads(resources.files("reefnb.schemas").joinpath(f"{name}.schema.json").read_text("utf-8"))
    )


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def schema_validator(schema: dict):
    """A JSON Schema (2020-12) validator of ``schema`` for which NaN and infinities are no number.

    jsonschema takes Python's ``float('nan')`` as a number, and every comparison with a bound is false, so
    ``{"maximum": 10}`` lets NaN through. Here a non-finite float is not of type ``number``, and every bound
    (``minimum``, ``maximum``, their exclusive forms, ``multipleOf``) refuses it, with or without a ``type``.
    """
    return _finite_validator_class()(schema)


@cache
def _finite_validator_class():
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "number",
        lambda checker, instance: (
            base.TYPE_CHECKER.is_type(instance, "number")
            and not (isinstance(instance, float) and not math.isfinite(instance))
        ),
    )
    return jsonschema.validators.extend(
        base, validators={keyword: _finite_bound(base.VALIDATORS[keyword]) for keyword in _BOUNDS}, type_checker=checker
    )


def _finite_bound(check):
    import jsonschema

    def finite_check(validator, bound, instance, schema):
        if isinstance(instance, float) and not math.isfinite(instance):
            yield jsonschema.ValidationError(f"{instance} is not a finite number")
            return
        yield from check(validator, bound, instance, schema)

    return finite_check


def _schema_message(error) -> str:
    """A schema error in words that never quote the value (it may be long, or someone's secret)."""
    rule, wanted = error.validator, error.validator_value
    if isinstance(error.instance, float) and not math.isfinite(error.instance):
        return "NaN or an infinity, not a finite number"
    if rule == "required":
        return error.message.split(" is a required property")[0] + " is required"
    if rule == "type":
        return (
            f"expected {wanted if isinstance(wanted, str) else ' or '.join(wanted)}, got "
            f"{describe_type(error.instance)}"
        )
    if rule == "pattern":
        return f"does not match the pattern {wanted!r}"
    if rule in ("enum", "const"):
        return "is not one of the allowed values"
    return f"fails the schema's rule {rule}: {wanted!r}"[:200]


def _first_problem(value: Any, max_depth: int, surrogates: bool) -> tuple[tuple, str] | None:
    """The path and reason of the first refused value, in document order (an iterative walk: no recursion)."""
    stack: list[tuple[Any, tuple, int]] = [(value, (), 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return path, f"nested deeper than {max_depth} levels"
            children = []
            for key, child in item.items():
                if surrogates and _SURROGATE.search(key):
                    return path, "a key holds a lone surrogate (\\ud800-\\udfff), not valid Unicode"
                children.append((child, (*path, key), depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            if depth > max_depth:
                return path, f"nested deeper than {max_depth} levels"
            stack.extend(reversed([(child, (*path, index), depth + 1) for index, child in enumerate(item)]))
        elif isinstance(item, _Refused):
            return path, item.reason
        elif surrogates and isinstance(item, str) and _SURROGATE.search(item):
            return path, "a lone surrogate (\\ud800-\\udfff), not valid Unicode"
    return None


def _deep_pointer(text: str, max_depth: int) -> str:
    """The pointer of the first container nested deeper than ``max_depth``, found by scanning tokens (no recursion)."""
    stack: list[list] = []  # [kind, key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            if len(stack) >= max_depth:
                return json_pointer([entry[1] for entry in stack])
            stack.append(["[", 0, False] if token == "[" else ["{", "", True])
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
            elif stack:
                stack[-1][2] = True
        elif stack and stack[-1][0] == "{" and stack[-1][2]:
            try:
                stack[-1][1] = json.loads(token)
            except ValueError:
                stack[-1][1] = token[1:-1]
            stack[-1][2] = False
    return "/"
