"""Solutions and notebooks written by tests, and the solutions of the repository."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "solutions" / "hello-sweep"
FLAGSHIP = REPO / "solutions" / "obj-detection-coco-tf"


def write_notebook(path: Path, parameters: str | None, *cells: str, kernel: str = "python3") -> Path:
    """A notebook with an optional cell tagged ``parameters`` followed by code cells."""
    import nbformat  # here, after conftest's guard on rfc3987_syntax

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(cell)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def write_solution(folder: Path, manifest: dict, parameters: str | None = "x = 1", *cells: str) -> Path:
    """A solution folder with ``solution.json`` and a ``main.ipynb``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_notebook(folder / "main.ipynb", parameters, *cells)
    (folder / "solution.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder
