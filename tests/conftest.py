"""Shared fixtures: every test gets its own REEF_HOME; helpers to write notebooks and solutions."""

from __future__ import annotations

import io
import json
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
HELLO = REPO / "solutions" / "hello-sweep"


@pytest.fixture(autouse=True)
def reef_home(tmp_path, monkeypatch):
    home = tmp_path / "reef-home"
    monkeypatch.setenv("REEF_HOME", str(home))
    return home


def write_notebook(path: Path, parameters: str | None, *cells: str, kernel: str = "python3") -> Path:
    """A notebook with an optional cell tagged ``parameters`` followed by code cells."""
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


@pytest.fixture
def hello(tmp_path) -> Path:
    """A private copy of solutions/hello-sweep (runs/ are written inside the solution)."""
    target = tmp_path / "hello-sweep"
    shutil.copytree(HELLO, target, ignore=shutil.ignore_patterns("runs"))
    return target


@contextmanager
def serving(server):
    """Run a ``socketserver`` server (an HTTP server on 127.0.0.1 the test made) in a thread while inside."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def call(*args: str) -> tuple[int, str, str]:
    """``reef ARGS`` in this process: the exit code, standard output and standard error."""
    from reefnb.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def private_jupyter(tmp_path, monkeypatch):
    """Kernelspecs that reef registers go to a private Jupyter data folder."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-data"))
