"""The ``reef`` command: called in the test's own process (``call``) or run as a process (``run``)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path


def call(*args: str) -> tuple[int, str, str]:
    """``reef ARGS`` in this process: the exit code, standard output and standard error."""
    from reefnb.frontends.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run(*args: str, cwd: Path | None = None, timeout: float = 300, **options) -> subprocess.CompletedProcess:
    """``python -m reefnb ARGS`` in a process of its own (its logging set up as a user gets it), with this process's
    environment; ``options`` go to ``subprocess.run`` (``env``, ``stdin``, ``input``...)."""
    return subprocess.run(
        [sys.executable, "-m", "reefnb", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **options
    )
