"""One exceptions module: every exception class of reefnb is defined in reefnb/common/exceptions.py, with its exit code."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import reefnb
from reefnb.common import exceptions

PACKAGE = Path(reefnb.__file__).parent

# Parts that run where reefnb's core cannot be imported define their own (see common/exceptions.py's docstring).
APART = {"kernel/bench.py": {"LoadGenError"}, "actions/worker.py": {"LoadError"}}

# Defined in files the lead is editing now: common/exceptions.py holds the same class, and each file
# imports it from there once its owner moves it (listed in the report of issue 17's "one of each").
PENDING: dict[str, set[str]] = {}


def _exception_classes(path: Path) -> set[str]:
    """Classes ``path`` defines whose bases look like exceptions (a name ending in Error or Exception, or one of ours)."""
    ours = set(vars(exceptions))
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
            if any(base.endswith(("Error", "Exception")) or base in ours for base in bases):
                found.add(node.name)
    return found


def test_no_other_module_defines_an_exception():
    defined = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative != "common/exceptions.py" and (classes := _exception_classes(path)):
            defined[relative] = classes
    assert defined == {**APART, **{name: classes for name, classes in PENDING.items() if name in defined}}


def test_every_reef_error_says_its_exit_code():
    errors = [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, exceptions.ReefError)
    ]
    assert len(errors) > 20
    for error in errors:
        assert "exit_code" in vars(error), f"{error.__name__} does not set exit_code"
        assert error.exit_code in (exceptions.EXIT_FAILED, exceptions.EXIT_USAGE)
    assert exceptions.RunFailed.exit_code == exceptions.ActionFailed.exit_code == exceptions.InitError.exit_code == 1


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("reefnb", "PackageError"),
        ("reefnb", "RegistryError"),
        ("reefnb", "ReefError"),
        ("reefnb", "ManifestError"),
        ("reefnb.sharing.package", "PackageError"),
        ("reefnb.sharing.registry", "RegistryError"),
        ("reefnb.provision.artifacts", "ArtifactError"),
        ("reefnb.provision.artifacts", "ArtifactUnavailable"),
        ("reefnb.solution.versions", "VersionError"),
        ("reefnb.solution.versions", "ConflictError"),
        ("reefnb.solution.versions", "CycleError"),
        ("reefnb.solution.confinement", "PathOutside"),
        ("reefnb.solution.notebook", "NotebookError"),
        ("reefnb.runs.query", "QueryError"),
        ("reefnb.sharing.crowd", "ShardError"),
    ],
)
def test_the_old_homes_still_name_the_one_class(module, name):
    """Tests and callers import an error from the module that raises it: that is the class of common.exceptions."""
    imported = __import__(module, fromlist=[name])
    assert getattr(imported, name) is getattr(exceptions, name)
