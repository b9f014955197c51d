"""Resuming a failed run: cell checkpoints of the kernel's state, replayed instead of re-executed.

What is cached: with checkpoints on (``reef run --checkpoint``), after every cell that succeeds
the kernel's global variables are pickled (cloudpickle when the kernel has it, else pickle) into
``$REEF_HOME/cache/cells/<key>.pkl``; modules are kept by name and imported again. A cell's key
is the sha256 of the key before it and its source, starting from the kernel's environment lock
(kernel name and every package version) — the injected parameters are a cell, so they are in
every key. A run that ends ok deletes its checkpoints; a failed one keeps them.

``reef run --resume RUN_ID`` runs the same notebook, parameters and kernel again. The cells up to
the last complete checkpoint before the failing cell are not executed: their outputs are copied
from the failed run and the checkpoint's state is loaded into the fresh kernel; the cells after it
execute as usual. It falls back to a full rerun when there is no checkpoint (the run was not
checkpointed, or the notebook's cells before the failure, the parameters or the environment have
changed since), and it resumes from an earlier checkpoint when a later one is partial (a variable
that could not be pickled: open files, sockets, GPU handles, generators ...).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

from reefnb.common.paths import reef_home

# Defined in the kernel under a private name; the dumped state leaves out names starting with "_".
KERNEL_HELPERS = r"""
def __reef_dump(path):
    import pickle, types
    try:
        import cloudpickle as pickler
    except ImportError:
        pickler = pickle
    skip = {"In", "Out", "exit", "quit", "get_ipython"}
    values, modules, partial = {}, {}, []
    for name, value in list(globals().items()):
        if name.startswith("_") or name in skip:
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        try:
            values[name] = pickler.dumps(value)
        except Exception:
            partial.append(name)
    with open(path + ".tmp", "wb") as handle:
        pickle.dump({"values": values, "modules": modules, "partial": partial}, handle)
    import os
    os.replace(path + ".tmp", path)
    return partial

def __reef_load(path):
    import importlib, pickle
    with open(path, "rb") as handle:
        state = pickle.load(handle)
    for name, module in state["modules"].items():
        globals()[name] = importlib.import_module(module)
    for name, data in state["values"].items():
        globals()[name] = pickle.loads(data)
    return len(state["values"])
"""


def checkpoint_folder() -> Path:
    return reef_home() / "cache" / "cells"


def environment_lock(kernel: str, fingerprint: dict | None) -> str:
    """The start of every key chain: the kernel and the exact versions of its packages."""
    packages = (fingerprint or {}).get("packages", {})
    python = (fingerprint or {}).get("version")
    text = json.dumps([kernel, python, sorted(packages.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def next_key(previous: str, source: str) -> str:
    return hashlib.sha256(f"{previous}\n{source}".encode()).hexdigest()


def checkpoint_path(key: str) -> Path:
    return checkpoint_folder() / f"{key}.pkl"


def checkpoint_complete(key: str) -> bool:
    """A checkpoint exists and holds every variable (none was left out as unpicklable)."""
    path = checkpoint_path(key)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            return not pickle.load(handle)["partial"]
    except Exception:  # unreadable: as good as absent
        return False
