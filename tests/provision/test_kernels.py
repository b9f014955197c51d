"""Which Jupyter kernel runs a notebook on this machine as it is (reefnb.provision.kernels): kernelspecs in a private
Jupyter data folder, nothing started."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.solutions import write_notebook

from reefnb.common.exceptions import ReefError
from reefnb.provision.kernels import (
    KNOWN_KERNELS,
    PYTHON_KERNEL,
    is_python,
    missing_kernel,
    named_kernel,
    native_kernel,
    notebook_kernel,
    refuse_other_languages,
    solution_kernel,
)


@pytest.fixture
def kernels(private_jupyter, tmp_path) -> Path:
    return tmp_path / "jupyter-data" / "kernels"


def kernelspec(kernels: Path, name: str, language: str) -> None:
    """An installed kernelspec (never started here: only its name and language are read)."""
    (kernels / name).mkdir(parents=True)
    spec = {"argv": ["false", "{connection_file}"], "display_name": name.title(), "language": language}
    (kernels / name / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


def notebook(path: Path, kernel: str | None, language: str, display: str | None = None) -> Path:
    write_notebook(path, None, "1")
    data = json.loads(path.read_text(encoding="utf-8"))
    spec = {"name": kernel, "display_name": display or str(kernel).title(), "language": language}
    data["metadata"] = {"kernelspec": spec} if kernel else {"language_info": {"name": language}}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("language", "python"), [("python", True), ("IPython3", True), ("r", False), ("", False)])
def test_python_is_known_by_its_names(language, python):
    assert is_python(language) is python


def test_what_a_notebook_says_of_its_kernel(tmp_path):
    path = notebook(tmp_path / "a.ipynb", "ir", "R", "R 4.3")
    assert notebook_kernel(json.loads(path.read_text())) == {"name": "ir", "display_name": "R 4.3", "language": "r"}
    assert notebook_kernel({"metadata": {}}) == {"name": None, "display_name": None, "language": "python"}


def test_a_python_notebook_runs_on_this_python_natively_and_on_its_own_kernel_for_reef_run(tmp_path, kernels):
    path = notebook(tmp_path / "py.ipynb", "conda-env-elsewhere", "python")
    assert native_kernel(path) == PYTHON_KERNEL
    assert named_kernel(path, json.loads(path.read_text())) == "conda-env-elsewhere"
    unnamed = notebook(tmp_path / "unnamed.ipynb", None, "python")
    assert named_kernel(unnamed, json.loads(unnamed.read_text())) == PYTHON_KERNEL


def test_another_language_runs_on_the_kernel_it_names_else_the_only_one_of_its_language(tmp_path, kernels):
    kernelspec(kernels, "ir-4.3", "R")
    kernelspec(kernels, "bash", "bash")
    assert native_kernel(notebook(tmp_path / "named.ipynb", "bash", "bash")) == "bash"
    other = notebook(tmp_path / "other.ipynb", "ir-4.1", "R")
    assert native_kernel(other) == "ir-4.3"
    assert named_kernel(other, json.loads(other.read_text())) == "ir-4.3"
    kernelspec(kernels, "ir-4.4", "r")
    with pytest.raises(ReefError, match=r"several r kernels are \(ir-4.3, ir-4.4\): name one") as refused:
        native_kernel(other)
    assert str(refused.value).startswith(f"{other}: /metadata/kernelspec: the notebook's kernel 'ir-4.1'")


def test_a_missing_kernel_says_how_to_install_one_of_its_language():
    julia = missing_kernel({"name": "julia-1.9", "display_name": "Julia 1.9", "language": "julia"})
    assert julia.startswith("the notebook's kernel 'julia-1.9' (Julia 1.9, language julia) is not installed here")
    assert julia.endswith(f"install IJulia: {KNOWN_KERNELS['julia'][1]}")
    cobol = missing_kernel({"name": None, "language": "cobol"})
    assert "kernel named by none (language cobol)" in cobol and "`jupyter kernelspec list`" in cobol


def workflows(**notebooks: Path) -> SimpleNamespace:
    return SimpleNamespace(
        workflows={name: SimpleNamespace(notebook=str(path)) for name, path in notebooks.items()},
        manifest_path="solution.json",
        path=None,
    )


def test_a_solution_runs_natively_on_one_kernel_or_says_which_two_workflows_differ(tmp_path, kernels):
    kernelspec(kernels, "bash", "bash")
    python = notebook(tmp_path / "py.ipynb", "python3", "python")
    shell = notebook(tmp_path / "sh.ipynb", "bash", "bash")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("not json", encoding="utf-8")
    assert solution_kernel(workflows(run=shell, check=shell, later=broken)) == "bash"
    assert solution_kernel(workflows()) == PYTHON_KERNEL
    with pytest.raises(ReefError) as refused:
        solution_kernel(workflows(run=python, shell=shell))
    assert str(refused.value).startswith(
        "solution.json: /workflows: workflow 'run' runs on kernel 'python3' and 'shell' on 'bash'"
    )


def test_a_reef_environment_refuses_a_notebook_of_another_language(tmp_path):
    python = notebook(tmp_path / "py.ipynb", "python3", "python")
    refuse_other_languages(workflows(run=python), "new")  # nothing to refuse
    shell = notebook(tmp_path / "sh.ipynb", "bash", "bash")
    with pytest.raises(ReefError, match=r"a bash notebook cannot run in a reef environment \(--env new"):
        refuse_other_languages(workflows(run=python, shell=shell), "new")
