"""Run parameters: merge the sources (manifest, file, command line) and cast to declared types."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import InputError, ParameterError
from reefnb.common.json_input import parse_json
from reefnb.solution.notebook import NotebookParameter

log = logging.getLogger(__name__)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


MAX_PARAMETER_FILE_BYTES = 16 * 1024 * 1024  # parameters are values, not datasets: give a dataset as a path


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """Parameters from a JSON or YAML file holding one mapping.

    Only a regular file is opened (a fifo, a device or a folder is refused before it is opened, so none can
    hang the run) and only ``MAX_PARAMETER_FILE_BYTES`` are read. JSON goes through the bounded reader
    (``reefnb.common.json_input``: no NaN, infinity or deep nesting); YAML through a safe loader that refuses
    aliases (``*name``), so a few hundred bytes cannot expand into gigabytes (the "billion laughs").
    ParameterError, one line naming the file, for each.
    """
    path = Path(path)
    data = _read_bytes(path)
    if path.suffix.lower() == ".json":
        try:
            values = parse_json(data, str(path), max_bytes=MAX_PARAMETER_FILE_BYTES)
        except InputError as error:
            raise ParameterError(f"{path}: not valid JSON: {error.pointer}: {error.reason}") from None
    else:
        try:
            values = yaml_values(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParameterError(f"{path}: cannot read parameter file: not UTF-8 text") from None
        except ValueError as error:
            raise ParameterError(f"{path}: not valid YAML: {error}") from None
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(key, str) for key in values):
        raise ParameterError(f"{path}: /: expected a mapping of parameter names to values")
    return _plain(values)


def _read_bytes(path: Path) -> bytes:
    """At most ``MAX_PARAMETER_FILE_BYTES`` of a regular file; ParameterError for anything else."""
    try:
        kind = os.stat(path).st_mode
        if not stat.S_ISREG(kind):
            raise ParameterError(f"{path}: cannot read parameter file: {_file_kind(kind)}, not a regular file")
        with open(path, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):  # replaced between the check and the open
                raise ParameterError(f"{path}: cannot read parameter file: not a regular file")
            data = stream.read(MAX_PARAMETER_FILE_BYTES + 1)
    except OSError as error:
        raise ParameterError(f"{path}: cannot read parameter file: {error.strerror or error}") from None
    if len(data) > MAX_PARAMETER_FILE_BYTES:
        raise ParameterError(
            f"{path}: cannot read parameter file: larger than the limit of {MAX_PARAMETER_FILE_BYTES} bytes"
        )
    return data


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def yaml_values(text: str) -> Any:
    """``text`` read as YAML by PyYAML's safe loader, refusing aliases; ValueError, one line saying where, otherwise.

    An alias (``*name``) repeats an anchored value (``&name``); aliases of aliases grow a few hundred bytes into
    gigabytes once the value is copied or written out (the "billion laughs"). Parameters need none, so the
    document is composed, refused at the first node it reaches twice, and only then made into Python values.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_aliases(node)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ValueError(" ".join(str(error).split())[:200]) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    finally:
        loader.dispose()


def _refuse_aliases(root) -> None:
    """ValueError at the first node of the composed document reached a second time (through an alias)."""
    import yaml

    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            mark = node.start_mark
            raise ValueError(
                f"line {mark.line + 1} column {mark.column + 1}: an anchored value repeated by an alias "
                "(*name); aliases are refused here"
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in reversed(node.value) for item in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _plain(value: Any) -> Any:
    """YAML dates and times become ISO strings: parameters must stay JSON values."""
    import datetime

    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def resolve_parameters(
    declared: dict[str, NotebookParameter],
    *sources: tuple[str | None, dict[str, Any]],
) -> dict[str, Any]:
    """Merge ``(origin, values)`` sources in order (later wins) and cast each to its declared type.

    ``origin`` names where the values came from, for error messages. Values from the command
    line arrive as strings and are parsed; values from files keep their JSON/YAML types but must
    still fit the declared type. Unknown names are an error, not a warning.
    """
    merged: dict[str, Any] = {}
    for origin, values in sources:
        for name, value in values.items():
            if name not in declared:
                known = ", ".join(declared) or "none: the notebook has no cell tagged 'parameters'"
                raise ParameterError(f"{_where(origin)}unknown parameter {name!r} (the notebook's parameters: {known})")
            merged[name] = cast_parameter(declared[name], value, origin)
    return merged


def _where(origin: str | None) -> str:
    return f"{origin}: " if origin else ""


def cast_parameter(parameter: NotebookParameter, value: Any, origin: str | None = None) -> Any:
    """``value`` as the parameter's declared type; strings (from the command line) are parsed."""
    kind = parameter.type_name
    try:
        cast = _cast(kind, value)
    except (ValueError, TypeError):
        lenient = _lenient(parameter, value)
        if lenient is not None:
            log.info(
                "%sparameter '%s': %r taken as a float (the default is an int, not annotated; papermill takes it too)",
                _where(origin),
                parameter.name,
                value,
            )
            return lenient
        raise ParameterError(f"{_where(origin)}parameter '{parameter.name}' expects {kind}, got {value!r}") from None
    if _has_non_finite(cast):  # not a JSON value: the run's record could not be read back
        raise ParameterError(
            f"{_where(origin)}parameter '{parameter.name}': NaN and infinities are refused (not JSON values)"
        )
    problem = _constraint_problem(parameter.constraints, cast)
    if problem:
        raise ParameterError(f"{_where(origin)}parameter '{parameter.name}' {problem}, got {value!r}")
    return cast


def _has_non_finite(value: Any) -> bool:
    """Whether ``value`` is or holds (in lists and dicts, at any depth) a NaN or an infinity."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _lenient(parameter: NotebookParameter, value: Any) -> float | None:
    """papermill's typing for an unannotated int default: a float value is taken as it is."""
    if parameter.annotated or parameter.type_name != "int" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _constraint_problem(constraints: dict, value: Any) -> str | None:
    """What the value breaks of the annotation's enum and bounds, or None."""
    if "enum" in constraints and value not in constraints["enum"]:
        return "must be one of " + ", ".join(map(repr, constraints["enum"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        checks = [
            ("minimum", "must be >= {}", lambda bound: value >= bound),
            ("maximum", "must be <= {}", lambda bound: value <= bound),
            ("exclusiveMinimum", "must be > {}", lambda bound: value > bound),
            ("exclusiveMaximum", "must be < {}", lambda bound: value < bound),
        ]
        for key, message, holds in checks:
            if key in constraints and not holds(constraints[key]):
                return message.format(constraints[key])
    return None


def _cast(kind: str | None, value: Any) -> Any:
    if kind == "bool":
        return _to_bool(value)
    if kind in ("int", "float") and isinstance(value, bool):
        raise ValueError
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, (int, str)):
            return int(value)
        raise ValueError
    if kind == "float":
        if isinstance(value, (int, float, str)):
            return float(value)
        raise ValueError
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ValueError
    if kind in ("list", "tuple", "dict"):
        parsed = _parse_structured(value) if isinstance(value, str) else value
        if kind == "dict" and isinstance(parsed, dict):
            return parsed
        if kind != "dict" and isinstance(parsed, (list, tuple)):
            return list(parsed)
        raise ValueError
    # Unknown declared type: parse strings as JSON literals when they are, else keep the text.
    return _parse_structured(value, keep_text=True) if isinstance(value, str) else value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError


def _parse_structured(text: str, keep_text: bool = False) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if keep_text:
            return text
        return yaml_values(text)
