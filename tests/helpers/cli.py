"""The ``reef`` command, called in the test's own process."""

from __future__ import annotations

import io


def call(*args: str) -> tuple[int, str, str]:
    """``reef ARGS`` in this process: the exit code, standard output and standard error."""
    from reefnb.frontends.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
