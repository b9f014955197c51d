"""One exceptions module: every exception class of reefnb is defined in reefnb/common/exceptions.py, and its exit
code comes from its kind (docs/exit-codes.md shows the table)."""

from __future__ import annotations

import ast
import inspect
import io
from pathlib import Path

import pytest
from helpers.servers import free_port

import reefnb
from reefnb.common import exceptions, paths
from reefnb.frontends.cli import main
from reefnb.provision.artifacts import fetch_artifact

PACKAGE = Path(reefnb.__file__).parent

# Parts that run where reefnb's core cannot be imported define their own (see common/exceptions.py's docstring).
APART = {"kernel/bench.py": {"LoadGenError"}, "actions/worker.py": {"LoadError"}}

# Defined in files the lead is editing now: common/exceptions.py holds the same class, and each file
# imports it from there once its owner moves it (listed in the report of issue 17's "one of each").
PENDING: dict[str, set[str]] = {}


def _exception_classes(path: Path) -> set[str]:
    """Classes ``path`` defines whose bases look like exceptions
    (a name ending in Error or Exception, or one of ours)."""
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


KINDS = (
    exceptions.WrongInput,
    exceptions.Failure,
    exceptions.EnvironmentFailure,
    exceptions.NetworkFailure,
    exceptions.StoreFailure,
)
DOCS = PACKAGE.parent / "docs" / "exit-codes.md"


def _reef_errors() -> list[type]:
    return [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, exceptions.ReefError)
    ]


def test_only_reef_error_and_the_kinds_set_an_exit_code():
    """An error takes its code from its kind: no subclass says ``exit_code = ...`` again."""
    tree = ast.parse(Path(exceptions.__file__).read_text(encoding="utf-8"))
    setting = {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for statement in node.body
        if isinstance(statement, ast.Assign) and any(ast.unparse(target) == "exit_code" for target in statement.targets)
    }
    assert setting == {"ReefError", *(kind.__name__ for kind in KINDS)}


def test_every_reef_error_is_of_one_kind_and_exits_with_its_code():
    errors = [error for error in _reef_errors() if error is not exceptions.ReefError and error not in KINDS]
    assert len(errors) > 20
    codes = {code for code, _, _ in exceptions.EXIT_CODES}
    for error in errors:
        kind = next((base for base in error.__mro__ if base in KINDS), None)
        assert kind is not None, f"{error.__name__} is of no kind ({', '.join(k.__name__ for k in KINDS)})"
        assert error.exit_code == kind.exit_code in codes, error.__name__
    assert len(codes) == len(exceptions.EXIT_CODES)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("UsageError", 2),
        ("ManifestError", 2),
        ("EnvError", 2),  # a name not allowed, not there, there already
        ("RegistryError", 2),  # a registry refuses or is not known here
        ("RunFailed", 1),
        ("ActionFailed", 1),
        ("InitError", 1),
        ("ComplianceFailed", 1),
        ("EnvFailed", 3),
        ("RegistryUnreachable", 4),
        ("ArtifactUnavailable", 4),
        ("StoreError", 5),
        ("StoreLocked", 5),
        ("RecordPending", 5),
    ],
)
def test_an_error_exits_by_its_meaning_not_by_where_it_was_raised(error, code):
    assert getattr(exceptions, error).exit_code == code
    assert (code == 2) == (code == exceptions.EXIT_USAGE)


def _exit_code_table() -> str:
    """The table of docs/exit-codes.md, made from ``EXIT_CODES`` and the classes of each kind."""
    kinds = {kind.exit_code: kind for kind in KINDS}
    rows = ["| Code | Name | Meaning | Errors (`reefnb.common.exceptions`) |", "|---|---|---|---|"]
    for code, name, meaning in exceptions.EXIT_CODES:
        kind = kinds.get(code)
        errors = []
        if kind is not None:
            members = [
                e
                for e in _reef_errors()
                if e not in KINDS and next(b for b in e.__mro__ if b in KINDS + (exceptions.ReefError,)) is kind
            ]
            errors = [kind.__name__, *sorted(error.__name__ for error in members)]
            if kind is exceptions.WrongInput:
                errors.insert(0, "ReefError")
        rows.append(f"| {code} | `{name}` | {meaning} | {', '.join(f'`{error}`' for error in errors)} |")
    return "\n".join(rows) + "\n"


def test_the_exit_codes_page_shows_the_table_of_this_module():
    """docs/exit-codes.md holds the table between its markers as this module makes it (copy it from the failure)."""
    page = DOCS.read_text(encoding="utf-8")
    begin, end = "<!-- exit codes: begin -->\n", "<!-- exit codes: end -->"
    shown = page[page.index(begin) + len(begin) : page.index(end)]
    assert shown == _exit_code_table(), "docs/exit-codes.md: put this table between its markers:\n" + _exit_code_table()
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/exit-codes.md" in readme
    for page in ("cli.md", "runs.md", "index.md"):  # the pages that speak of exit codes link the one table
        assert "(exit-codes.md)" in (DOCS.parent / page).read_text(encoding="utf-8"), page


def _reef(*arguments: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(list(arguments), out=io.StringIO(), err=err)
    return code, err.getvalue()


def test_an_unreachable_registry_exits_4_not_2(tmp_path):
    code, err = _reef("registry", "add", "gone", (tmp_path / "no-such-repository").as_uri())
    assert code == exceptions.EXIT_NETWORK == 4, err
    assert "registry gone: cannot clone" in err and "Traceback" not in err
    assert "does not appear to be a git repository" in err, err  # git's reason, not its advice after it


def test_an_artifact_no_url_of_which_answers_exits_4_not_2():
    url = f"http://127.0.0.1:{free_port()}/weights.bin"  # nothing listens there: the network is down for it
    with pytest.raises(exceptions.NetworkFailure) as caught:
        fetch_artifact("weights", {"weights": {"url": url, "sha256": "0" * 64}})
    assert isinstance(caught.value, exceptions.ArtifactUnavailable) and caught.value.exit_code == 4
    assert url in str(caught.value)


def test_a_store_that_is_no_store_exits_5_not_2(tmp_path):
    (paths.reef_home() / "results.sqlite").parent.mkdir(parents=True, exist_ok=True)
    (paths.reef_home() / "results.sqlite").write_bytes(b"not a database, " * 256)
    code, err = _reef("results")
    assert code == exceptions.EXIT_STORE == 5, err
    assert "not a usable results store" in err and "Traceback" not in err


def test_an_environment_the_installer_cannot_make_exits_3_not_2(tmp_path):
    code, err = _reef("env", "create", "probe", "--python", str(tmp_path / "no-python"))
    assert code == exceptions.EXIT_ENVIRONMENT == 3, err
    assert "failed" in err and "Traceback" not in err


def test_an_environment_not_there_is_wrong_input(tmp_path):
    code, err = _reef("env", "remove", "nope")
    assert code == exceptions.EXIT_USAGE == 2, err
    assert "no environment 'nope'" in err


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
