"""The verbs that run no notebook answer at once (issue 31, item 7): what `python -X importtime -m reefnb VERB`
reports importing holds none of the libraries the verb does not use. `reef detect` (warm) loads detection and the
parser, not papermill, nbformat, jsonschema, numpy, pandas, psutil, packaging or the store; `ls` and `rm` read the
index of solutions; `results` builds its frame with pandas; `export` validates the manifest and the notebooks it packs
(jsonschema without its format checker's packages, nbformat) and scans them, but runs nothing. The times are printed
by benchmarks/cli_imports.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from helpers.solutions import HELLO

NOTEBOOK_RUNNERS = {"papermill", "nbclient", "jupyter_client", "ipykernel", "IPython", "zmq"}
# What jsonschema's format checker's packages load (rfc3987_syntax: 38 lark grammars; isoduration: arrow). The packages
# themselves show as imports that failed: the reef process blocks them (reefnb.common.json_input.FORMAT_CHECKER_ONLY).
FORMAT_CHECKING = {"lark", "arrow"}
OTHER_FRONT_ENDS = {"tornado", "ipywidgets", "altair", "vl_convert"}
NOT_FOR_ANY = NOTEBOOK_RUNNERS | FORMAT_CHECKING | OTHER_FRONT_ENDS
NOT_LOADED = {
    "detect": NOT_FOR_ANY
    | {"nbformat", "jsonschema", "numpy", "pandas", "psutil", "packaging", "sqlite3", "reefnb.runs.store"},
    "ls": NOT_FOR_ANY | {"nbformat", "jsonschema", "numpy", "pandas", "psutil", "reefnb.runs.store"},
    "rm": NOT_FOR_ANY | {"nbformat", "jsonschema", "numpy", "pandas", "psutil", "reefnb.runs.store"},
    "results": NOT_FOR_ANY | {"nbformat", "jsonschema"},
    "export": NOT_FOR_ANY | {"numpy", "pandas"},
}
LOADED = {
    "detect": "reefnb.provision.detection",
    "ls": "reefnb.provision.initialised",
    "rm": "reefnb.provision.initialised",
}
LOADED |= {"results": "pandas", "export": "reefnb.solution.manifest"}  # what each verb does use: the reading works

RECORD = """
import sys
from reefnb.frontends.cli import main
from reefnb.runs.store import Store
assert main(["init", sys.argv[1], "--native"]) == 0
Store().add({"run_id": "r1", "solution": {"name": "hello-sweep", "version": "0.1.0", "path": sys.argv[1]},
             "workflow": "run", "status": "ok", "duration_s": 1.5, "started": "2026-01-01T00:00:00+00:00",
             "parameters": {"samples": 10}, "metrics": {"pi_estimate": {"value": 3.1, "unit": None}}, "error": None,
             "notebook": {"path": "main.ipynb"}})
main(["detect"])  # the detection cache is current from here: `reef detect` below is warm
"""


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A REEF_HOME with hello-sweep initialised (native) and one run recorded, made without a kernel."""
    folder = tmp_path_factory.mktemp("cli-imports")
    solution = folder / "hello-sweep"
    shutil.copytree(HELLO, solution, ignore=shutil.ignore_patterns("runs"))
    environment = {**os.environ, "REEF_HOME": str(folder / "reef-home")}
    subprocess.run(
        [sys.executable, "-c", RECORD, str(solution)], env=environment, check=True, capture_output=True, timeout=120
    )
    return folder, solution, environment


def imported(place, *args: str) -> set[str]:
    """The modules `python -X importtime -m reefnb ARGS` imports (run in a folder with no `hello-sweep` in it, so
    that the name names the initialised solution)."""
    folder, _, environment = place
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reefnb", *args],
        env=environment,
        cwd=folder / "reef-home",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
            names.add(parts[2].strip())
    return names


@pytest.mark.parametrize("verb", ["detect", "ls", "results", "export", "rm"])
def test_a_verb_that_runs_no_notebook_imports_only_what_it_uses(place, verb):
    folder, solution, _ = place
    args = {
        "detect": ["detect"],
        "ls": ["ls"],
        "results": ["results", "--solution", "hello-sweep"],
        "export": ["export", str(solution), "-o", str(folder / "hello.reef.zip")],
        "rm": ["rm", "hello-sweep"],  # last: it forgets the solution
    }[verb]
    names = imported(place, *args)
    assert LOADED[verb] in names  # the verb ran and the reading of -X importtime sees its modules
    loaded = {name for name in names if name.split(".")[0] in NOT_LOADED[verb] or name in NOT_LOADED[verb]}
    assert not loaded, f"reef {verb} imports {sorted(loaded)}"
