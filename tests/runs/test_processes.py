"""No process of a run outlives it (reefnb.runs.processes), with small real processes standing in for a kernel.

Runs of real kernels whose cells escape (new sessions, double forks, scrubbed environments) are in
tests/hostile/test_process_escapes.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest
from helpers.processes import alive, marker
from helpers.servers import wait_until

from reefnb.runs import processes


@pytest.fixture
def started():
    """Processes a test starts; whatever is left of them is killed by pid at the end."""
    found: list[subprocess.Popen] = []
    yield found
    for process in found:
        for child in psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []:
            child.kill()
        process.kill()
        process.wait()


def start(started, command: str, environment: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen(["sh", "-c", command], env=environment, stdin=subprocess.DEVNULL)
    started.append(process)
    return process


def test_a_kernel_s_environment_carries_a_new_token_until_it_is_tracked():
    token, environment = processes.kernel_environment()
    other, _ = processes.kernel_environment()
    try:
        assert environment[processes.TOKEN_VARIABLE] == token != other
        assert {key: value for key, value in environment.items() if key != processes.TOKEN_VARIABLE} == dict(os.environ)
        assert token in processes._starting
    finally:
        assert processes.track(token, None) is None and processes.track(other, None) is None
    assert token not in processes._starting and processes.tracked(None) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="orphans reparent here on Linux (a subreaper)")
def test_what_the_kernel_left_running_is_ended_with_it_and_other_children_survive(started):
    bystander = start(started, f"exec sleep {marker()}")  # a child of this process from before the kernel
    token, environment = processes.kernel_environment()
    escaped = marker()
    kernel = start(started, f"setsid sleep {escaped} & exec sleep {marker()}", environment)
    tracker = processes.track(token, kernel.pid)
    assert processes.tracked(kernel.pid) is tracker
    (orphan,) = wait_until(lambda: alive(escaped))
    tracker.note()
    assert orphan.pid in tracker.seen

    kernel.kill()
    kernel.wait()
    assert orphan.is_running()  # the kernel is gone, what it started is not
    assert tracker.end() == 1
    assert not alive(escaped)
    assert processes.tracked(kernel.pid) is None
    assert bystander.poll() is None  # never the run's to end


def test_a_scope_token_ends_every_process_started_under_it_and_only_those(started):
    token = "scope-" + marker()
    scoped, unscoped = marker(), marker()
    start(started, f"exec sleep {scoped}", {**os.environ, processes.SCOPE_VARIABLE: token})
    start(started, f"exec sleep {unscoped}")
    wait_until(lambda: alive(scoped) and alive(unscoped))
    assert processes.end_scope(token) == 1
    assert not alive(scoped) and alive(unscoped)


def test_entering_a_scope_marks_kernels_started_from_now_and_claims_orphans(monkeypatch):
    monkeypatch.setenv(processes.SCOPE_VARIABLE, "before")
    monkeypatch.setattr(processes, "_exclusive", 0)
    processes.enter_scope("worker-token")
    assert os.environ[processes.SCOPE_VARIABLE] == "worker-token"
    assert processes._exclusive == 1


def test_exclusive_holds_only_inside_even_when_the_block_raises(monkeypatch):
    monkeypatch.setattr(processes, "_exclusive", 0)
    with pytest.raises(RuntimeError), processes.exclusive():
        with processes.exclusive():
            assert processes._exclusive == 2
        raise RuntimeError("the run failed")
    assert processes._exclusive == 0


def test_descendants_through_proc_are_those_psutil_finds():
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while len(psutil.Process(parent.pid).children(recursive=True)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        expected = {child.pid for child in psutil.Process(parent.pid).children(recursive=True)}
        assert len(expected) == 1
        assert set(processes._descendants(parent.pid)) == expected
        descendants = processes._descendants(os.getpid())  # parents before their children
        assert descendants.index(parent.pid) < descendants.index(next(iter(expected)))
        assert set(processes._child_pids()) >= {parent.pid}
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
