"""What a package needs to run (reefnb.sharing.requires): imports mapped to distributions in the kernel's
environment (this interpreter's here: numpy and PyYAML are installed in it), pinned to the versions of the runs."""

from __future__ import annotations

import sys

import nbformat
import pytest

from reefnb.sharing.requires import notebook_requires, requirements_txt

CELLS = [
    "import os, json\nimport numpy as np",
    "from yaml import safe_load\nimport reefnb\nimport helper_module\nfrom . import sibling",
    "import no_such_module_anywhere.sub",
]


@pytest.fixture
def notebook(tmp_path):
    document = nbformat.v4.new_notebook()
    document.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    document.metadata["reef"] = {"requires": {"packages": ["pandas>=2"], "tools": ["git"]}}
    path = tmp_path / "main.ipynb"
    nbformat.write(document, path)
    return path


def run_with(packages: dict) -> dict:
    return {"environment": {"packages": packages}}


def test_imports_become_distributions_pinned_to_the_last_run_s_versions(notebook):
    warnings: list[str] = []
    records = [run_with({"numpy": "1.0.0"}), run_with({"numpy": "2.1.0", "PyYAML": "6.0.2"})]
    requires = notebook_requires(notebook, records, local={"helper_module"}, warnings=warnings)
    assert requires == {
        "python": f">={sys.version_info.major}.{sys.version_info.minor}",
        "packages": ["no-such-module-anywhere", "numpy==2.1.0", "pandas>=2", "pyyaml==6.0.2"],
        "tools": ["git"],
    }
    (warning,) = warnings
    assert warning.startswith("main.ipynb: import 'no_such_module_anywhere': no installed distribution provides it")
    assert "kept as the unpinned requirement 'no-such-module-anywhere'" in warning


def test_without_recorded_versions_the_kernel_s_installed_ones_are_taken(notebook):
    from importlib.metadata import version

    packages = notebook_requires(notebook, [{}], local={"helper_module"})["packages"]
    assert f"numpy=={version('numpy')}" in packages and f"pyyaml=={version('PyYAML')}" in packages


def test_a_local_module_s_imports_are_named_by_the_module_that_imports_them(notebook):
    warnings: list[str] = []
    requires = notebook_requires(
        notebook,
        [run_with({"numpy": "2.1.0"})],
        local={"helper_module"},
        warnings=warnings,
        module_imports={"another_missing_one": "helper_module.py", "numpy": "helper_module.py"},
    )
    assert "another-missing-one" in requires["packages"] and "numpy==2.1.0" in requires["packages"]
    assert any(warning.startswith("helper_module.py: import 'another_missing_one'") for warning in warnings)


def test_a_declared_package_is_not_added_again(tmp_path):
    document = nbformat.v4.new_notebook()
    document.cells = [nbformat.v4.new_code_cell("import numpy")]
    document.metadata["reef"] = {"requires": {"packages": ["NumPy<3"]}}
    nbformat.write(document, tmp_path / "main.ipynb")
    requires = notebook_requires(tmp_path / "main.ipynb", [run_with({"numpy": "2.1.0"})])
    assert requires["packages"] == ["NumPy<3"] and "tools" not in requires


def test_requirements_pin_each_declared_package_to_the_lock():
    data = {"requires": {"packages": ["NumPy>=1.20", "pandas==2.2.2", "tqdm", "scipy; python_version < '4'", "!bad"]}}
    lock = {"packages": {"numpy": "2.1.0", "SciPy": "1.14.1"}}
    assert requirements_txt(data, lock) == ('numpy==2.1.0\npandas==2.2.2\nscipy==1.14.1; python_version < "4"\ntqdm\n')
    assert requirements_txt({}, lock) == ""
