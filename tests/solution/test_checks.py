"""`reef validate` refuses a workflow notebook that calls what the kernel environments reef creates lack
(reefnb.solution.checks.kernel_call_problems): there it would fail with an ImportError."""

from __future__ import annotations

import json

import pytest
from helpers.cli import call
from helpers.solutions import REPO, write_notebook, write_solution

import reefnb
import reefnb.kernel
from reefnb.solution.checks import kernel_call_problems

CELLS = (
    "import reefnb\nimport reefnb as reef\nfrom reefnb.kernel.bench import run_loadgen\nfrom reefnb import attach, kernel",
    "reefnb.record('a', 1)\nreef.attach\nreefnb.fetch_artifact\nreefnb.kernel.bench.run_loadgen\nraise reefnb.ReefError('x') if 0 else None",
    "%matplotlib inline\nfor name in []:\n    !ls\n    frame = reefnb.results()",  # IPython lines: the cell still parses
    "from reefnb.runs.store import Store\nimport reefnb.provision.envs\nreef.explore\nreefnb.results(solution='x')",  # results again: reported once
    # a guarded call is the author's fallback
    "try:\n    import pandas, reefnb\n    reefnb.pareto_front([])\nexcept ImportError:\n    pass\nfrom reefnb import sweep",
)


def test_validate_names_each_call_a_kernel_environment_lacks(tmp_path):
    folder = write_solution(
        tmp_path / "calls",
        {"name": "calls", "version": "1.0.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "x = 1",
        *CELLS,
    )
    code, out, err = call("validate", str(folder))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    where = f"{folder / 'solution.json'}: /workflows/run/notebook: main.ipynb: "
    used = {
        line.removeprefix(where).split(" is not in the kernel environments reef creates")[0]
        for line in lines
        if line.startswith(where)
    }
    assert used == {
        "cell 3, line 4: reefnb.results",
        "cell 4, line 1: reefnb.runs",
        "cell 4, line 2: reefnb.provision.envs",
        "cell 4, line 3: reefnb.explore",
        "cell 5, line 6: reefnb.sweep",
    }, err
    assert all(
        "(they carry record, attach, run_folder, fetch_artifact, the LoadGen harness" in line
        for line in lines
        if line.startswith(where)
    )
    code, out, _ = call("validate", str(folder), "--json")
    assert code == 2 and json.loads(out)["valid"] is False and len(json.loads(out)["problems"]) == 5
    assert reefnb.load_solution(folder).name == "calls"  # loading it (to run it natively) is still allowed


def test_notebooks_of_another_language_and_a_notebook_two_workflows_share(tmp_path):
    workflows = {"run": {"notebook": "main.ipynb"}, "again": {"notebook": "main.ipynb"}, "r": {"notebook": "r.ipynb"}}
    manifest = {"name": "shared", "version": "1.0.0", "workflows": workflows}
    folder = write_solution(tmp_path / "shared", manifest, "x = 1", "import reefnb\nreefnb.results()")
    notebook = json.loads(write_notebook(folder / "r.ipynb", None, "reefnb.results()\nlibrary(reefnb)").read_text())
    notebook["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    (folder / "r.ipynb").write_text(json.dumps(notebook))
    assert [pointer for pointer, _ in kernel_call_problems(manifest, folder)] == ["/workflows/run/notebook"]


@pytest.mark.parametrize(
    "solution", sorted(path.name for path in (REPO / "solutions").iterdir() if (path / "solution.json").is_file())
)
def test_the_repository_s_solutions_call_only_what_kernel_environments_have(solution, monkeypatch):
    folder = REPO / "solutions" / solution
    code, out, err = call("validate", str(folder))
    assert code == 0, err
    if (
        solution == "obj-detection-coco-tf"
    ):  # the flagship calls fetch_artifact: before the kernel part carried it, validate refused it
        monkeypatch.setattr(
            reefnb.kernel, "KERNEL_API", tuple(name for name in reefnb.kernel.KERNEL_API if name != "fetch_artifact")
        )
        [(pointer, message)] = kernel_call_problems(json.loads((folder / "solution.json").read_text()), folder)
        assert pointer == "/workflows/run/notebook" and message.startswith(
            "benchmark.ipynb: cell 4, line 6: reefnb.fetch_artifact is not in"
        )
