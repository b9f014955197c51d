"""The public API's docstrings follow one convention, NumPy style (as papermill and pandas), so that the API page
(docs/api.md, mkdocstrings with ``docstring_style: numpy``) renders a parameter table for each of them.

Each name of ``reefnb.__all__`` that is a function or a class, and the public methods and properties of the
classes users hold (``Solution``, ``Store``, ``Actions``, ``Detector``), has a one-line summary ending in a period;
its sections parse without a warning of griffe's NumPy parser (the parser mkdocstrings uses: a parameter that is
not in the signature, a section it cannot read); every parameter of its signature is documented under
``Parameters``, and a function that returns something has a ``Returns`` section. The source is read statically,
so nothing of reefnb is imported but its lazy ``__init__``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import griffe
import pytest

import reefnb

ROOT = Path(__file__).resolve().parents[2]
CLASSES_WITH_PUBLIC_METHODS = {"Solution", "Store", "Actions", "Detector"}
PUBLIC_NAMES = sorted(name for name in reefnb._API if name in reefnb.__all__)
CONSTANTS = {"RECORD_MIME"}  # public values, not functions or classes: nothing to document as a signature


@pytest.fixture(scope="module")
def package() -> griffe.Module:
    return griffe.load("reefnb", search_paths=[str(ROOT)], docstring_parser="numpy", resolve_aliases=False)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def parse_numpy(item: griffe.Object) -> tuple[list[griffe.DocstringSection], list[str]]:
    """The sections of ``item``'s docstring and the warnings griffe's NumPy parser gave on the way."""
    collect = _Collect()
    logger = logging.getLogger("griffe")
    logger.addHandler(collect)
    try:
        sections = item.docstring.parse("numpy")
    finally:
        logger.removeHandler(collect)
    return sections, collect.messages


def is_property(item: griffe.Object) -> bool:
    return "property" in item.labels


def returns_something(item: griffe.Object) -> bool:
    return item.is_function and not is_property(item) and item.returns is not None and str(item.returns) != "None"


def docstring_problems(qualified_name: str, item: griffe.Object) -> list[str]:
    """What keeps ``item``'s docstring from the convention, one line each (none when it follows it)."""
    if item.docstring is None or not item.docstring.value.strip():
        return [f"{qualified_name}: no docstring"]
    lines = item.docstring.value.strip().splitlines()
    problems = []
    if len(lines) > 1 and lines[1].strip():
        problems.append(f"{qualified_name}: the summary is more than one line (a blank line must follow it)")
    if not lines[0].rstrip().endswith("."):
        problems.append(f"{qualified_name}: the summary line does not end with a period")
    sections, warnings = parse_numpy(item)
    problems += [f"{qualified_name}: numpy parser: {warning}" for warning in warnings]
    if is_property(item):
        return problems
    kinds = {section.kind for section in sections}
    documented = {
        parameter.name.lstrip("*")
        for section in sections
        if section.kind in (griffe.DocstringSectionKind.parameters, griffe.DocstringSectionKind.other_parameters)
        for parameter in section.value
    }
    signature = [parameter.name for parameter in item.parameters if parameter.name not in ("self", "cls")]
    missing = [name for name in signature if name not in documented]
    if missing:
        problems.append(f"{qualified_name}: parameters not under 'Parameters': {', '.join(missing)}")
    if returns_something(item) and not kinds & {
        griffe.DocstringSectionKind.returns,
        griffe.DocstringSectionKind.yields,
    }:
        problems.append(f"{qualified_name}: returns {item.returns} but has no 'Returns' section")
    return problems


def defined_object(package: griffe.Module, name: str) -> griffe.Object:
    """What documents public ``name``: its object, or the function or class its module binds it to
    (``reproduce_solution = reproduce``), as the API page's hook (docs/hooks/api_reference.py) renders it."""
    item = package[f"{reefnb._API[name]}.{name}"]
    if item.is_attribute and item.value is not None:
        bound = item.parent.members.get(str(item.value))
        if bound is not None and (bound.is_function or bound.is_class):
            return bound
    return item


@pytest.mark.parametrize("name", [name for name in PUBLIC_NAMES if name not in CONSTANTS])
def test_public_api_docstrings_follow_numpy_style(package: griffe.Module, name: str) -> None:
    item = defined_object(package, name)
    assert item.is_function or item.is_class, (
        f"reefnb.{name} is a {item.kind.value}: list it in CONSTANTS if it is a value"
    )
    problems = docstring_problems(f"reefnb.{name}", item)
    if name in CLASSES_WITH_PUBLIC_METHODS:
        for member in item.members.values():
            if not member.name.startswith("_") and (member.is_function or is_property(member)):
                problems += docstring_problems(f"reefnb.{name}.{member.name}", member)
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_docstring_that_breaks_the_convention() -> None:
    """The check itself: a parameter left out, an unknown one, a summary over two lines and no Returns are found."""
    function = griffe.Function(
        "scale",
        parameters=griffe.Parameters(
            griffe.Parameter("value", annotation="float"), griffe.Parameter("factor", annotation="float")
        ),
        returns="float",
    )
    function.docstring = griffe.Docstring(
        "Multiply a value\nby a factor.\n\nParameters\n----------\nvalue : float\n    The value.\nfactors : "
        "float\n    A typo.\n",
        parent=function,
        parser="numpy",
    )
    problems = "\n".join(docstring_problems("scale", function))
    assert "more than one line" in problems
    assert "'factors' does not appear in the function signature" in problems
    assert "parameters not under 'Parameters': factor" in problems
    assert "no 'Returns' section" in problems
