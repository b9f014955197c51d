"""reef reproduce across environments, and reef init PACKAGE: real virtual environments with hand-made
wheels (reef-probe-pkg 1.0.0 and 2.0.0 give different answers), real kernels, real packages."""

from __future__ import annotations

import json
import zipfile

import pytest
from conftest import call, write_solution
from wheels import make_wheel

import reefnb
from reefnb.provision.envs import get_environment
from reefnb.sharing.package import export_package

PROBE_CODE = "import reef_probe_pkg, reefnb\nreefnb.record('answer', reef_probe_pkg.answer())\nreefnb.record('probe_version', reef_probe_pkg.VERSION)"


@pytest.fixture
def wheels(tmp_path):
    """Two versions of one package whose answer depends on the version (the author had only the first)."""
    for folder, versions in (("old", (("1.0.0", 42),)), ("wheels", (("1.0.0", 42), ("2.0.0", 43)))):
        for version, answer in versions:
            make_wheel(tmp_path / folder, "reef-probe-pkg", version, f"VERSION = '{version}'\ndef answer():\n    return {answer}\n")
    return tmp_path / "wheels"


@pytest.fixture
def package(tmp_path, wheels):
    """The author's side: a solution needing reef-probe-pkg, initialised with 1.0.0, run once, exported."""
    folder = write_solution(
        tmp_path / "author" / "probe",
        {"name": "probe", "version": "1.0.0", "requires": {"packages": ["reef-probe-pkg>=1"]}, "workflows": {"run": {"notebook": "main.ipynb"}}},
        "x = 1",
        PROBE_CODE,
    )
    code, out, err = call("init", str(folder), "--find-links", str(wheels.parent / "old"), "--env", "author")
    assert code == 0, err
    record = reefnb.run(folder)
    assert record["status"] == "ok" and record["metrics"]["answer"]["value"] == 42
    return export_package(folder, tmp_path / "probe.reef.zip")["package"]


pytestmark = pytest.mark.usefixtures("private_jupyter")


def test_round_trip_in_a_new_environment_pins_the_locked_versions(tmp_path, wheels, package):
    # Both versions are on offer: only the lock's pin makes the new environment take 1.0.0.
    code, out, err = call(
        "reproduce",
        str(package),
        "--trust",
        "--env",
        "new",
        "--find-links",
        str(wheels),
        "--folder",
        str(tmp_path / "evaluator"),
        "--report",
        str(tmp_path / "report.html"),
    )
    assert code == 0, out + err
    assert "answer: reproduced" in out and "REPRODUCED" in out
    assert get_environment("probe-reproduce").path != get_environment("author").path
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "reproduced" and "Results Reproduced" in report["badges"]
    page = (tmp_path / "report.html").read_text()
    assert "<!doctype html>" in page and "Results Reproduced" in page and "answer" in page and "REPRODUCED" in page


def test_a_different_package_version_fails_with_the_difference_beside_it(tmp_path, wheels, package):
    assert call("env", "create", "newer", "reef-probe-pkg==2.0.0", "--find-links", str(wheels))[0] == 0
    code, out, err = call("reproduce", str(package), "--trust", "--env", "newer", "--folder", str(tmp_path / "evaluator"))
    assert code == 1, out + err
    assert "answer: not reproduced (expected 42, got 43" in out
    assert 'environment packages differs: {"reef-probe-pkg": ["1.0.0", "2.0.0"]' in out
    folder = tmp_path / "evaluator"
    report = json.loads((folder / "reproduce-report.json").read_text())
    [experiment] = report["experiments"]
    assert experiment["metrics"]["answer"]["verdict"] == "not reproduced"
    assert experiment["environment_differences"]["packages"]["reef-probe-pkg"] == ["1.0.0", "2.0.0"]
    assert report["badges"] == ["Artifacts Evaluated - Functional"]
    page = (folder / "reproduce-report.html").read_text()
    assert "not reproduced" in page and "packages reef-probe-pkg</td><td>1.0.0</td><td>2.0.0" in page


def test_unknown_environment_is_a_clear_error(tmp_path, package):
    code, _, err = call("reproduce", str(package), "--trust", "--env", "nowhere", "--folder", str(tmp_path / "evaluator"))
    assert code == 2 and "nowhere" in err and len(err.strip().splitlines()) == 1


def test_init_a_package_imports_it_once_into_reef_home(tmp_path, wheels, package, reef_home):
    code, out, err = call("init", str(package), "--find-links", str(wheels), "--env", "author")
    assert code == 0, err
    target = reef_home / "solutions" / "probe-1.0.0"
    assert (target / "solution.json").is_file() and "ready: probe" in out
    assert "need ==1.0.0" in out  # pinned to the package's lock
    assert call("find", "probe")[1].strip() == str(target.resolve())
    assert call("init", str(package), "--env", "author", "--no-index")[0] == 0  # the same package again: reused

    # Another package of the same name and version is refused, and the folder left as it was.
    other = tmp_path / "other.reef.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(other, "w") as copy:
        for info in source.infolist():
            data = source.read(info)
            copy.writestr(info, data + b"\n" if info.filename == "SHA256SUMS" else data)
    before = sorted(path.name for path in target.iterdir())
    code, _, err = call("init", str(other), "--env", "author")
    assert code == 2 and "holds another package of probe@1.0.0" in err
    assert sorted(path.name for path in target.iterdir()) == before


def test_init_a_package_runs_none_of_its_code_without_trust(tmp_path, reef_home):
    folder = write_solution(
        tmp_path / "gen",
        {
            "name": "gen",
            "version": "0.1.0",
            "workflows": {"run": {"notebook": "main.ipynb"}},
            "artifacts": {"labels": {"kind": "other", "generate": "reef_gen_pkg:labels"}},
        },
        "x = 1",
    )
    marker = tmp_path / "ran"
    (folder / "reef_gen_pkg.py").write_text(
        f"from pathlib import Path\ndef labels(target):\n    Path({str(marker)!r}).write_text('ran')\n    (Path(target) / 'l.txt').write_text('a')\n"
    )
    package = export_package(folder, tmp_path / "gen.reef.zip", include=[str(folder / "reef_gen_pkg.py")])["package"]
    code, _, err = call("init", str(package), "--native")
    assert code == 2 and "made by the package's own code (reef_gen_pkg:labels)" in err and "--trust" in err
    assert not marker.exists()
    code, _, err = call("init", str(package), "--native", "--trust")
    assert code == 0, err
    assert marker.read_text() == "ran"
