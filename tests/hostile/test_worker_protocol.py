"""Attacks on the action workers and `reef serve`: actions that write to the reply channel, forge replies, end or
interrupt their process, or hang. A call gets its own answer or one line, never another call's answer; the server
keeps serving; a hung call ends in 504 after --action-timeout while other calls go on."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from helpers.actions import reef_serve
from helpers.servers import wait_until
from helpers.solutions import write_solution

import reefnb
from reefnb.common.exceptions import ActionFailed, ActionTimeout

HOSTILE_CODE = r'''
import fcntl
import inspect
import json
import os
import pathlib
import stat
import struct
import subprocess
import sys
import threading
import time

STRAY = json.dumps({"output": {"sum": 666}}) + "\n"


def add(a, b):
    return {"sum": a + b}


def whoami():
    return {"pid": os.getpid()}


def _reply_channels():
    """Every pipe this process may write to: the reply channel, wherever the worker keeps it."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = int(name)
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                found.append(fd)
        except OSError:
            pass
    return found


def _write_replies(data):
    for fd in _reply_channels():
        os.write(fd, data)


def _frame(payload):
    return b"reef" + struct.pack(">I", len(payload)) + payload


def _own_request_id():
    """The id of the request being answered, read from the worker's stack (what a determined action can do)."""
    frame = inspect.currentframe()
    while frame is not None:
        request = frame.f_locals.get("request")
        if isinstance(request, dict) and "id" in request:
            return request["id"]
        frame = frame.f_back
    return None


def _late_write(written):
    _write_replies(STRAY.encode())
    pathlib.Path(written).touch()  # the test waits for it


def stray(how, tag, written=""):
    if how == "print":
        print(STRAY, end="", flush=True)
    elif how == "fd1":
        os.write(1, STRAY.encode())
    elif how == "child":
        subprocess.run([sys.executable, "-c", f"print({STRAY!r})"], check=True)
    elif how == "stdin":
        sys.stdin.readline()
    elif how == "reply-line":
        _write_replies(STRAY.encode())
    elif how == "reply-text":
        _write_replies(b"not json at all\n")
    elif how == "reply-list":
        _write_replies(b"[1, 2]\n")
    elif how == "frame-list":
        _write_replies(_frame(b"[1, 2]"))
    elif how == "frame-other-id":
        _write_replies(_frame(json.dumps({"id": "0" * 16, "output": {"sum": 666}}).encode()))
    elif how == "frame-own-id":  # its own answer, forged: the real one follows it
        _write_replies(_frame(json.dumps({"id": _own_request_id(), "output": {"tag": tag}}).encode()))
    elif how == "late":  # after its reply: waiting there for the next call
        threading.Timer(0.2, _late_write, (written,)).start()
    return {"tag": tag}


def leave(code=3):
    sys.exit(code)


def interrupt():
    raise KeyboardInterrupt


def hang(pidfile="", seconds=300):
    if pidfile:
        child = subprocess.Popen(["sleep", str(seconds)])
        with open(pidfile + ".part", "w") as out:
            out.write(str(child.pid))
        os.replace(pidfile + ".part", pidfile)
    time.sleep(seconds)
    return {}
