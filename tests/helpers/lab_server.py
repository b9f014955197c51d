"""A real jupyter_server with reefnb's extension enabled, from pytest-jupyter, for the test modules that
``from helpers.lab_server import *``: its fixtures (``jp_fetch``, ``jp_serverapp``, ``jp_root_dir``...) stay with those
modules (as a plugin they would wrap every test of the suite). Importing it skips the module where
jupyter_server or pytest-jupyter is not installed.

``call(METHOD, ENDPOINT, path=..., body=...)`` asks the Reef REST API; a module's own ``root`` fixture (the
server's root, filled before the server answers) replaces the bare one here.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
pytest.importorskip("pytest_jupyter", reason="pytest-jupyter is not installed (pip install 'pytest-jupyter[server]')")

from jupyter_core.utils import ensure_event_loop  # noqa: E402
from pytest_jupyter.jupyter_server import *  # noqa: E402, F403
from tornado.httpclient import HTTPClientError  # noqa: E402


@pytest.fixture
def jp_asyncio_loop():
    """pytest-jupyter's loop (jupyter_core's loop of this thread), made this thread's current loop again: an earlier
    test of the same process that ended an ``asyncio.run`` left the thread with none while jupyter_core kept its
    loop, and the first request failed with "There is no current event loop" (the order of the files decides)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*WindowsSelectorEventLoopPolicy.*", category=DeprecationWarning)
        loop = ensure_event_loop(prefer_selector_loop=True)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"reefnb": True}}}


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    """The server's root (a module fills its own)."""
    return jp_root_dir


@pytest.fixture
def call(jp_fetch, jp_serverapp, jp_asyncio_loop, root):
    """call(METHOD, ENDPOINT, path=..., body=...) -> (status, JSON or text), 4xx answers included."""

    def request(
        method: str, endpoint: str, path: str | None = None, body: dict | None = None, headers: dict | None = None
    ):
        params = {"path": path} if path is not None else {}
        kwargs = {"method": method, "params": params}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        if headers is not None:
            kwargs["headers"] = headers
        try:
            response = jp_asyncio_loop.run_until_complete(jp_fetch("reef", "api", endpoint, **kwargs))
        except HTTPClientError as error:
            response = error.response
            assert response is not None, error
        text = response.body.decode("utf-8")
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return response.code, json.loads(text) if is_json else text

    return request
