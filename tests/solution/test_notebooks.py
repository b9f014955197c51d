"""The notebooks in notebooks/ run end to end on a real kernel."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from conftest import REPO

import reefnb

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path):
    # A private copy of the tree the notebook refers to, so runs/ land in tmp_path.
    shutil.copytree(REPO / "solutions", tmp_path / "solutions", ignore=shutil.ignore_patterns("runs"))
    (tmp_path / "notebooks").mkdir()
    copy = shutil.copy(notebook, tmp_path / "notebooks" / notebook.name)
    record = reefnb.run(copy)
    assert record["status"] == "ok", record["error"]
    executed = nbformat.read(record["notebook"]["output_path"], as_version=4)
    assert not [output for cell in executed.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    # %reef shows a mistake as a red message, not an exception: only cells tagged for it may show one.
    unexpected = [
        cell.source
        for cell in executed.cells
        if "reef-error-expected" not in cell.metadata.get("tags", [])
        for output in cell.get("outputs", [])
        if "reef-message reef-error" in output.get("data", {}).get("text/html", "")
    ]
    assert not unexpected, unexpected


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ should hold at least the quickstart"
