"""Hostile request bodies to the JupyterLab server's REST endpoints (issue 15, case 6), on a real server
from pytest-jupyter: nesting 10,000 deep, a 5,000-digit integer, a body that is no object, one over the
size limit. Each is a 400 whose message is one line naming the JSON pointer; nothing runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

# pytest-jupyter's server, for this module only; skips without jupyter_server
from helpers.lab_server import *  # noqa: F403
from helpers.solutions import HELLO
from tornado.httpclient import HTTPClientError

from reefnb.frontends.server import MAX_BODY_BYTES


@pytest.fixture
def root(jp_root_dir: Path) -> Path:
    shutil.copytree(
        HELLO, jp_root_dir / "hello-sweep", ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json")
    )
    return jp_root_dir


BODIES = {
    "nested 10,000 deep": (
        '{"path": "hello-sweep/main.ipynb", "parameters": {"samples": ' + "[" * 10_000 + "]" * 10_000 + "}}",
        "the request body: /parameters/samples/0/0/0",
    ),
    "a 5,000-digit integer": (
        '{"path": "hello-sweep/main.ipynb", "parameters": {"samples": ' + "9" * 5_000 + "}}",
        "the request body: /parameters/samples: an integer of 5000 digits",
    ),
    "an array": ("[1, 2]", "the request body: /: expected an object, got an array"),
    "not JSON": ('{"path": ', "the request body: /: invalid JSON at line 1 column 10"),
    "over the size limit": (
        '{"path": "hello-sweep/main.ipynb", "pad": "' + "x" * MAX_BODY_BYTES + '"}',
        "larger than the limit",
    ),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_a_hostile_body_is_a_one_line_400_and_runs_nothing(case, jp_fetch, jp_serverapp, jp_asyncio_loop, root):
    body, expected = BODIES[case]
    with pytest.raises(HTTPClientError) as raised:
        jp_asyncio_loop.run_until_complete(jp_fetch("reef", "api", "runs", method="POST", body=body))
    response = raised.value.response
    assert response.code == 400
    answer = json.loads(response.body)
    assert "\n" not in answer["message"] and expected in answer["message"], answer
    assert "Traceback" not in response.body.decode()
    assert not (root / "hello-sweep" / "runs").exists()
