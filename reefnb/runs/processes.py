"""No process of a run outlives it: find everything a kernel started, and end it when the run ends.

A kernel's children can escape their kernel: ``start_new_session=True`` leaves its session and
process group, a double fork (``setsid sh -c 'cmd &'``) leaves its parent. Four nets catch them:

- every kernel reef starts carries a token in its environment (``REEF_KERNEL_TOKEN``), which
  whatever it starts inherits, wherever it is reparented;
- this process is a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``), so orphans reparent to it
  rather than to init, and can be reaped;
- the kernel's descendants are noted while it lives (at the end of every cell and at shutdown),
  and its session and process group are swept when it is gone;
- inside :func:`exclusive` (a process that runs nothing but this run: ``reef run``, a sweep worker),
  orphans reparented here during the run are ended too, token or not.

Processes of other kernels of this process (a sweep's kernel started ahead, the server's other
runs) and this process's own children from before the run are never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator

import psutil

from reefnb.common.json_input import without_format_checkers

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "REEF_KERNEL_TOKEN"
SCOPE_VARIABLE = "REEF_SCOPE_TOKEN"
PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>

_lock = threading.Lock()
_kernels: dict[int, KernelProcesses] = {}  # live kernels started by this process, by pid
_starting: set[str] = set()  # tokens of kernels being started
_exclusive = 0
_subreaping = (
    False  # this process is the subreaper of its orphans (see subreaper): every kernel's process is its descendant
)


def subreaper(on: bool = True) -> bool:
    """Make this process the reaper of its orphaned descendants, or stop (Linux only; True when done).

    On while kernels of this process live, off after: a long-lived process (the server, a test
    session) does not collect the orphans of everything else it runs.
    """
    if not sys.platform.startswith("linux"):
        return False
    global _subreaping
    try:
        done = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError) as error:
        log.debug("prctl(PR_SET_CHILD_SUBREAPER): %s", error)
        done = False
    _subreaping = on and done
    return done


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """While inside, this process runs nothing but reef runs: orphans reparented to it are theirs."""
    global _exclusive
    _exclusive += 1
    try:
        yield
    finally:
        _exclusive -= 1


def kernel_environment() -> tuple[str, dict[str, str]]:
    """A new token, and the environment (this one plus the token) to start a kernel with."""
    token = secrets.token_hex(12)
    with _lock:
        _starting.add(token)
        subreaper(True)  # before the kernel exists, so that its orphans come here
    return token, {**os.environ, TOKEN_VARIABLE: token}


def track(token: str, pid: int | None) -> KernelProcesses | None:
    """Start following a kernel started with :func:`kernel_environment` (``pid`` None: it did not start)."""
    tracker = KernelProcesses(pid, token) if pid is not None else None
    with _lock:
        _starting.discard(token)
        if tracker is not None:
            _kernels[pid] = tracker
    return tracker


def tracked(pid: int | None) -> KernelProcesses | None:
    with _lock:
        return _kernels.get(pid) if pid is not None else None


class KernelProcesses:
    """The processes of one kernel: noted while it runs, all ended by :meth:`end` once it stopped."""

    def __init__(self, pid: int, token: str):
        self.pid, self.token = pid, token
        self.before = _child_pids()  # this process's children when the kernel started: never ours to end
        self.seen: dict[int, psutil.Process] = {}
        try:
            self.session, self.group = os.getsid(pid), os.getpgid(pid)
        except OSError:
            self.session = self.group = None

    def note(self) -> None:
        """Note the kernel's descendants now (they may be orphaned later)."""
        for pid in _descendants(self.pid):
            if pid not in self.seen:
                try:
                    self.seen[pid] = psutil.Process(pid)
                except psutil.Error:  # gone already
                    pass

    def end(self) -> int:
        """End every process left of this kernel (call after the kernel stopped); how many were ended."""
        with _lock:
            _kernels.pop(self.pid, None)
        ended: dict[int, psutil.Process] = {}
        try:
            ended = self._end_all()
        finally:
            with _lock:
                if not _kernels and not _starting:
                    subreaper(False)
        if ended:
            log.info("ended %d process(es) left by the kernel %d", len(ended), self.pid)
        return len(ended)

    def _end_all(self) -> dict[int, psutil.Process]:
        ended: dict[int, psutil.Process] = {}
        for _ in range(5):  # a process may fork between a sweep and its kill: sweep again
            found = [process for process in self._leftovers() if process.pid not in ended]
            if not found:
                break
            for process in found:
                _kill(process)
                ended[process.pid] = process
        _reap(ended.values())
        return ended

    def _leftovers(self) -> list[psutil.Process]:
        mine, protected = os.getpid(), _protected()
        own_session = os.getsid(0)
        candidates = [process for process in self.seen.values() if _same_process_alive(process)]
        claim = _exclusive > 0
        children = set(_child_pids())
        for process in _candidates():
            if process.pid in (mine, self.pid) or process.pid in protected:
                continue
            token = _environment_value(process, TOKEN_VARIABLE)
            if token == self.token or (
                self.session not in (None, own_session) and _in_group(process, self.session, self.group)
            ):
                candidates.append(process)
            elif claim and token is None and process.pid in children and process.pid not in self.before:
                candidates.append(process)  # an orphan reparented here during the run, its token scrubbed
        unique = {
            process.pid: process for process in candidates if process.pid not in protected and process.pid != mine
        }
        return list(unique.values())


