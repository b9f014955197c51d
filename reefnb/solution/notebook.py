"""Reading notebooks: validity, the papermill parameters cell, and a content digest."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import NotebookError
from reefnb.common.json_input import json_pointer

PARAMETERS_TAG = "parameters"


@dataclass(frozen=True)
class NotebookParameter:
    """One variable of a notebook's ``parameters`` cell."""

    name: str
    type_name: str | None  # "int", "float", "bool", "str", "list", "dict" or None when unknown
    default: Any  # the evaluated default, or the source text when it is not a literal
    default_source: str
    help: str
    constraints: dict = field(default_factory=dict)  # JSON Schema keywords from the annotation: enum, minimum ...
    annotated: bool = False  # a type annotation makes the type strict; without one papermill's lenient typing applies

    def schema(self) -> dict:
        """This parameter as a JSON Schema property."""
        prop: dict[str, Any] = {}
        if self.type_name in _JSON_TYPES:
            prop["type"] = _JSON_TYPES[self.type_name]
        prop.update(self.constraints)
        default = _literal(self.default_source)
        if default is not _NOT_LITERAL:
            prop["default"] = list(default) if isinstance(default, tuple) else default
        if self.help:
            prop["description"] = self.help
        return prop


def read_notebook(path: str | Path):
    """Read and validate a notebook with nbformat (as version 4: older ones converted); NotebookError names the file.

    Messages say where a problem is (the file, a line and column, a JSON pointer), never what the file
    holds: nbformat's own messages quote the file's first bytes or its values, so they are not passed on.
    """
    import nbformat

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise NotebookError(f"{path}: notebook not found") from None
    except UnicodeDecodeError:
        raise NotebookError(f"{path}: not a notebook (not UTF-8 text)") from None
    except OSError as error:
        raise NotebookError(f"{path}: cannot read: {error.strerror or type(error).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(f"{path}: not a notebook (not JSON: line {error.lineno} column {error.colno})") from None
    except RecursionError:
        raise NotebookError(f"{path}: not a notebook (JSON nested too deeply)") from None
    version = data.get("nbformat") if isinstance(data, dict) else None
    if type(version) is not int or version not in nbformat.versions:
        raise NotebookError(f"{path}: not a notebook (no 'nbformat' version reef can read)")
    try:
        notebook = nbformat.versions[version].to_notebook_json(data, minor=data.get("nbformat_minor", 0))
        # nbformat 3 (and older) upgraded in place keeps its own node class, which papermill takes for a path:
        # the converted notebook is made of nbformat's v4 nodes again
        notebook = nbformat.from_dict(nbformat.convert(notebook, 4))
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise NotebookError(f"{path}: not valid nbformat {_validation_where(error)}") from None
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
        raise NotebookError(
            f"{path}: not valid nbformat (not the structure of an nbformat {version} notebook)"
        ) from None
    return notebook


def _validation_where(error) -> str:
    """Where a notebook breaks the nbformat schema, and what the schema wants there, in the schema's words only."""
    pointer = json_pointer(list(getattr(error, "absolute_path", None) or []))
    keyword, wanted = getattr(error, "validator", None), getattr(error, "validator_value", None)
    if keyword == "required" and isinstance(wanted, list) and isinstance(error.instance, dict):
        missing = [name for name in wanted if name not in error.instance]
        return f"at {pointer}: missing {', '.join(map(repr, missing))}"
    if keyword == "type":
        return f"at {pointer}: expected {' or '.join(wanted) if isinstance(wanted, list) else wanted}"
    return f"at {pointer}" + (f" ({keyword})" if isinstance(keyword, str) else "")


def notebook_digest(notebook) -> str:
    """sha256 of what the notebook computes: each cell's type and source, in order.

    Outputs, execution counts, cell ids and metadata are left out, so running or saving a notebook
    in Jupyter does not change its digest; any edit to a cell's source does.
    """
    canonical = [[cell.get("cell_type"), _source(cell)] for cell in notebook.get("cells", [])]
    data = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def notebook_parameters(notebook) -> dict[str, NotebookParameter]:
    """The variables of the first cell tagged ``parameters`` (empty when there is none). Papermill (its translators)
    is loaded only for a cell reef's own Python reading does not
    take: `reef export` and `reef validate` go without it."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            break
    else:
        return {}
    kernelspec = notebook.get("metadata", {}).get("kernelspec", {})
    language = (
        notebook.get("metadata", {}).get("language_info", {}).get("name") or kernelspec.get("language") or "python"
    )
    if language == "python":
        parsed = _python_parameters(_source(cell))
        if parsed is not None:
            return parsed
    from papermill.translators import papermill_translators

    translator = papermill_translators.find_translator(kernelspec.get("name", "python3"), language)
    try:
        items = translator.inspect(cell)
    except NotImplementedError:  # papermill reads parameters cells of Python only
        return _generic_parameters(_source(cell))
    parameters = {}
    for item in items:
        default = _literal(item.default)
        type_name = item.inferred_type_name if item.inferred_type_name in _JSON_TYPES else None
        if type_name is None and default is not _NOT_LITERAL and default is not None:
            type_name = type(default).__name__
        parameters[item.name] = NotebookParameter(
            name=item.name,
            type_name=type_name,
            default=item.default if default is _NOT_LITERAL else default,
            default_source=item.default,
            help=item.help or "",
        )
    return parameters


def notebook_language(notebook) -> str:
    """The notebook's language (lower case), from its language_info or kernelspec; python when neither says."""
    metadata = notebook.get("metadata", {})
    return str(
        metadata.get("language_info", {}).get("name") or metadata.get("kernelspec", {}).get("language") or "python"
    ).lower()


_GENERIC_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*(?:=|<-)\s*(.+?)\s*(?:#\s*(.*))?$")
_GENERIC_LITERALS = {
    "TRUE": True,
    "FALSE": False,
    "true": True,
    "false": False,
    "NULL": None,
    "nothing": None,
    "nil": None,
}


def _generic_parameters(source: str) -> dict[str, NotebookParameter]:
    """``name = value`` / ``name <- value`` lines of another language's parameters cell, untyped
    unless the value is a plain number, string or boolean."""
    found = {}
    for line in source.splitlines():
        match = _GENERIC_ASSIGNMENT.match(line)
        if not match:
            continue
        name, text, help_text = match.group(1), match.group(2), match.group(3) or ""
        default = _GENERIC_LITERALS[text] if text in _GENERIC_LITERALS else _literal(text)
        type_name = type(default).__name__ if default is not _NOT_LITERAL and default is not None else None
        found[name] = NotebookParameter(
            name=name,
            type_name=type_name if type_name in _JSON_TYPES else None,
            default=text if default is _NOT_LITERAL else default,
            default_source=text,
            help=help_text.strip(),
        )
    return found


def parameters_schema(parameters: dict[str, NotebookParameter], title: str = "") -> dict:
    """The notebook's parameters as one JSON Schema (draft 2020-12) object."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {name: parameter.schema() for name, parameter in parameters.items()},
        "additionalProperties": False,
    }
    if title:
        schema["title"] = title
    return schema


_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "list": "array",
    "tuple": "array",
    "dict": "object",
}
_BOUNDS = {"Ge": "minimum", "Gt": "exclusiveMinimum", "Le": "maximum", "Lt": "exclusiveMaximum"}


def _python_parameters(source: str) -> dict[str, NotebookParameter] | None:
    """The top-level assignments of a Python parameters cell, with their annotations and comments.

    Annotations understood: int, float, bool, str, list, dict; ``Literal[...]`` (an enum);
    ``Annotated[T, ...]`` with ``range(a, b)``, a ``(low, high)`` tuple (inclusive), or
    ``Ge/Gt/Le/Lt(x)`` and ``Interval(ge=, gt=, le=, lt=)`` as in annotated-types. A trailing
    ``# comment`` is the parameter's help. Nothing is imported or evaluated. None when the cell
    is not plain Python (IPython magics), so that papermill's reader is used instead.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines()
    found: dict[str, NotebookParameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
            type_name, constraints = _annotation(node.annotation)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value, type_name, constraints = node.targets[0].id, node.value, None, {}
        else:
            continue
        default_source = ast.get_source_segment(source, value) or ""
        default = _literal(default_source)
        if type_name is None and default is not _NOT_LITERAL and default is not None:
            type_name = type(default).__name__
        tail = lines[value.end_lineno - 1][value.end_col_offset :] if value.end_lineno else ""
        help_text = tail.split("#", 1)[1].strip() if "#" in tail else ""
        found[name] = NotebookParameter(
            name=name,
            type_name=type_name,
            default=default_source if default is _NOT_LITERAL else default,
            default_source=default_source,
            help=help_text,
            constraints=constraints,
            annotated=isinstance(node, ast.AnnAssign),
        )
    return found


def _annotation(node: ast.expr) -> tuple[str | None, dict]:
    name = _dotted(node.value if isinstance(node, ast.Subscript) else node)
    if not isinstance(node, ast.Subscript):
        return (name if name in _JSON_TYPES else None), {}
    items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if name == "Literal":
        values = [_literal_node(item) for item in items]
        values = [value for value in values if value is not _NOT_LITERAL]
        kinds = {type(value).__name__ for value in values}
        return (kinds.pop() if len(kinds) == 1 else None), {"enum": values}
    if name == "Annotated":
        kind, constraints = _annotation(items[0])
        constraints = dict(constraints)
        for meta in items[1:]:
            constraints.update(_bounds(meta))
        return kind, constraints
    if name in ("list", "List", "tuple", "Tuple"):
        return "list", {}
    if name in ("dict", "Dict"):
        return "dict", {}
    return None, {}


def _bounds(node: ast.expr) -> dict:
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        arguments = [_literal_node(argument) for argument in node.args]
        if name == "range" and len(arguments) in (1, 2) and all(isinstance(a, int) for a in arguments):
            low, high = (0, arguments[0]) if len(arguments) == 1 else arguments
            return {"minimum": low, "maximum": high - 1}
        if name in _BOUNDS and len(arguments) == 1 and isinstance(arguments[0], (int, float)):
            return {_BOUNDS[name]: arguments[0]}
        if name == "Interval":
            keys = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
            return {keys[k.arg]: _literal_node(k.value) for k in node.keywords if k.arg in keys}
    value = _literal_node(node)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return {"minimum": value[0], "maximum": value[1]}
    return {}


def _literal_node(node: ast.expr):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _NOT_LITERAL


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


_NOT_LITERAL = object()


def _literal(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)
