"""What ``reef init`` and ``reef reproduce`` start from (reefnb.sharing.sources): a folder, a package, a component.

Registry components (``NAME@RANGE``) are pulled in tests/sharing/test_registry.py; here, folders and packages.
"""

from __future__ import annotations

import pytest
from helpers.registry import make_package
from helpers.solutions import write_solution

from reefnb.common.exceptions import InitError
from reefnb.common.paths import solutions_home
from reefnb.sharing.package import export_package
from reefnb.sharing.sources import init, open_init_source, resolve_source
from reefnb.solution.manifest import load_solution

MANIFEST = {"name": "own", "version": "1.0.0", "workflows": {"run": {"notebook": "main.ipynb"}}}


def imported() -> set:
    return set(solutions_home().iterdir()) if solutions_home().is_dir() else set()


def test_the_user_s_own_folder_or_solution_is_taken_as_it_is_and_trusted(tmp_path):
    folder = write_solution(tmp_path / "own", MANIFEST)
    assert open_init_source(folder) == (folder, None, False)
    solution = load_solution(folder)
    assert open_init_source(solution) == (solution, None, False)
    assert resolve_source(folder) == folder and not imported()


def test_a_package_is_imported_once_and_its_code_is_not_trusted(tmp_path):
    package = make_package(tmp_path, "demo", "1.0.0")
    folder, locked, foreign = open_init_source(package)
    assert folder == solutions_home() / "demo-1.0.0" and load_solution(folder).name == "demo"
    assert foreign is True and locked == {}  # pinned to its own lock (this package's has no packages)
    assert resolve_source(package) == folder and imported() == {folder}  # the same package again: the same folder
    assert open_init_source(folder)[2] is True  # its folder, imported before, is still not the user's own


def test_a_dry_run_plans_from_a_temporary_import_and_leaves_nothing(tmp_path):
    package = make_package(tmp_path, "demo", "1.0.0")
    plans = []
    assert init(package, native=True, dry_run=True, on_plan=plans.append) == {}
    (plan,) = plans
    assert plan.solution.name == "demo" and plan.target == "native"
    assert not plan.solution.path.exists() and not imported()


def test_an_init_that_fails_removes_the_package_it_imported(tmp_path):
    manifest = {**MANIFEST, "name": "future", "requires": {"python": ">=99"}}
    package = export_package(write_solution(tmp_path / "future", manifest), tmp_path / "future.reef.zip")["package"]
    with pytest.raises(InitError, match="no interpreter matching >=99"):
        init(package, native=True)
    assert not imported()
