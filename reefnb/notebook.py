"""Reading notebooks: validity, the papermill parameters cell, and a content digest."""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ReefError

PARAMETERS_TAG = "parameters"


class NotebookError(ReefError):
    """A notebook file is missing, unreadable or not valid nbformat."""


@dataclass(frozen=True)
class NotebookParameter:
    """One variable of a notebook's ``parameters`` cell."""

    name: str
    type_name: str | None  # "int", "float", "bool", "str", "list", "dict" or None when unknown
    default: Any  # the evaluated default, or the source text when it is not a literal
    default_source: str
    help: str


def read_notebook(path: str | Path):
    """Read and validate a notebook with nbformat; NotebookError names the file on any problem."""
    import nbformat

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            notebook = nbformat.read(handle, as_version=4)
    except FileNotFoundError:
        raise NotebookError(f"{path}: notebook not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"{path}: cannot read: {error}") from None
    except Exception as error:  # nbformat raises json and its own reader errors
        raise NotebookError(f"{path}: not a valid notebook: {_one_line(error)}") from None
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise NotebookError(f"{path}: not valid nbformat: {_one_line(error.message)}") from None
    return notebook


def notebook_digest(notebook) -> str:
    """sha256 of what the notebook computes: each cell's type and source, in order.

    Outputs, execution counts, cell ids and metadata are left out, so running or saving a notebook
    in Jupyter does not change its digest; any edit to a cell's source does.
    """
    canonical = [[cell.get("cell_type"), _source(cell)] for cell in notebook.get("cells", [])]
    data = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def notebook_parameters(notebook) -> dict[str, NotebookParameter]:
    """The variables of the first cell tagged ``parameters`` (empty when there is none)."""
    from papermill.translators import papermill_translators

    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            break
    else:
        return {}
    kernelspec = notebook.get("metadata", {}).get("kernelspec", {})
    language = notebook.get("metadata", {}).get("language_info", {}).get("name") or kernelspec.get("language") or "python"
    translator = papermill_translators.find_translator(kernelspec.get("name", "python3"), language)
    found = translator.inspect(cell)
    parameters = {}
    for item in found:
        default = _literal(item.default)
        type_name = item.inferred_type_name if item.inferred_type_name not in (None, "None") else None
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


_NOT_LITERAL = object()


def _literal(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."
