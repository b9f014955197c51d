"""`reef validate` refuses a workflow notebook that calls what the kernel environments reef creates lack
(reefnb.solution.checks.kernel_call_problems): there it would fail with an ImportError."""

from __future__ import annotations

import json

import pytest
from helpers.cli import call
from helpers.solutions import REPO, write_notebook, write_solution

import reefnb
import reefnb.kernel
from reefnb.common.exceptions import LEAVES_FOLDER
from reefnb.solution.checks import (
    api_problems,
    artifact_problems,
    is_plain_path,
    kernel_call_problems,
    module_file,
    syntax_problems,
)

CELLS = (
    "import reefnb\nimport reefnb as reef\nfrom reefnb.kernel.bench import run_loadgen\n"
    "from reefnb import attach, kernel",
    "reefnb.record('a', 1)\nreef.attach\nreefnb.fetch_artifact\nreefnb.kernel.bench.run_loadgen\n"
    "raise reefnb.ReefError('x') if 0 else None",
    # IPython lines: the cell still parses
    "%matplotlib inline\nfor name in []:\n    !ls\n    frame = reefnb.results()",
    # results again: reported once
    "from reefnb.runs.store import Store\nimport reefnb.provision.envs\nreef.explore\nreefnb.results(solution='x')",
    # a guarded call is the author's fallback
    "try:\n    import pandas, reefnb\n    reefnb.pareto_front([])\nexcept ImportError:\n    pass\n"
    "from reefnb import sweep",
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


# --- the other checks of a manifest the schema cannot express (pure functions of its data and folder) ---------


def pointers(problems: list[tuple[str, str]]) -> list[str]:
    return [pointer for pointer, _ in problems]


def test_artifact_sources_downloads_and_fallbacks_are_checked():
    digest = "0" * 64
    artifacts = {
        "ok": {"urls": ["https://example.org/a", "file:data/a"], "sha256": digest, "fallback": "made"},
        "made": {"generate": "make_data:build"},
        "given": {"supplied": True, "sha256": digest, "path": "data/given.bin"},
        "nothing": {},
        "unverified": {"url": "https://example.org/u"},
        "ftp": {"url": "ftp://example.org/f", "sha256": digest},
        "bad-generate": {"generate": "not a function"},
        "up": {"generate": "m:f", "path": "../outside"},
        "unsigned-supply": {"supplied": True},
        "loop-a": {"generate": "m:f", "fallback": "loop-b"},
        "loop-b": {"generate": "m:f", "fallback": "loop-a"},
        "ghost-fallback": {"generate": "m:f", "fallback": "ghost"},
    }
    problems = dict(artifact_problems(artifacts))
    assert sorted(problems) == [
        "/artifacts/bad-generate/generate",
        "/artifacts/ftp/url",
        "/artifacts/ghost-fallback/fallback",
        "/artifacts/loop-a/fallback",
        "/artifacts/loop-b/fallback",
        "/artifacts/nothing",
        "/artifacts/unsigned-supply/sha256",
        "/artifacts/unverified/sha256",
        "/artifacts/up/path",
    ]
    assert problems["/artifacts/loop-a/fallback"] == "fallback cycle: loop-a -> loop-b -> loop-a"
    assert "no artifact 'ghost'" in problems["/artifacts/ghost-fallback/fallback"]
    assert "only http, https and file" in problems["/artifacts/ftp/url"]
    assert pointers(artifact_problems({"a/b~c": {}})) == ["/artifacts/a~1b~0c"]  # a JSON pointer, escaped


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("data/a.bin", True),
        ("a", True),
        ("", False),
        ("/abs", False),
        ("~/home", False),
        ("a/../b", False),
        ("a//b", False),
        ("./a", False),
        ("\\\\server\\share", False),
        ("nul\0", False),
    ],
)
def test_a_spec_s_path_is_relative_without_dots_or_empty_parts(text, plain):
    assert is_plain_path(text) is plain


def test_requirements_that_do_not_parse_are_named_by_their_place():
    requires = {
        "python": ">=3.10,<3.13",
        "packages": ["numpy>=1.24", "pandas >= = 2", "torch; python_version >= '3.10'"],
        "tools": [{"name": "gcc", "version": ">=9"}, {"name": "nvcc", "version": "twelve"}],
    }
    assert pointers(syntax_problems(requires)) == ["/requires/packages/1", "/requires/tools/1/version"]
    assert pointers(syntax_problems({"python": "3.10+"})) == ["/requires/python"]
    assert syntax_problems({}) == []


def test_action_entries_schemas_reserved_names_and_the_demo_page_are_checked(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "tools.py").write_text("def f(): pass\n", encoding="utf-8")
    (tmp_path / "demo.html").write_text("<p>demo</p>", encoding="utf-8")
    api = {
        "actions": {
            "detect": {"entry": "tools:f", "input": {"type": "object"}, "output": {"type": "array"}},
            "package": {"entry": "pkg:f"},
            "names": {"entry": "tools:f"},
            "missing": {"entry": "nowhere:f"},
            "bad-schema": {"entry": "tools:f", "output": {"type": "no-such-type"}},
            "list-input": {"entry": "tools:f", "input": {"type": "array"}},
        },
        "demo": "demo.html",
    }
    problems = dict(api_problems(api, tmp_path))
    assert sorted(problems) == [
        "/api/actions/bad-schema/output",
        "/api/actions/list-input/input/type",
        "/api/actions/missing/entry",
        "/api/actions/names",
    ]
    assert "is reserved" in problems["/api/actions/names"]
    assert module_file(tmp_path, "pkg") == tmp_path / "pkg" / "__init__.py"
    assert module_file(tmp_path, "tools") == tmp_path / "tools.py" and module_file(tmp_path, "nowhere") is None
    assert pointers(api_problems({"demo": "absent.html"}, tmp_path)) == ["/api/demo"]
    assert dict(api_problems({"demo": "../demo.html"}, tmp_path)) == {"/api/demo": LEAVES_FOLDER}


def test_an_entry_module_linked_from_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("def f(): pass\n", encoding="utf-8")
    folder = tmp_path / "solution"
    folder.mkdir()
    (folder / "linked.py").symlink_to(outside)
    assert dict(api_problems({"actions": {"a": {"entry": "linked:f"}}}, folder)) == {
        "/api/actions/a/entry": LEAVES_FOLDER
    }
