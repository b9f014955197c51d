"""What an export finds before it writes a package (reefnb.sharing.export_scan): files the code names, local modules,
files the runs read, paths in parameters; on real files in ``tmp_path``."""

from __future__ import annotations

import ast
import os
import sys

import nbformat
import pytest

from reefnb.common.exceptions import ParameterError
from reefnb.sharing.export_scan import (
    MAX_FOLDERS_UP,
    code_trees,
    imported_modules,
    kernel_python,
    local_modules,
    relative_outside,
    relative_parameter,
    static_files,
    traced_files,
)


def notebook(*sources: str):
    document = nbformat.v4.new_notebook()
    document.cells = [nbformat.v4.new_markdown_cell("import not_code")]
    document.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    return document


def touch(path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path):
    """A solution folder with data files, and a file outside it."""
    root = tmp_path / "solution"
    for name in ("data/train.csv", "data/test.csv", "data/notes/a.txt", "data/notes/b.txt", "config/settings.json"):
        touch(root / name)
    touch(root / "data" / "deep" / "x.json")
    touch(tmp_path / "outside.csv")
    (root / "data" / "link.csv").symlink_to(tmp_path / "outside.csv")
    return root


def test_files_named_by_string_and_path_expressions_and_globs_are_found(folder):
    code = notebook(
        "import os, glob\nfrom pathlib import Path\ndata_dir = 'data'\n%matplotlib inline\n!ls",
        "train = os.path.join(data_dir, 'train.csv')\ntest = Path(data_dir) / 'test.csv'\nname = 'settings'",
        "settings = open(f'config/{name}.json')\nnotes = glob.glob(data_dir + '/notes/*.txt')",
        "deep = list(Path('data').rglob('*.json'))\nlinked = 'data/link.csv'\nmissing = 'data/none.csv'",
        "outside = '../outside.csv'",
        "this is not python",
    )
    found = static_files(code_trees(code), folder, folder)
    assert sorted(found) == [
        "config/settings.json",
        "data/deep/x.json",
        "data/notes/a.txt",
        "data/notes/b.txt",
        "data/test.csv",
        "data/train.csv",
    ]  # not the link out, not a missing file, nothing outside the folder
    assert found["data/train.csv"] == (folder / "data" / "train.csv").resolve()


def test_a_cell_that_does_not_parse_is_skipped_and_its_magics_too():
    trees = code_trees(notebook("%time x = 1\nimport numpy", "def broken(:", "from pandas import DataFrame"))
    assert len(trees) == 2 and all(isinstance(tree, ast.Module) for tree in trees)
    code = notebook("import numpy.linalg, os\nfrom pandas import DataFrame\nfrom . import sibling", "def (")
    assert imported_modules(code) == ["numpy", "os", "pandas"]


def test_local_modules_are_followed_through_their_own_imports(tmp_path):
    touch(tmp_path / "helper.py", "import utils\nimport requests\n")
    touch(tmp_path / "utils" / "__init__.py", "from utils.io import load\n")
    touch(tmp_path / "utils" / "io.py", "import numpy\nimport helper\n")
    touch(tmp_path / "unused.py", "import torch\n")
    found = local_modules([ast.parse("import helper\nimport pandas")], tmp_path, tmp_path)
    assert found.names == {"helper", "utils"}
    assert sorted(found.files) == ["helper.py", "utils/__init__.py", "utils/io.py"]
    assert found.imports == {"requests": "helper.py", "numpy": "utils/io.py"}  # local names are not distributions
    assert len(found.trees) == 3


def test_files_the_runs_read_are_inside_when_they_still_exist_else_named_outside(folder):
    records = [
        {"files_read": ["data/train.csv", "data/gone.csv", "/etc/hostname"]},
        {"files_read": ["data/test.csv", "/etc/hostname"]},
        {},
    ]
    inside, outside = traced_files(records, folder)
    assert sorted(inside) == ["data/test.csv", "data/train.csv"] and outside == ["/etc/hostname"]


def test_a_file_outside_is_named_relative_only_close_by_and_below_a_shared_folder(tmp_path):
    solution = tmp_path / "work" / "solution"
    assert relative_outside(str(tmp_path / "work" / "data" / "x.csv"), solution) == ("../data/x.csv", "")
    far = tmp_path / "a" / "b" / "c" / "x.csv"
    name, why = relative_outside(str(far), tmp_path / "work" / "one" / "two" / "solution")
    assert name is None and why == f"4 folders above the solution (at most {MAX_FOLDERS_UP} are named)"
    assert relative_outside("/etc/hostname", solution) == (None, "it shares no folder with the solution but the root")


def test_an_absolute_path_parameter_inside_becomes_relative_and_one_outside_is_refused(folder, tmp_path):
    notebook_folder = folder / "notebooks"
    value = str(folder / "data" / "train.csv")
    assert relative_parameter("data", value, notebook_folder, folder, "main.ipynb") == "../data/train.csv"
    assert relative_parameter("n", 3, notebook_folder, folder, "main.ipynb") == 3
    assert relative_parameter("name", "plain", notebook_folder, folder, "main.ipynb") == "plain"

    outside = str(tmp_path / "outside.csv")
    with pytest.raises(ParameterError) as refused:
        relative_parameter("data", outside, notebook_folder, folder, "main.ipynb")
    assert str(refused.value).startswith(f"main.ipynb: parameter 'data' = {outside!r} is an absolute path outside")
    assert f"reef export --external outside={outside}" in str(refused.value)

    used: set[str] = set()
    externals = {str((tmp_path / "outside.csv").resolve()): "external/outside/outside.csv"}
    placed = relative_parameter("data", outside, notebook_folder, folder, "main.ipynb", externals, used)
    assert placed == "../external/outside/outside.csv" and used == {str((tmp_path / "outside.csv").resolve())}


def test_the_kernel_s_python_is_the_last_run_s_that_still_exists(tmp_path):
    def ran_on(executable: str) -> dict:
        return {"environment": {"python": {"executable": executable}}}

    assert kernel_python([ran_on(sys.executable), ran_on(str(tmp_path / "gone" / "python"))]) == sys.executable
    assert kernel_python([{}, ran_on("")]) is None
    assert os.path.exists(kernel_python([ran_on(sys.executable)]))
