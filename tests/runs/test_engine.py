"""The papermill engine reef executes notebooks with (reefnb.runs.engine): registered as papermill finds engines,
the kernel's packages cached by its environment's signature, the code it runs in the kernel (here in a Python of
its own); and, through real runs, the cache taken only while the kernel's environment is the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import papermill  # noqa: F401  # before reefnb.runs.engine, which papermill's entry points load as it loads
from helpers.solutions import write_solution
from papermill.engines import papermill_engines

import reefnb
from reefnb.runs.engine import (
    ENGINE_NAME,
    FILE_AUDIT_CODE,
    FILE_AUDIT_EXPRESSION,
    KERNEL_PACKAGES_FOLDER,
    KERNEL_SIGNATURE_EXPRESSION,
    ReefEngine,
    RunSession,
    kernel_packages,
    register_engine,
    remember_kernel_packages,
)
from reefnb.runs.output_limit import MAX_CELL_OUTPUT_VARIABLE

SIGNATURE = {"version": "3.12.1", "executable": "/opt/python", "paths": [["/opt/site", 123]]}


def test_papermill_finds_the_reef_engine_by_its_entry_point_and_after_register_engine():
    (entry,) = [entry for entry in entry_points(group="papermill.engine") if entry.name == ENGINE_NAME]
    assert entry.load() is ReefEngine
    register_engine()
    register_engine()  # twice is harmless
    assert papermill_engines.get_engine(ENGINE_NAME) is ReefEngine


def test_the_kernel_s_packages_are_kept_by_its_environment_s_signature(reef_home):
    assert kernel_packages(SIGNATURE) is None  # no run read them yet
    remember_kernel_packages(SIGNATURE, {"numpy": "2.1.0"})
    assert kernel_packages(dict(reversed(list(SIGNATURE.items())))) == {"numpy": "2.1.0"}  # the order of keys aside
    assert kernel_packages({**SIGNATURE, "paths": [["/opt/site", 124]]}) is None  # a folder on its path changed
    assert kernel_packages(None) is None
    remember_kernel_packages(None, {"numpy": "1"})  # no signature: nothing kept
    assert len(list(reef_home.joinpath(*KERNEL_PACKAGES_FOLDER).iterdir())) == 1


def test_a_damaged_cache_is_as_good_as_none(reef_home):
    remember_kernel_packages(SIGNATURE, {"numpy": "2.1.0"})
    (cached,) = reef_home.joinpath(*KERNEL_PACKAGES_FOLDER).iterdir()
    for damaged in ("{not json", '{"packages": {"numpy": 2}}', '["packages"]'):
        cached.write_text(damaged)
        assert kernel_packages(SIGNATURE) is None


def test_a_run_session_takes_its_output_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv(MAX_CELL_OUTPUT_VARIABLE, "1K")
    session = RunSession()
    assert session.output_budget.limit == 1024
    assert session.files_read is None and session.written == [] and RunSession().written is not session.written


def in_python(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_signature_expression_names_the_interpreter_and_each_folder_of_its_path(tmp_path):
    (tmp_path / "probe-1.0.dist-info").mkdir()  # a distribution in the working folder: named, not timed
    site = tmp_path / "site"
    site.mkdir()
    output = in_python(f"import sys; sys.path.insert(0, {str(site)!r}); print({KERNEL_SIGNATURE_EXPRESSION})", tmp_path)
    signature = json.loads(output)
    assert signature["executable"] == sys.executable
    assert signature["version"] == ".".join(map(str, sys.version_info[:3]))
    paths = dict(signature["paths"])
    assert paths["."] == ["probe-1.0.dist-info"]  # `python -c` puts its working folder first on its path
    assert paths[str(site)] == site.stat().st_mtime_ns  # installing into it changes its time, so the signature


def test_the_file_audit_reports_files_opened_for_reading_only(tmp_path):
    (tmp_path / "input.csv").write_text("a\n1\n")
    code = (
        FILE_AUDIT_CODE
        + "open('input.csv').read()\nopen('output.csv', 'w').write('x')\nopen('missing.csv', 'a').close()\n"
        + f"print({FILE_AUDIT_EXPRESSION})"
    )
    assert json.loads(in_python(code, tmp_path)) == [str(tmp_path / "input.csv")]


def fake_distribution(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_kernel_packages_come_from_the_cache_until_the_environment_changes(tmp_path, monkeypatch):
    site = tmp_path / "site"
    fake_distribution(site, "reef-probe-one", "1.0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    solution = write_solution(
        tmp_path / "probe", {"name": "probe", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    )
    cache = Path(os.environ["REEF_HOME"]).joinpath(*KERNEL_PACKAGES_FOLDER)
    first = reefnb.run(solution, store=False)
    assert first["status"] == "ok" and first["environment"]["packages"]["reef-probe-one"] == "1.0"
    assert len(list(cache.glob("*.json"))) == 1  # the kernel read its packages once, for the runs after it

    [cached] = cache.glob("*.json")
    marked = json.loads(cached.read_text())
    marked["packages"]["reef-cache-marker"] = "9"  # only a run that takes its packages from the cache records it
    cached.write_text(json.dumps(marked))

    second = reefnb.run(solution, store=False)  # the same environment (the run's own files aside): from the cache
    assert second["environment"]["packages"] == {**first["environment"]["packages"], "reef-cache-marker": "9"}
    assert second["environment"]["python"] == first["environment"]["python"]

    fake_distribution(site, "reef-probe-two", "2.0")  # installed since: the folder on the kernel's path changed
    third = reefnb.run(solution, store=False)
    assert len(list(cache.glob("*.json"))) == 2
    assert third["environment"]["packages"]["reef-probe-two"] == "2.0"
    assert "reef-cache-marker" not in third["environment"]["packages"]