def end_scope(token: str) -> int:
    """End every process started under :func:`scope_environment` ``token`` (a sweep's workers' kernels)."""
    mine, protected = os.getpid(), _protected()
    found = [
        process
        for process in psutil.process_iter()
        if process.pid != mine and process.pid not in protected and _environment_value(process, SCOPE_VARIABLE) == token
    ]
    for process in found:
        _kill(process)
    _reap(found)
    return len(found)


def enter_scope(token: str) -> None:
    """In a sweep's worker process, which runs nothing but runs: kernels started from now on carry
    ``token`` (see :func:`end_scope`), and orphans reparented here are claimed as in :func:`exclusive`."""
    global _exclusive
    os.environ[SCOPE_VARIABLE] = token
    _exclusive += 1


def without_format_grammars() -> None:
    """In a process of reef's own, before it imports papermill: without the packages that only jsonschema's format
    checker imports (``rfc3987_syntax`` compiles lark grammars at import: 1.8-2.4 s of CPU in every such process; see
    ``json_input.without_format_checkers``), as the ``reef`` command goes without them."""
    without_format_checkers()


def enter_worker(token: str) -> None:
    """A sweep's process pool worker starts here (its initializer runs before the first run's task is unpickled,
    which imports papermill): :func:`without_format_grammars`, then :func:`enter_scope`."""
    without_format_grammars()
    enter_scope(token)


def dask_setup(worker: object) -> None:
    """A Dask worker of a sweep's LocalCluster starts here (this module is the cluster's preload)."""
    without_format_grammars()


def _protected() -> set[int]:
    """The live kernels of this process and whatever they started: another run's, not this one's."""
    with _lock:
        trackers = list(_kernels.values())
    protected = set()
    for tracker in trackers:
        protected.add(tracker.pid)
        tracker.note()
        protected.update(tracker.seen)
    return protected


def _candidates():
    """The processes that may be a kernel's: this process's descendants while it is the subreaper of its orphans
    (every process a kernel of this process started is then one of them, wherever it was reparented: a few small
    reads of ``/proc``), else every process of the machine (psutil reads them all: 20-80 ms with 150 processes)."""
    if not _subreaping or _children_file(os.getpid()) is None:
        return psutil.process_iter()
    found = []
    for pid in _descendants(os.getpid()):
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:
            pass
    return found


def _child_pids(pid: int | None = None) -> list[int]:
    """The children of ``pid`` (this process by default): Linux lists them in ``/proc/PID/task/TID/children``
    (one small file a thread), elsewhere psutil reads every process's parent."""
    pid = os.getpid() if pid is None else pid
    if _children_file(pid) is not None:
        children = []
        try:
            for thread in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{thread}/children", "rb") as listing:
                    children.extend(int(field) for field in listing.read().split())
        except OSError:  # the process is gone
            return []
        return children
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def _descendants(pid: int) -> list[int]:
    """The process ids of ``pid``'s descendants, parents before their children."""
    found, queue = [], [pid]
    while queue:
        for child in _child_pids(queue.pop(0)):
            if child not in found and child != pid:
                found.append(child)
                queue.append(child)
    return found


def _children_file(pid: int) -> str | None:
    """``/proc/PID/task/PID/children`` where the system has it (Linux with CONFIG_PROC_CHILDREN), else None."""
    path = f"/proc/{pid}/task/{pid}/children"
    return path if sys.platform.startswith("linux") and os.path.exists(path) else None


def _environment_value(process: psutil.Process, name: str) -> str | None:
    try:
        return process.environ().get(name)
    except (psutil.Error, OSError):  # gone, a zombie, or not ours to read
        return None


def _in_group(process: psutil.Process, session: int, group: int | None) -> bool:
    try:
        return os.getsid(process.pid) == session or os.getpgid(process.pid) == group
    except OSError:
        return False


def _same_process_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill(process: psutil.Process) -> None:
    try:
        if process.is_running():  # compares the creation time too: never a reused pid
            process.send_signal(signal.SIGKILL)
    except psutil.Error:
        pass


def _reap(processes) -> None:
    """Wait for the ended processes; those that are this process's children are reaped (no zombies)."""
    try:
        psutil.wait_procs(list(processes), timeout=5)
    except psutil.Error as error:
        log.debug("waiting for ended processes: %s", error)
