"""The action worker (reefnb.actions.worker): frames, loading a solution's entries, calls; and the worker run by its
path with a python over two pipes, as reefnb.actions.api runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid

import numpy
import pytest

from reefnb.actions import worker
from reefnb.actions.worker import HEADER, MAGIC, LoadError, call, frame, load_entries, one_line, read_frame


def test_frames_carry_payloads_back_to_back_and_end_cleanly():
    stream = io.BytesIO(frame(b'{"id":1}') + frame(b"") + frame(b"x" * 70000))
    assert [read_frame(stream.read) for _ in range(4)] == [b'{"id":1}', b"", b"x" * 70000, None]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"nope" + b"\0\0\0\1x", "not a frame"),
        (HEADER.pack(MAGIC, worker.MAX_FRAME_BYTES + 1), "over the limit"),
        (frame(b"abcdef")[:-2], "the channel ended inside a frame (4 of 6 bytes)"),
        (frame(b"abc")[:5], "the channel ended inside a frame (5 of 8 bytes)"),
    ],
)
def test_bytes_that_are_no_whole_frame_are_refused(data, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_frame(io.BytesIO(data).read)


def test_an_action_s_output_is_json_with_numpy_values_made_plain_and_no_nan():
    def detect(image, threshold=0.5):
        return {"boxes": numpy.array([[1, 2], [3, 4]]), "score": numpy.float32(threshold), "n": len(image)}

    assert json.loads(call(detect, {"image": "abc", "threshold": 0.25})) == {
        "boxes": [[1, 2], [3, 4]],
        "score": 0.25,
        "n": 3,
    }
    with pytest.raises(ValueError):
        call(lambda: float("nan"), {})
    with pytest.raises(TypeError, match="set is not JSON data"):
        call(lambda: {1, 2}, {})


def test_an_error_is_one_line_with_its_type_and_at_most_500_characters():
    assert one_line(ValueError("bad\n  input\tthere")) == "ValueError: bad input there"
    assert one_line(KeyboardInterrupt()) == "KeyboardInterrupt"
    long = one_line(RuntimeError("x" * 1000))
    assert long.startswith("RuntimeError: xxx") and long.endswith("...") and len(long) == len("RuntimeError: ") + 500


@pytest.fixture
def solution(tmp_path, monkeypatch):
    """A solution folder with a module of a unique name (imports are cached per process)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"actions_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "import sys\nLOADED = []\n"
        "def double(x):\n    print('noise on stdout')\n    return 2 * x\n"
        "class Model:\n    def __init__(self):\n        LOADED.append(1)\n"
        "    def __call__(self, x):\n        return {'loads': len(LOADED), 'x': x}\n"
        "def leave(**_):\n    sys.exit(3)\n"
        "NOT_CALLABLE = 3\n"
        "class Broken:\n    def __init__(self):\n        raise OSError('no weights')\n",
        encoding="utf-8",
    )
    yield tmp_path, name
    sys.modules.pop(name, None)


def test_entries_load_once_from_the_solution_s_own_modules(solution):
    folder, module = solution
    loaded = load_entries(folder, {"double": f"{module}:double", "model": f"{module}:Model"})
    assert loaded["double"](x=4) == 8
    assert loaded["model"](x=1) == {"loads": 1, "x": 1} and loaded["model"](x=2)["loads"] == 1


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("{module}:absent", "has no attribute 'absent'"),
        ("{module}:NOT_CALLABLE", "is not callable"),
        ("{module}:Broken", "Broken() failed: OSError: no weights"),
        ("no_such_module_here:f", "cannot import no_such_module_here: ModuleNotFoundError"),
        ("json:dumps", "not the solution's own code"),
    ],
)
def test_an_entry_that_cannot_be_loaded_is_one_line_naming_the_action(solution, entry, words):
    folder, module = solution
    with pytest.raises(LoadError) as refused:
        load_entries(folder, {"act": entry.format(module=module)})
    assert str(refused.value).startswith("action 'act': ") and words in str(refused.value)


def exchange(requests: list[dict], folder, entries: dict) -> tuple[list[dict], str]:
    """Run the worker by its path with this python over two pipes: send a hello and ``requests``; its replies and
    its log (stdout and stderr)."""
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, worker.__file__, str(requests_read), str(replies_write)],
        pass_fds=(requests_read, replies_write),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(requests_read)
    os.close(replies_write)
    messages = [{"id": 0, "folder": str(folder), "entries": entries}, *requests]
    with os.fdopen(requests_write, "wb") as channel:
        channel.write(b"".join(frame(json.dumps(message).encode()) for message in messages))
    with os.fdopen(replies_read, "rb") as replies:
        answers = []
        while (payload := read_frame(replies.read)) is not None:
            answers.append(json.loads(payload))
    log = process.communicate(timeout=60)[0].decode()
    return answers, log


def test_the_worker_answers_each_request_by_its_id_and_survives_an_action_s_exit(solution):
    folder, module = solution
    requests = [
        {"id": 1, "action": "double", "input": {"x": 21}},
        {"id": "two", "action": "leave", "input": {}},
        {"id": 3, "action": "double", "input": {"y": 1}},
        {"id": 4, "action": "double", "input": {"x": [1]}},
    ]
    answers, log = exchange(requests, folder, {"double": f"{module}:double", "leave": f"{module}:leave"})
    assert answers == [
        {"id": 0, "ready": True},
        {"id": 1, "output": 42},
        {"id": "two", "error": "SystemExit: 3"},
        {"id": 3, "error": "TypeError: double() got an unexpected keyword argument 'y'"},
        {"id": 4, "output": [1, 1]},
    ]
    assert log.count("noise on stdout") == 2  # the two calls that ran: prints go to the log, never into the replies


def test_a_worker_whose_entries_do_not_load_answers_the_hello_with_one_line(solution):
    folder, module = solution
    answers, _ = exchange([{"id": 1, "action": "x", "input": {}}], folder, {"x": f"{module}:absent"})
    assert answers == [{"id": 0, "error": f"action 'x': {module} has no attribute 'absent'"}]
