"""Where reef keeps its state: ``$REEF_HOME`` (``~/.reef``) and the folders under it."""

from __future__ import annotations

import os
from pathlib import Path


def reef_home() -> Path:
    """The folder where reef keeps its state: ``$REEF_HOME`` or ``~/.reef``.

    It holds ``results.sqlite`` (the default store), ``cache/``, ``envs/``, ``solutions/`` and
    ``registries/``. Calling this makes no folder.

    Returns
    -------
    Path
        ``$REEF_HOME`` (``~`` expanded) when set and not empty, else ``~/.reef``.
    """
    return Path(os.environ.get("REEF_HOME") or Path.home() / ".reef").expanduser()


def envs_home() -> Path:
    """Where ``reef env create`` makes environments: ``$REEF_HOME/envs/NAME``."""
    return reef_home() / "envs"


def solutions_home() -> Path:
    """Where ``reef init PACKAGE`` imports packages: ``$REEF_HOME/solutions/NAME-VERSION``."""
    return reef_home() / "solutions"
