"""The part of a sweep that runs where the notebooks run: this process, a pool's worker process, a Dask worker.

An executor hands each run to ``run_in_worker`` there (pickled: every argument is plain data) and gets back
``{"record": ...}``, or ``{"record": ..., "files": ...}`` when the solution was shipped (``bundle_solution``) to
a worker without a shared disk; ``land_files`` writes those files where the sweep runs.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import io
import logging
import multiprocessing.util
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from reefnb.provision.artifacts import unpack_archive
from reefnb.runs.execute import RunRequest, execute_run, kernel_alive, load_run, shutdown_kernel, start_kernel
from reefnb.solution.confinement import resolve_inside

log = logging.getLogger(__name__)


class Runner:
    """Executes runs one after another, starting the next run's kernel while one executes."""

    def __init__(self):
        self.waiting: dict[tuple[str, str], tuple[Any, Path]] = {}
        self._scratch: Path | None = None  # kernel logs of kernels started ahead, shipped solutions: removed by close()
        # What the runs of a notebook execute (solution, notebook, kernel spec), read once: (stamp, loaded).
        self.loaded: dict[tuple[str, str, str], tuple[tuple, Any]] = {}

    @property
    def scratch(self) -> Path:
        if self._scratch is None or not self._scratch.is_dir():  # none yet, or removed with its sweep's folder
            self._scratch = Path(tempfile.mkdtemp(prefix="reef-kernels-"))
        return self._scratch

    def run(self, request: RunRequest, start_next: bool) -> dict:
        loaded = self._load(request)
        slot = (request.kernel, str(loaded.workflow.notebook.parent))
        manager, log_path = self.waiting.pop(slot, (None, None))
        if manager is not None and not kernel_alive(manager):
            manager, log_path = None, None
        if start_next:
            self._start(slot)
        return execute_run(request, store=False, kernel_manager=manager, kernel_log=log_path, loaded=loaded)

    def _load(self, request: RunRequest):
        """The solution, notebook and kernel spec the run executes (``load_run``), read again only when the
        manifest or the notebook changed since this worker last read them."""
        key = (request.source, request.workflow, request.kernel)
        stamp, loaded = self.loaded.get(key, (None, None))
        if loaded is None or stamp != _stamp(Path(request.source), loaded.workflow.notebook):
            loaded = load_run(request)
            self.loaded[key] = (_stamp(Path(request.source), loaded.workflow.notebook), loaded)
        return loaded

    def _start(self, slot: tuple[str, str]) -> None:
        log_path = self.scratch / f"kernel-{len(os.listdir(self.scratch))}-{time.monotonic_ns()}.log"
        try:
            self.waiting[slot] = (start_kernel(slot[0], slot[1], log_path), log_path)
        except Exception as error:  # the run itself will start (and report) its kernel
            log.debug("could not start a kernel ahead: %s", error)

    def close(self) -> None:
        for manager, _ in self.waiting.values():
            shutdown_kernel(manager)
        self.waiting.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _stamp(*paths: Path) -> tuple:
    """What tells that files changed: their size and modification time (None for one that is gone)."""
    stamps = []
    for path in paths:
        try:
            status = path.stat()
            stamps.append((status.st_size, status.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


_runner: Runner | None = None


def _worker_runner() -> Runner:
    global _runner
    if _runner is None:
        _runner = Runner()
        multiprocessing.util.Finalize(None, _runner.close, exitpriority=10)
        atexit.register(_runner.close)
    return _runner


def run_in_worker(
    request: RunRequest, start_next: bool, bundle: bytes | None = None, scratch: str | None = None
) -> dict:
    """Execute one run where this is called (a worker's task) and return ``{"record": ...}``.

    Parameters
    ----------
    request
        The run, as the executor got it.
    start_next
        Start a kernel for this worker's next run while this one executes (when more runs wait than workers run).
    bundle
        The solution folder as ``bundle_solution`` zipped it, for a worker without the sweep's disk: the run
        executes in its copy, and the outcome holds ``"files"`` too (the run folder's files, for ``land_files``).
    scratch
        The sweep's temporary folder, which the sweep removes when it ends, whatever happened to its workers (a
        worker killed leaves its kernel's socket folder behind): this worker's temporary files, and its kernels',
        go there.
    """
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    if scratch is not None and os.path.isdir(scratch):
        os.environ["TMPDIR"] = scratch
        tempfile.tempdir = None  # gettempdir() caches its answer
    if bundle is None:
        return {"record": _worker_runner().run(request, start_next)}
    folder = _unpack_bundle(bundle, _worker_runner().scratch)
    local = dataclasses.replace(request, source=str(folder / Path(request.source).name))
    record = _worker_runner().run(local, start_next)
    run_folder = Path(record["notebook"]["output_path"]).parent
    files = {
        path.relative_to(run_folder).as_posix(): path.read_bytes()
        for path in run_folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
    return {"record": record, "files": files}


def bundle_solution(folder: Path) -> bytes:
    """A solution folder as a zip (no runs/, no .git, no __pycache__), for workers without a shared disk: the third
    argument of ``run_in_worker``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if (
                path.is_file()
                and not path.is_symlink()
                and parts[0] not in ("runs", ".git")
                and "__pycache__" not in parts
            ):
                archive.write(path, Path(*parts).as_posix())
    return buffer.getvalue()


def _unpack_bundle(bundle: bytes, scratch: Path) -> Path:
    digest = hashlib.sha256(bundle).hexdigest()[:16]
    folder = scratch / "shipped" / digest
    if not (folder / ".complete").exists():
        archive = folder.parent / f"{digest}.zip"
        folder.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(bundle)
        unpack_archive(archive, folder)
        (folder / ".complete").touch()
    return folder


def land_files(folder: Path, outcome: dict) -> dict:
    """The record of ``run_in_worker``'s ``outcome``, its run's output files written into ``folder`` (this machine's
    solution folder) when they were shipped back, and the record's paths made to point there."""
    record = outcome["record"]
    files = outcome.get("files")
    if not files:
        return record
    run_folder = folder / "runs" / record["run_id"]
    run_folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():  # the executed notebook, kernel.log, files/ the run attached
        target = resolve_inside(run_folder, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    output_name = Path(record["notebook"]["output_path"]).name
    record["notebook"]["output_path"] = str((run_folder / output_name).resolve())
    record["solution"]["path"] = str(folder.resolve())
    return record
