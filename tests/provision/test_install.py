"""reef init and named environments: plan, install into a new environment, run on its kernel."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.cli import call
from helpers.solutions import write_solution
from helpers.wheels import make_wheel

import reefnb
from reefnb.provision.envs import get_environment, list_environments
from reefnb.provision.install import LOCK_NAME, plan_init

pytestmark = pytest.mark.usefixtures("private_jupyter")


def probe_solution(folder, requires: dict, name: str = "probe"):
    manifest = {
        "name": name,
        "version": "1.0.0",
        "requires": requires,
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    code = (
        "import reef_probe_pkg, reefnb\nreefnb.record('probe_version', "
        "reef_probe_pkg.VERSION)\nreefnb.record('answer', reef_probe_pkg.answer())"
    )
    return write_solution(folder, manifest, "x = 1", code)


def test_init_new_environment_then_run_on_its_kernel(tmp_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "reef-probe-pkg", "1.2.0", "VERSION = '1.2.0'\ndef answer():\n    return 42\n")
    folder = probe_solution(tmp_path / "probe", {"python": ">=3.10", "packages": ["reef-probe-pkg>=1.1"]})
    with pytest.raises(ImportError):
        __import__("reef_probe_pkg")  # absent here: only the new environment will have it

    code, out, err = call("init", str(folder), "--find-links", str(wheels))
    assert code == 0, err
    assert "missing  package  reef-probe-pkg" in out
    assert "ready: probe" in out
    environment = get_environment("probe")
    assert environment.kernel == "reef-probe"
    lock = json.loads((folder / LOCK_NAME).read_text())
    assert lock["packages"]["reef-probe-pkg"] == "1.2.0"
    assert lock["environment"] == {"kind": "env", "name": "probe", "path": environment.path, "kernel": "reef-probe"}

    record = reefnb.run(folder)  # the lock sends the run to the environment's kernel
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["probe_version"]["value"] == "1.2.0"
    assert record["environment"]["name"] == "probe"
    assert record["environment"]["kernel"] == "reef-probe"
    assert record["environment"]["packages"]["reef-probe-pkg"] == "1.2.0"

    # A second init is idempotent: nothing to install, the lock unchanged, and quick.
    before = (folder / LOCK_NAME).read_text()
    plan = plan_init(folder)
    assert plan.exists and plan.installs == []
    assert [check.status for check in plan.checks] == ["found", "found"]
    code, out, _ = call("init", str(folder), "--find-links", str(wheels))
    assert code == 0 and "found    package  reef-probe-pkg" in out
    assert (folder / LOCK_NAME).read_text() == before

    # Local solutions: ls, find, activate, rm.
    code, out, _ = call("ls", "--json")
    [entry] = json.loads(out)
    assert entry["name"] == "probe" and entry["environment"] == "probe" and entry["environment_bytes"] > 0
    assert call("find", "probe")[1].strip() == str(folder.resolve())
    assert call("activate", "probe")[1].strip() == f"source {environment.path}/bin/activate"
    code, out, _ = call("rm", "probe")
    assert code == 0 and "environment probe" in out
    assert list_environments() == [] and folder.is_dir()  # the user's folder stays
    assert call("find", "probe")[0] == 2


def test_unmet_tool_and_hardware_show_in_plan_and_exit_1(tmp_path):
    folder = probe_solution(
        tmp_path / "needy",
        {
            "tools": [{"name": "git", "version": ">=999"}, {"name": "fortran-9000"}],
            "hardware": {"memory_gb": 1_000_000, "cpu_flags": ["no-such-flag"]},
            "platforms": ["plan9"],
        },
        name="needy",
    )
    code, out, err = call("init", str(folder))
    assert code == 1
    assert "unmet    tool     git" in out and "is version" in out
    assert "reef knows no tool 'fortran-9000'" in out
    assert "this machine has" in out and "GiB of memory" in out
    assert "this CPU does not support no-such-flag" in out
    assert "this machine is" in out
    assert "cannot be met here" in err and len(err.strip().splitlines()) == 1
    assert list_environments() == [] and not (folder / LOCK_NAME).exists()  # nothing half-made
    code, out, _ = call("init", str(folder), "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert {item["name"]: item["status"] for item in report["plan"]["requirements"]}["memory"] == "unmet"


def test_native_never_replaces_without_yes(tmp_path):
    folder = probe_solution(tmp_path / "old", {"packages": ["packaging<1", "pandas"]}, name="old")
    code, out, err = call("init", str(folder), "--native", "--dry-run")
    assert code == 1
    assert "conflict package  packaging" in out
    assert "would replace installed packages (packaging" in err and "--yes" in err
    code, out, _ = call("init", str(folder), "--native", "--dry-run", "--yes")
    assert code == 0 and "dry run: nothing changed" in out


def test_env_create_list_remove_and_run_with_env(tmp_path, hello):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "reef-probe-pkg", "2.0.0", "VERSION = '2.0.0'\ndef answer():\n    return 2\n")
    code, out, err = call("env", "create", "probe2", "reef-probe-pkg==2.0.0", "numpy", "--find-links", str(wheels))
    assert code == 0, err
    assert "kernel reef-probe2" in out
    listed = json.loads(call("env", "list", "--json")[1])
    assert [item["name"] for item in listed] == ["probe2"]
    assert call("env", "create", "probe2")[0] == 2  # exists already
    record = reefnb.run(hello, environment="probe2", parameters={"samples": 100})
    assert record["status"] == "ok" and record["environment"]["name"] == "probe2"
    assert record["environment"]["packages"]["reef-probe-pkg"] == "2.0.0"
    # the environment holds reefnb's kernel part only
    # (tests/provision/test_kernel_part.py): the rest of the API says where it is
    probe = (
        "import reefnb, reefnb.kernel.recording, pathlib\ntry:\n    reefnb.results\nexcept ImportError as "
        "error:\n    print(error)\n"
        "print(sorted(path.name for path in pathlib.Path(reefnb.__file__).parent.iterdir() if path.name != "
        "'__pycache__'))"
    )
    shown = subprocess.run(
        [get_environment("probe2").python, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert (
        "reefnb.results is not in this environment: the kernel environments reef creates carry only reefnb's "
        "kernel part" in shown
    )
    assert shown.splitlines()[-1] == "['__init__.py', 'bench.py', 'common', 'kernel', 'provision', 'solution']"
    code, _, err = call("run", str(hello), "--env", "nope")
    assert code == 2 and "no environment 'nope' (known: probe2)" in err
    assert call("env", "remove", "probe2")[0] == 0
    assert list_environments() == []
    assert call("env", "create", "Bad Name")[0] == 2


def test_failed_creation_leaves_nothing(tmp_path):
    code, _, err = call(
        "env", "create", "broken", "reef-no-such-package-anywhere==9.9", "--no-index", "--find-links", str(tmp_path)
    )
    assert code == 3  # the installer failed: an environment failure, not wrong input
    assert "failed" in err
    assert list_environments() == []
    assert not (reefnb.reef_home() / "envs" / "broken").exists()


def test_init_fetches_verified_artifacts_into_the_cache_and_lock(tmp_path):
    import hashlib
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "served"
    served.mkdir()
    payload = b"synthetic annotations\n" * 1000
    (served / "annotations.json").write_bytes(payload)
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/annotations.json"
        good = {"kind": "dataset", "url": url, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
        manifest = {
            "name": "data",
            "version": "0.1.0",
            "artifacts": {"annotations": good},
            "workflows": {"run": {"notebook": "main.ipynb"}},
        }
        folder = write_solution(tmp_path / "data", manifest, "x = 1", "y = x")
        code, out, err = call("init", str(folder), "--native")
        assert code == 0, err
        assert "fetch    artifact annotations" in out
        lock = json.loads((folder / LOCK_NAME).read_text())
        entry = lock["artifacts"]["annotations"]
        assert entry["source"] == "download" and entry["sha256"] == good["sha256"]
        assert open(entry["path"], "rb").read() == payload
        code, out, _ = call("init", str(folder), "--native")
        assert code == 0 and "cached   artifact annotations" in out

        # A large optional download waits for the run that needs it, unless named with --artifact.
        (served / "images.zip").write_bytes(payload[:100])
        images = {
            "kind": "dataset",
            "url": url.replace("annotations.json", "images.zip"),
            "sha256": hashlib.sha256(payload[:100]).hexdigest(),
            "size": 100,
            "on_demand": True,
        }
        manifest["artifacts"]["images"] = images
        (folder / "solution.json").write_text(json.dumps(manifest))
        code, out, _ = call("init", str(folder), "--native")
        assert code == 0 and "on demand artifact images" in out and "reef init --artifact images" in out
        assert "images" not in json.loads((folder / LOCK_NAME).read_text())["artifacts"]
        code, out, _ = call("init", str(folder), "--native", "--artifact", "images")
        assert code == 0 and "fetch    artifact images" in out
        assert json.loads((folder / LOCK_NAME).read_text())["artifacts"]["images"]["source"] == "download"
        assert "cached   artifact images" in call("init", str(folder), "--native")[1]
        code, _, err = call("init", str(folder), "--native", "--artifact", "labels")
        assert code == 2 and "no artifact 'labels' (declared: annotations, images)" in err

        manifest["artifacts"]["annotations"] = {**good, "sha256": "0" * 64}
        (folder / "solution.json").write_text(json.dumps(manifest))
        code, _, err = call("init", str(folder), "--native")
        assert code == 2 and "sha256" in err and len(err.strip().splitlines()) == 1
    finally:
        server.shutdown()


def test_declared_environments_pin_their_own_packages_and_python(tmp_path):
    wheels = tmp_path / "wheels"
    for version in ("1.0.0", "2.0.0"):
        make_wheel(wheels, "reef-probe-pkg", version, f"VERSION = '{version}'\ndef answer():\n    return 0\n")
    manifest = {
        "name": "twoenvs",
        "version": "0.1.0",
        "requires": {"packages": ["reef-probe-pkg>=1"]},
        "environments": {"old": {"packages": ["reef-probe-pkg==1.0.0"]}, "ancient": {"python": "==2.0.*"}},
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    code = "import reef_probe_pkg, reefnb\nreefnb.record('probe_version', reef_probe_pkg.VERSION)"
    folder = write_solution(tmp_path / "twoenvs", manifest, "x = 1", code)
    assert call("init", str(folder), "--env", "old", "--find-links", str(wheels))[0] == 0
    code_, _, err = call("run", str(folder), "--env", "new")
    assert code_ == 2 and "no environment 'new'" in err
    record = reefnb.run(folder, environment="old")
    assert record["metrics"]["probe_version"]["value"] == "1.0.0"
    code_, _, err = call("run", str(folder), "--env", "ancient")
    assert code_ == 2 and "declared but not made yet: run `reef init" in err
    plan = plan_init(folder, environment="ancient")
    [python] = [check for check in plan.checks if check.kind == "python"]
    assert python.status == "unmet" and "no interpreter matching ==2.0.*" in python.reason


def test_a_declared_python_picks_a_matching_interpreter(tmp_path):
    import platform

    others = [
        found
        for found in reefnb.detect(["python"])["python"]
        if found["version"].split(".")[:2] != platform.python_version().split(".")[:2]
        and found["version"].startswith("3.")
        and int(found["version"].split(".")[1]) >= 8
    ]
    if not others:
        pytest.skip("no other python 3.8+ interpreter on this machine to choose")
    minor = ".".join(others[-1]["version"].split(".")[:2])
    manifest = {
        "name": "otherpy",
        "version": "0.1.0",
        "environments": {"other": {"python": f"=={minor}.*"}},
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    folder = write_solution(tmp_path / "otherpy", manifest, "x = 1", "y = x")
    plan = plan_init(folder, environment="other")
    assert plan.base_python != sys.executable
    assert [check.status for check in plan.checks] == ["found"]
    assert plan.checks[0].found.startswith(minor)
