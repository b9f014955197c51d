"""Where a solution runs by default (issue 31, item 1): one rule in the command layer (``commands.run_place``), which
``reef run``, ``sweep`` and ``benchmark`` follow and every front end shows: its own environment once ``reef init``
made it here, else the kernel its notebook names. Real kernels, a real reef environment made from a local wheel."""

from __future__ import annotations

import io
import sys

from helpers.solutions import write_solution
from helpers.wheels import make_wheel

import reefnb
from reefnb.frontends import commands
from reefnb.frontends.terminal import run_verb
from reefnb.frontends.verbs import build_parser
from reefnb.provision import envs
from reefnb.runs.spec import RunSpec

MANIFEST = {
    "name": "placed",
    "version": "0.1.0",
    "requires": {"packages": ["reef-probe-pkg>=1.1"]},
    "workflows": {"run": {"notebook": "main.ipynb", "sweep": {"x": [1, 2]}}},
}


def cli_sweep(folder) -> str:
    """``reef sweep FOLDER --jobs 1`` as the terminal runs it, in this process; its text."""
    out = io.StringIO()
    code = run_verb(build_parser().parse_args(["sweep", str(folder), "--jobs", "1"]), out)
    assert code == 0, out.getvalue()
    return out.getvalue()


def test_a_solution_runs_on_its_notebooks_kernel_until_reef_init_makes_its_own_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))  # the kernelspec reef registers
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-data"))
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "reef-probe-pkg", "1.2.0", "VERSION = '1.2.0'\n")
    folder = write_solution(tmp_path / "placed", MANIFEST, "x = 1", "import sys\nprint(sys.prefix)")
    solution = reefnb.load_solution(folder)
    found = commands.notebook_solution(folder / "main.ipynb")

    # Before reef init: the kernel its notebook names, checked there, and Install says what it would move.
    place = commands.run_place(solution)
    assert (place.kind, place.name, place.python) == ("kernel", "python3", sys.executable)
    here = commands.requirements_here(found)
    assert here.summary == "checked against kernel python3: 1 missing" and here.install.label == "Install missing"
    assert here.install.changes[-1] == (
        "then runs, sweeps and benchmarks run in environment placed instead of kernel python3: points recorded "
        "on kernel python3 run again there"
    )
    first = cli_sweep(folder)
    assert "2 runs, 2 ok, 0 not ok, 0 skipped" in first and "environment changed" not in first

    out = io.StringIO()
    code = run_verb(build_parser().parse_args(["init", str(folder), "--find-links", str(wheels)]), out)
    said = out.getvalue().splitlines()
    assert code == 0 and said[0] == (
        "runs now in kernel python3 (the kernel its notebook names: no environment made for it here); checked "
        "against kernel python3: 1 missing"
    )
    assert said[-1] == "its runs, sweeps and benchmarks run in environment placed from now on"
    place = commands.run_place(solution)
    assert (place.kind, place.name, place.kernel) == ("environment", "placed", "reef-placed")
    assert commands.requirements_here(found).summary == "checked against environment placed: all found"

    # The same sweep: its points ran on python3, so they run again in the new environment, and it says why.
    second = cli_sweep(folder)
    assert "2 runs, 2 ok, 0 not ok, 0 skipped" in second
    assert (
        "2 points ran again because the environment changed: recorded ok before in python3, this sweep ran in placed"
        in second
    )
    records = commands.solution_records(solution)
    assert [record["environment"]["kernel"] for record in records] == [
        "python3",
        "python3",
        "reef-placed",
        "reef-placed",
    ]
    third = cli_sweep(folder)  # recorded there now: nothing runs again
    assert "2 runs, 2 ok, 0 not ok, 2 skipped" in third and "environment changed" not in third

    # The environment removed (its lock stays): the kernel its notebook names again, for the rule and for a run.
    envs.remove_environment("placed")
    assert str(commands.run_place(solution)) == "kernel python3"
    record = commands.run(RunSpec(solution=folder, parameters={"x": 5}))
    assert record["status"] == "ok" and record["environment"]["kernel"] == "python3"
