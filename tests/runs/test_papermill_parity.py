"""Notebooks papermill executes, reef executes too: other kernels' languages, kernel names as
jupyter_client resolves them, papermill's lenient typing for unannotated parameters, and errors
that say what happened and where."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import nbformat
import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.common.exceptions import ParameterError
from reefnb.frontends.cli import main


def fake_r_kernel(tmp_path: Path, monkeypatch) -> str:
    """A kernelspec whose language is R but which runs IPython (no R here): papermill then injects
    parameters with its R translator, whose numbers and strings are also valid Python."""
    folder = tmp_path / "jupyter" / "kernels" / "fake-ir"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "R (IPython stand-in)",
                "language": "R",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "fake-ir"


def r_notebook(path: Path, kernel: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": "R", "language": "R"}
    notebook.metadata["language_info"] = {"name": "R"}
    cell = nbformat.v4.new_code_cell('alpha = 0.5\nlabel = "model"  # what to call it')
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell("print(alpha * 2, label)")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def test_r_notebook_parameters_are_read_and_injected_with_papermills_translator(tmp_path, monkeypatch, capsys):
    kernel = fake_r_kernel(tmp_path, monkeypatch)
    notebook = r_notebook(tmp_path / "r.ipynb", kernel)
    assert main(["params", str(notebook)]) == 0
    out = capsys.readouterr().out
    assert "typed parameter contract" in out and "for Python notebooks" in out
    assert "alpha" in out and "label" in out and "what to call it" in out
    record = reefnb.run(notebook, parameters={"alpha": "0.75", "label": "other"})
    assert record["status"] == "ok", record["error"]
    executed = nbformat.read(record["notebook"]["output_path"], as_version=4)
    injected = next(cell for cell in executed.cells if "injected-parameters" in cell.metadata.get("tags", []))
    assert (
        "alpha = 0.75" in injected.source and 'label = "other"' in injected.source
    )  # R syntax from papermill's translator
    assert "1.5 other" in executed.cells[-1].outputs[0]["text"]


def test_r_parameters_cell_with_arrows_and_r_literals():
    from reefnb.solution.notebook import notebook_parameters

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    cell = nbformat.v4.new_code_cell('alpha <- 0.5\nverbose <- TRUE  # say more\nmodel <- "glm"\nfamily <- binomial()')
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell]
    parameters = notebook_parameters(notebook)
    assert {name: (parameter.type_name, parameter.default) for name, parameter in parameters.items()} == {
        "alpha": ("float", 0.5),
        "verbose": ("bool", True),
        "model": ("str", "glm"),
        "family": (None, "binomial()"),
    }
    assert parameters["verbose"].help == "say more"


def test_r_notebook_without_its_kernel_is_one_line_not_a_traceback(tmp_path, capsys):
    notebook = r_notebook(tmp_path / "r.ipynb", "no-such-ir")
    assert main(["params", str(notebook)]) == 0
    assert main(["run", str(notebook), "--kernel", "no-such-ir"]) == 2
    err = capsys.readouterr().err
    assert "kernel 'no-such-ir' not found" in err and "Traceback" not in err and "NotImplementedError" not in err


def test_kernel_name_python_is_the_native_kernel(tmp_path):
    notebook = write_notebook(tmp_path / "k.ipynb", None, "import reefnb\nreefnb.record('x', 1)", kernel="python")
    record = reefnb.run(notebook)
    assert record["status"] == "ok", record["error"]
    assert reefnb.run(notebook, kernel="python")["status"] == "ok"


def test_unannotated_int_takes_a_float_with_a_note_and_annotated_stays_strict(tmp_path, caplog):
    plain = write_notebook(tmp_path / "plain.ipynb", "var = 1", "import reefnb\nreefnb.record('var', var)")
    with caplog.at_level(logging.INFO, logger="reefnb.solution.params"):
        record = reefnb.run(plain, parameters={"var": "2.5"})
    assert record["status"] == "ok" and record["parameters"]["var"] == 2.5 and record["metrics"]["var"]["value"] == 2.5
    assert any("taken as a float" in message for message in caplog.messages)
    strict = write_notebook(tmp_path / "strict.ipynb", "var: int = 1", "print(var)")
    with pytest.raises(ParameterError, match="parameter 'var' expects int"):
        reefnb.run(strict, parameters={"var": "2.5"})
    with pytest.raises(ParameterError, match="expects int"):  # not a number at all: refused before a kernel starts
        reefnb.run(plain, parameters={"var": "lots"})


def test_a_line_magic_error_says_what_the_magic_said(tmp_path):
    notebook = write_notebook(tmp_path / "magic.ipynb", None, "%undefined-line-magic", "print('never')")
    record = reefnb.run(notebook)
    assert record["status"] == "failed"
    assert record["error"]["name"] == "UsageError" and "undefined-line-magic" in record["error"]["message"]
    assert record["error"]["cell_index"] == 0


def test_the_failing_cell_index_is_the_users_even_with_old_papermill_banners(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    banner = nbformat.v4.new_markdown_cell("<span>an old papermill error banner</span>")
    banner.metadata["tags"] = ["papermill-error-cell-tag"]
    notebook.cells = [
        banner,
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_markdown_cell("<a>anchor</a>"),
        nbformat.v4.new_code_cell("print('fine')"),
        nbformat.v4.new_markdown_cell("more"),
        nbformat.v4.new_markdown_cell("and more"),
        nbformat.v4.new_code_cell("assert False"),
        nbformat.v4.new_code_cell("print('never')"),
    ]
    notebook.cells[2].metadata["tags"] = ["papermill-error-cell-tag"]
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    record = reefnb.run(path)
    assert record["status"] == "failed" and record["error"]["name"] == "AssertionError"
    assert record["error"]["cell_index"] == 6