'''

ACTIONS = ("add", "whoami", "stray", "leave", "interrupt", "hang")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-actions") / "solution"
    module = f"hostileapi_{uuid.uuid4().hex[:8]}"
    manifest = {
        "name": "hostile-actions",
        "version": "0.1.0",
        "workflows": {"run": {"notebook": "main.ipynb"}},
        "api": {"actions": {name: {"entry": f"{module}:{name}"} for name in ACTIONS}},
    }
    write_solution(folder, manifest)
    (folder / f"{module}.py").write_text(HOSTILE_CODE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def two_workers(hostile):
    with reef_serve(hostile, "--workers", "2", "--action-timeout", "1") as (info, process):
        yield info


@pytest.fixture(scope="module")
def default_server(hostile):
    """`reef serve` as it starts by default (one worker, --action-timeout 60); (ready info, process)."""
    with reef_serve(hostile) as served:
        yield served


def post(info: dict, name: str, body: dict, timeout: float = 20) -> tuple[int, dict]:
    call = urllib.request.Request(
        f"{info['url']}/v1/actions/{name}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def each_gets_its_own_sum(info: dict, calls: int = 4) -> None:
    """Calls in turn (they go round every worker): each answer is that call's own."""
    for index in range(calls):
        assert post(info, "add", {"a": index, "b": 1000}) == (200, {"sum": index + 1000})


@pytest.mark.parametrize(
    "how, broken",
    [
        ("print", False),
        ("fd1", False),
        ("child", False),
        ("stdin", False),
        ("reply-line", True),
        ("reply-text", True),
        ("reply-list", True),
        ("frame-list", True),
        ("frame-other-id", True),
        ("frame-own-id", False),
        ("late", False),
    ],
)
def test_writing_to_the_reply_channel_never_gives_a_call_another_call_s_answer(two_workers, how, broken, tmp_path):
    written = tmp_path / "written"  # the late write is done (it lands while the worker waits for its next call)
    status, answer = post(two_workers, "stray", {"how": how, "tag": how, "written": str(written)})
    if broken:
        assert status == 500 and "\n" not in answer["error"], answer
        assert (
            answer["error"].startswith("action 'stray' failed: the worker on ")
            and "sent a broken reply" in answer["error"]
        ), answer
        assert "a new one started" in answer["error"]
    else:
        assert (status, answer) == (200, {"tag": how})
    if how == "late":
        wait_until(written.exists, timeout=30, what="the action's late write")
    each_gets_its_own_sum(two_workers)


def test_an_action_ending_or_interrupting_its_worker_is_its_own_failure(two_workers):
    pids = {post(two_workers, "whoami", {})[1]["pid"] for _ in range(4)}
    assert post(two_workers, "leave", {"code": 3}) == (500, {"error": "action 'leave' failed: SystemExit: 3"})
    assert post(two_workers, "interrupt", {}) == (500, {"error": "action 'interrupt' failed: KeyboardInterrupt"})
    assert {post(two_workers, "whoami", {})[1]["pid"] for _ in range(4)} == pids  # the same workers, not restarted
    each_gets_its_own_sum(two_workers)


def test_a_hanging_call_gets_504_and_its_worker_is_replaced_while_other_calls_go_on(two_workers, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    answers = []
    began = time.monotonic()
    hung = threading.Thread(
        target=lambda: answers.append(post(two_workers, "hang", {"pidfile": str(pidfile)}, timeout=30))
    )
    hung.start()
    wait_until(pidfile.exists, timeout=10, every=0.02, what="the hanging action's pid file")
    sleeper = int(pidfile.read_text())
    for index in range(3):  # the other worker answers meanwhile
        assert post(two_workers, "add", {"a": index, "b": 1}) == (200, {"sum": index + 1})
    assert hung.is_alive()
    hung.join(30)
    waited = time.monotonic() - began
    status, answer = answers[0]
    assert status == 504 and 1 <= waited < 8, (answers, waited)
    assert answer == {
        "error": "action 'hang' took longer than 1 s (--action-timeout): its worker was stopped and a new one started"
    }
    wait_until(lambda: gone(sleeper), timeout=5, what="the action's child to end with its worker")
    each_gets_its_own_sum(two_workers)


def test_the_default_server_survives_sys_exit_and_keyboard_interrupt(default_server):
    info, process = default_server
    assert post(info, "leave", {"code": 0}) == (500, {"error": "action 'leave' failed: SystemExit: 0"})
    assert post(info, "interrupt", {}) == (500, {"error": "action 'interrupt' failed: KeyboardInterrupt"})
    assert post(info, "add", {"a": 2, "b": 3}) == (200, {"sum": 5})
    assert (info["workers"], info["action_timeout"]) == (1, 60) and post(info, "whoami", {})[1][
        "pid"
    ] != process.pid  # in a worker


def outcome(function) -> BaseException | object:
    """What a call in another thread (as the server's threads
    call actions) returns or raises, BaseException included."""
    box = []

    def run():
        try:
            box.append(function())
        except BaseException as error:  # noqa: BLE001 (what escapes is the subject)
            box.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return box[0]


def test_in_process_actions_contain_sys_exit_and_keyboard_interrupt_in_threads(hostile):
    with reefnb.use(hostile) as actions:
        assert actions.workers == 1 and actions.whoami()["pid"] == os.getpid()  # in this process
        with pytest.raises(ActionFailed, match=r"^SystemExit: 4$"):
            actions.leave(code=4)
        for name, expected in (("leave", "SystemExit: 3"), ("interrupt", "KeyboardInterrupt")):
            caught = outcome(lambda name=name: actions.call(name, {}))
            assert isinstance(caught, ActionFailed) and str(caught) == expected, repr(caught)
        with pytest.raises(KeyboardInterrupt):  # in the main thread it may be Ctrl-C: it stops the caller
            actions.interrupt()
        assert actions.add(a=1, b=2) == {"sum": 3}


def test_use_with_a_timeout_runs_in_a_worker_replaced_after_a_timeout_or_ctrl_c(hostile):
    handler = signal.getsignal(signal.SIGINT)  # conftest restores it where the suite was started with SIGINT ignored
    assert handler is signal.default_int_handler, (
        f"SIGINT does not raise KeyboardInterrupt in this process (handler {handler!r}): an earlier test left it"
    )
    with reefnb.use(hostile, timeout=1) as actions:
        first = actions.whoami()["pid"]
        assert first != os.getpid()
        with pytest.raises(ActionTimeout, match=r"^action 'hang' took longer than 1 s"):
            actions.hang()
        second = actions.whoami()["pid"]
        assert actions.add(a=1, b=2) == {"sum": 3} and second != first
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the caller while the action runs: that worker goes too
            actions.hang()
        assert actions.add(a=2, b=2) == {"sum": 4} and actions.whoami()["pid"] not in (first, second)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stopping_the_server_mid_call_stops_its_worker_at_once(default_server, tmp_path):
    """Last in the file: it stops the module's default server (with an in-process action it waited for the call)."""
    info, process = default_server
    worker = post(info, "whoami", {})[1]["pid"]
    pidfile = tmp_path / "sleep.pid"
    answers = []
    hung = threading.Thread(
        target=lambda: answers.append(
            outcome(lambda: post(info, "hang", {"pidfile": str(pidfile), "seconds": 60}, timeout=90))
        )
    )
    hung.start()
    wait_until(pidfile.exists, timeout=10, every=0.02, what="the hanging action's pid file")
    stopping = time.monotonic()
    process.terminate()
    assert process.wait(30) == 0 and time.monotonic() - stopping < 10  # not the 60 s of the call
    assert gone(worker) and gone(int(pidfile.read_text()))
    hung.join(30)
    assert isinstance(answers[0], OSError)  # the connection closed without an answer
