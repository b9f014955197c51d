"""reefnb.use: a solution's actions from Python, in this process and in workers on another python."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.actions import FLAGSHIP, encode, synthetic_frames, toy_solution

import reefnb
from reefnb.actions.api import Action, Actions, InProcess, declared_actions, demo_page
from reefnb.common.exceptions import ActionFailed, ActionInputError, ManifestError, ReefError
from reefnb.frontends.cli import main
from reefnb.solution.manifest import load_solution


@pytest.fixture
def toy(tmp_path):
    return toy_solution(tmp_path / "toy")[0]


def other_python(tmp_path: Path) -> str:
    """A second environment: a new venv (its own interpreter and prefix) that sees this one's packages through a
    .pth file, so it needs no download. reefnb is not needed there: the worker is a standard-library script."""
    target = tmp_path / "other-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    Path(site.stdout.strip(), "parent-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return str(python)


def test_in_process_actions_are_attributes_checked_by_their_schemas(toy):
    with reefnb.use(toy) as actions:
        assert actions.python == sys.executable and actions.workers == 1
        assert sorted(actions.names) == ["add", "bad_output", "boom", "count", "leave", "sleep"]
        assert actions.add(a=2, b=3.5) == {"sum": 5.5}
        assert actions.call("add", {"a": 1, "b": 1}) == {"sum": 2}
        first, second = actions.count(), actions.count()
        assert (first["loads"], second["loads"], second["calls"]) == (1, 1, 2)  # loaded once, called twice
        with pytest.raises(ActionInputError, match=r"action 'add': input /b: 'x' is not of type 'number'"):
            actions.add(a=1, b="x")
        with pytest.raises(ActionInputError, match="required property"):
            actions.add(a=1)
        with pytest.raises(ActionFailed, match=r"^ValueError: refused y second line$"):
            actions.boom(text="y")
        with pytest.raises(
            ActionFailed, match=r"action 'bad_output': output /sum: 'not a number' is not of type 'number'"
        ):
            actions.bad_output()
        with pytest.raises(AttributeError, match="no such action"):
            actions.nope  # noqa: B018
        assert {item["name"] for item in actions.describe()} == set(actions.names)
    with pytest.raises(ActionFailed, match="closed"):
        actions.add(a=1, b=2)


def test_worker_on_another_python_gives_the_same_answers_and_survives_a_dying_action(toy, tmp_path):
    python = other_python(tmp_path)
    with reefnb.use(toy, environment=python) as actions:
        assert actions.python == python
        assert actions.add(a=2, b=3.5) == {"sum": 5.5}
        counted = actions.count()
        assert counted["pid"] != os.getpid() and counted["loads"] == 1
        assert actions.count()["calls"] == 2  # the same worker, loaded once
        with pytest.raises(ActionFailed, match=r"^ValueError: refused y second line$"):
            actions.boom(text="y")
        with pytest.raises(ActionFailed, match=r"exited \(code 7\)"):
            actions.leave(code=7)
        restarted = actions.count()  # the next call starts a new worker
        assert restarted["pid"] != counted["pid"] and restarted["calls"] == 1
        process = actions._runners[0].process
    assert process.poll() is not None  # closing stopped the worker


def test_workers_run_calls_in_parallel_processes(toy):
    from concurrent.futures import ThreadPoolExecutor

    with reefnb.use(toy, workers=3) as actions:
        with ThreadPoolExecutor(6) as pool:
            pids = set(pool.map(lambda _: actions.sleep(seconds=0.3)["pid"], range(6)))
    assert len(pids) == 3 and os.getpid() not in pids


def test_the_environment_reef_init_recorded_is_where_the_actions_run(toy, tmp_path):
    python = other_python(tmp_path)
    (toy / "reef.lock.json").write_text(
        json.dumps({"environment": {"kind": "venv", "name": "x"}, "python": {"executable": python}})
    )
    with reefnb.use(toy) as actions:
        assert actions.python == python and actions.count()["pid"] != os.getpid()
    with reefnb.use(toy, environment="native") as actions:
        assert actions.python == sys.executable


def test_manifest_api_section_is_validated(tmp_path):
    folder, module = toy_solution(tmp_path / "bad")
    manifest = json.loads((folder / "solution.json").read_text())
    manifest["api"]["actions"]["outside"] = {"entry": "os:system"}
    manifest["api"]["actions"]["close"] = {"entry": f"{module}:add"}
    manifest["api"]["actions"]["listed"] = {"entry": f"{module}:add", "input": {"type": "array"}, "output": {"type": 3}}
    manifest["api"]["demo"] = "../page.html"
    (folder / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError) as caught:
        reefnb.load_solution(folder)
    text = "\n".join(caught.value.problems)
    assert "/api/actions/outside/entry: module 'os' is not a file of the solution" in text
    assert "/api/actions/close: 'close' is reserved" in text
    assert "/api/actions/listed/input/type: an action's input is an object" in text
    assert "/api/actions/listed/output: not a valid JSON Schema" in text
    assert "/api/demo:" in text
    manifest["api"] = {"actions": {"Bad-Name": {"entry": "x"}}}
    (folder / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="/api/actions"):
        reefnb.load_solution(folder)


def test_entry_module_escaping_by_symbolic_link_is_refused(tmp_path):
    folder, module = toy_solution(tmp_path / "linked")
    outside = tmp_path / "elsewhere.py"
    outside.write_text("def add(a, b):\n    return {}\n")
    (folder / "sneaky.py").symlink_to(outside)
    manifest = json.loads((folder / "solution.json").read_text())
    manifest["api"]["actions"]["add"]["entry"] = "sneaky:add"
    (folder / "solution.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="/api/actions/add/entry"):
        reefnb.load_solution(folder)


def test_a_solution_imported_under_reef_home_needs_trust(toy, reef_home):
    imported = reef_home / "solutions" / "toy-actions-0.1.0"
    shutil.copytree(toy, imported)
    with pytest.raises(ReefError, match="code from elsewhere: read it, then pass --trust"):
        reefnb.use(imported)
    with reefnb.use(imported, trust=True) as actions:
        assert actions.add(a=1, b=2) == {"sum": 3}
    assert main(["serve", str(imported), "--port", "0"]) == 2


def test_no_actions_and_bad_workers_are_one_line_errors(hello):
    with pytest.raises(ReefError, match="/api/actions: this solution declares no actions"):
        reefnb.use(hello)
    with pytest.raises(ReefError, match="--workers must be a whole number"):
        reefnb.use(hello, workers=0)


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(8)


def test_flagship_detect_in_process_and_in_another_environment_agree(frames, tmp_path):
    images, labels = frames
    requests = [{"image": encode(image, "PNG" if index % 2 else "JPEG")} for index, image in enumerate(images)]
    with reefnb.use(FLAGSHIP) as actions:
        here = [actions.call("detect", request) for request in requests]
        with pytest.raises(ActionInputError, match="/backend"):
            actions.detect(image=requests[0]["image"], backend="onnx")
    found = [sorted({item["label"] for item in answer["detections"]}) for answer in here]
    hits = sum(set(f) <= set(expected) and bool(f) for f, expected in zip(found, labels, strict=True))
    assert hits >= 6, (found, labels)  # the shipped detector (mAP 0.56 on this set) names the shapes
    for answer in here:
        for item in answer["detections"]:
            ymin, xmin, ymax, xmax = item["box"]
            assert 0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1 and item["score"] >= 0.5
    with reefnb.use(FLAGSHIP, environment=other_python(tmp_path)) as actions:
        there = [actions.call("detect", request) for request in requests]
    strip = [[{key: value for key, value in answer.items() if key != "latency_ms"}] for answer in here]
    assert strip == [[{key: value for key, value in answer.items() if key != "latency_ms"}] for answer in there]


# --- the handle's parts without a manifest on disk: Action, InProcess, Actions ----------------------------------


def test_a_refused_input_never_quotes_a_long_value_and_an_in_process_exit_is_the_action_s_failure(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading puts the solution's folder first on it
    (tmp_path / "echo_actions.py").write_text(
        "import sys\ndef echo(text):\n    return {'text': text}\ndef leave():\n    sys.exit(3)\n", encoding="utf-8"
    )
    runner = InProcess(tmp_path, {"echo": "echo_actions:echo", "leave": "echo_actions:leave"})
    short = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 10}}, "required": ["text"]}
    actions = Actions(
        SimpleNamespace(name="toy"),
        [runner],
        {"echo": Action("echo", "echo_actions:echo", "say it back", short), "leave": Action("leave", "x:leave")},
    )
    try:
        assert actions.echo(text="hi") == {"text": "hi"} and actions.echo.__doc__ == "say it back"
        secret = "S3CRET" * 200_000
        with pytest.raises(ActionInputError) as refused:
            actions.call("echo", {"text": secret})
        assert str(refused.value).startswith("action 'echo': input /text: maxLength 10 not satisfied")
        assert "S3CRET" not in str(refused.value)
        with pytest.raises(ActionFailed, match="^SystemExit: 3$"):
            actions.leave()
        with pytest.raises(ActionInputError, match=r"no action 'other' \(this solution has: echo, leave\)"):
            actions.call("other", {})
        assert {"echo", "leave"} <= set(dir(actions)) and actions.python == sys.executable
    finally:
        actions.close()
    with pytest.raises(ActionFailed, match="toy: the actions are closed"):
        actions.echo(text="hi")
    sys.modules.pop("echo_actions", None)


def test_declared_actions_come_from_the_manifest_s_api_section_and_none_is_an_error(toy, hello):
    solution = load_solution(toy)
    declared = declared_actions(solution)
    assert declared["add"].as_dict()["input"]["type"] == "object"
    assert declared["add"].input_validator.is_valid({"a": 1, "b": 2})
    assert demo_page(load_solution(hello)) is None
    with pytest.raises(ReefError, match="/api/actions: this solution declares no actions"):
        declared_actions(load_solution(hello))
