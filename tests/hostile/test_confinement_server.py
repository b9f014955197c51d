"""Hostile paths through the JupyterLab server (issue 15, case 4): ``POST /reef/api/runs`` for a notebook of a
solution whose manifest names a workflow notebook outside the solution (and the server's root) is refused with
one line, and nothing runs. A real jupyter_server from pytest-jupyter; its fixtures for this module only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
pytest.importorskip("pytest_jupyter", reason="pytest-jupyter is not installed (pip install 'pytest-jupyter[server]')")

from conftest import write_notebook  # noqa: E402
from pytest_jupyter.jupyter_server import *  # noqa: E402, F403
from tornado.httpclient import HTTPClientError  # noqa: E402

SECRET = "TOPSECRET-51c0de"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"reefnb": True}}}


@pytest.fixture
def post(jp_fetch, jp_serverapp, jp_asyncio_loop):
    """post(ENDPOINT, BODY) -> (status, JSON answer), 4xx answers included."""

    def request(endpoint: str, body: dict) -> tuple[int, dict]:
        try:
            response = jp_asyncio_loop.run_until_complete(jp_fetch("reef", "api", endpoint, method="POST", body=json.dumps(body)))
        except HTTPClientError as error:
            response = error.response
            assert response is not None, error
        return response.code, json.loads(response.body.decode("utf-8"))

    return request


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
    assert answer["message"] == f"{folder / 'solution.json'}: /workflows/benchmark/notebook: path leaves the solution folder"
    assert SECRET not in json.dumps(answer)
    assert not (beside / "RAN").exists() and not (folder / "runs").exists()
