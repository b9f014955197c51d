"""Hostile paths through the JupyterLab server (issue 15, case 4): ``POST /reef/api/runs`` for a notebook of a
solution whose manifest names a workflow notebook outside the solution (and the server's root) is refused with
one line, and nothing runs. A real jupyter_server from pytest-jupyter; its fixtures for this module only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# pytest-jupyter's server, for this module only; skips without jupyter_server
from helpers.lab_server import *  # noqa: F403
from helpers.solutions import write_notebook

SECRET = "TOPSECRET-51c0de"


@pytest.fixture
def post(call):
    """post(ENDPOINT, BODY) -> (status, JSON answer), 4xx answers included."""
    return lambda endpoint, body: call("POST", endpoint, body=body)


@pytest.fixture
def beside(jp_root_dir: Path) -> Path:
    """A folder beside the server's root: a notebook that leaves a mark when it runs, and one that is a secret."""
    folder = jp_root_dir.parent / "beside"
    write_notebook(folder / "x.ipynb", "x = 1", f"open({str(folder / 'RAN')!r}, 'w').write('ran')")
    (folder / "secret.ipynb").write_text(f"{SECRET} is not JSON", encoding="utf-8")
    return folder


@pytest.mark.parametrize("target", ["x.ipynb", "secret.ipynb"])
@pytest.mark.parametrize("way", ["dotdot", "absolute", "link"])
def test_a_run_request_never_runs_a_notebook_outside(post, jp_root_dir, beside, way, target):
    folder = jp_root_dir / "victim"
    write_notebook(folder / "main.ipynb", "x = 1", "print(x)")
    (folder / "link.ipynb").symlink_to(beside / target)
    named = {"dotdot": f"../../beside/{target}", "absolute": str(beside / target), "link": "link.ipynb"}[way]
    workflows = {"run": {"notebook": "main.ipynb"}, "benchmark": {"notebook": named}}
    (folder / "solution.json").write_text(json.dumps({"name": "victim", "version": "0.1.0", "workflows": workflows}))

    status, answer = post("runs", {"path": "victim/main.ipynb", "workflow": "benchmark"})

    assert status == 400
    assert (
        answer["message"]
        == f"{folder / 'solution.json'}: /workflows/benchmark/notebook: path leaves the solution folder"
    )
    assert SECRET not in json.dumps(answer)
    assert not (beside / "RAN").exists() and not (folder / "runs").exists()
