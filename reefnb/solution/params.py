"""Run parameters: merge the sources (manifest, file, command line) and cast to declared types."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ParameterError
from reefnb.solution.notebook import NotebookParameter

log = logging.getLogger(__name__)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """Parameters from a JSON or YAML file holding one mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ParameterError(f"{path}: cannot read parameter file: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: cannot read parameter file: not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:  # json and yaml parse errors
        raise ParameterError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {' '.join(str(error).split())[:200]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise ParameterError(f"{path}: /: expected a mapping of parameter names to values")
    return _plain(data)


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
                "%sparameter '%s': %r taken as a float (the default is an int, not annotated; papermill takes it too)", _where(origin), parameter.name, value
            )
            return lenient
        raise ParameterError(f"{_where(origin)}parameter '{parameter.name}' expects {kind}, got {value!r}") from None
    problem = _constraint_problem(parameter.constraints, cast)
    if problem:
        raise ParameterError(f"{_where(origin)}parameter '{parameter.name}' {problem}, got {value!r}")
    return cast


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
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise ValueError from None
