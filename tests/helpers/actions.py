"""Actions: a small solution with actions of every kind, ``reef serve`` as a process and ``request`` to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

from helpers.servers import stop_process
from helpers.solutions import FLAGSHIP, write_solution

ACTIONS_CODE = '''
import os

LOADS = []


def add(a, b):
    return {"sum": a + b}


class Count:
    """Loaded once: __init__ counts the loads, each call the calls."""

    def __init__(self):
        LOADS.append(1)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        print("this print must not break the worker protocol")
        return {"loads": len(LOADS), "calls": self.calls, "pid": os.getpid()}


def boom(text="x"):
    raise ValueError(f"refused {text}\\nsecond line")


def bad_output():
    return {"sum": "not a number"}


def leave(code=3):
    os._exit(code)


def sleep(seconds=0.2):
    import time
    time.sleep(seconds)
    return {"pid": os.getpid()}
'''


def toy_solution(folder: Path) -> tuple[Path, str]:
    """A solution whose module has a unique name (modules are imported once per process, by name)."""
    module = f"toyapi_{uuid.uuid4().hex[:8]}"
    number = {"type": "number"}
    manifest = {
        "name": "toy-actions",
        "version": "0.1.0",
        "workflows": {"run": {"notebook": "main.ipynb"}},
        "api": {
            "actions": {
                "add": {
                    "entry": f"{module}:add",
                    "description": "a + b",
                    "input": {
                        "type": "object",
                        "required": ["a", "b"],
                        "additionalProperties": False,
                        "properties": {"a": number, "b": number},
                    },
                    "output": {"type": "object", "required": ["sum"], "properties": {"sum": number}},
                },
                "count": {"entry": f"{module}:Count", "input": {"type": "object", "additionalProperties": False}},
                "boom": {"entry": f"{module}:boom"},
                "bad_output": {
                    "entry": f"{module}:bad_output",
                    "output": {"type": "object", "properties": {"sum": number}},
                },
                "leave": {"entry": f"{module}:leave"},
                "sleep": {"entry": f"{module}:sleep"},
            }
        },
    }
    write_solution(folder, manifest)
    (folder / f"{module}.py").write_text(ACTIONS_CODE, encoding="utf-8")
    return folder, module


@contextmanager
def reef_serve(solution: Path, *options: str, timeout: float = 120):
    """``reef serve SOLUTION --port 0 --json`` as a process; yields (ready info, process). Stopped with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reefnb", "serve", str(solution), "--port", "0", "--json", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        deadline = time.monotonic() + timeout
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"reef serve exited {process.wait()}: {process.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline
        yield json.loads(line), process
    finally:
        stop_process(process)


def synthetic_frames(count: int, seed: int = 2017):
    """The flagship's synthetic images (uint8 RGB) and their COCO annotations, made by the solution's own code."""
    if str(FLAGSHIP) not in sys.path:
        sys.path.insert(0, str(FLAGSHIP))
    from detbench.data import SHAPES, synthetic_images

    images, coco = synthetic_images(count, seed)
    names = {category: name for category, name in SHAPES.values()}
    labels = [
        sorted({names[a["category_id"]] for a in coco["annotations"] if a["image_id"] == index + 1})
        for index in range(count)
    ]
    return images, labels


def encode(pixels, format: str = "PNG") -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def request(
    info: dict, path: str, body=None, token: str | None = "use", method: str | None = None, raw: bytes | None = None
):
    """(status, JSON answer) of one HTTP request to the ``reef serve`` that ``info`` (its ready line) describes."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {info['token'] if token == 'use' else token}"
    call = urllib.request.Request(info["url"] + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
