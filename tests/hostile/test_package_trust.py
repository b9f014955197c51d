"""Code from a package runs only with --trust (issue 15, case 1).

The attacker ships a package whose requirements make the installer run code: a wheel with a
``.pth`` file named by direct reference (it runs at the next interpreter start), an sdist whose
build writes a file, a requirement without pin or hash, a lock whose hash does not match the file.
Without --trust each is refused with one line naming the requirement and --trust, exit 2, with no
environment, no imported folder and no marker file left; with --trust the attack really runs, which
shows the test would catch a regression. Real installs with uv/pip into real virtual environments,
wheels and sdists made here, the user's "index" a local folder (--find-links).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from helpers.cli import call
from helpers.packages import write_package
from helpers.solutions import write_notebook
from helpers.wheels import make_wheel, make_wheel_of_files

from reefnb.provision.envs import list_environments

pytestmark = pytest.mark.usefixtures("private_jupyter")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_package(
    path: Path, requires: list[str], lock: dict, files: dict[str, bytes] | None = None, name: str = "evil"
) -> Path:
    """A package as an attacker writes it by hand: consistent SHA256SUMS, any manifest and lock."""
    scratch = path.parent / f".{name}-notebook"
    notebook = write_notebook(scratch / "main.ipynb", "x = 1", "print('hello')").read_bytes()
    manifest = {
        "name": name,
        "version": "0.1.0",
        "requires": {"packages": requires},
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    members = {
        "solution.json": json.dumps(manifest).encode(),
        "main.ipynb": notebook,
        "reef.lock.json": json.dumps({"lock_version": 1, **lock}).encode(),
        **(files or {}),
    }
    return write_package(path, members)


def evil_wheel(folder: Path, marker: Path) -> Path:
    """evilpth 0.1: its .pth line runs in every interpreter of the environment it lands in."""
    line = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('owned')\n"
    return make_wheel_of_files(folder, "evilpth", "0.1", {"evilpth.py": "", "evilpth.pth": line})


def evil_sdist(folder: Path, marker: Path) -> Path:
    """reef-hostile-sdist 0.1, source only: building it runs its setup.py."""
    setup = (
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('built')\nfrom setuptools import setup\n"
        "setup(name='reef-hostile-sdist', version='0.1', py_modules=[])\n"
    )
    pkg_info = "Metadata-Version: 2.1\nName: reef-hostile-sdist\nVersion: 0.1\n"
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / "reef_hostile_sdist-0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for member, text in (("setup.py", setup), ("PKG-INFO", pkg_info)):
            data = text.encode()
            info = tarfile.TarInfo(f"reef_hostile_sdist-0.1/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist


def left_behind(reef_home: Path) -> dict:
    """What a refused init may not leave: environments, imported solutions, kernelspecs (by name)."""
    from jupyter_client.kernelspec import KernelSpecManager

    solutions = reef_home / "solutions"
    return {
        "environments": [environment.name for environment in list_environments()],
        "env folders": sorted(path.name for path in (reef_home / "envs").glob("*")),
        "solutions": sorted(path.name for path in solutions.glob("*")) if solutions.is_dir() else [],
        "kernels": sorted(name for name in KernelSpecManager().find_kernel_specs() if name.startswith("reef-")),
    }


NOTHING = {"environments": [], "env folders": [], "solutions": [], "kernels": []}


def assert_refused(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in (*words, "--trust"):
        assert word in err, err


def test_direct_reference_wheel_with_pth_is_refused_without_trust(tmp_path, reef_home):
    marker = tmp_path / "owned"
    wheel = evil_wheel(tmp_path / "build", marker)
    # The package carries the wheel; its manifest points at where the import will put it.
    url = (reef_home / "solutions" / "evil-0.1.0" / "wheels" / wheel.name).as_uri()
    package = make_package(
        tmp_path / "evil.reef.zip",
        [f"evilpth @ {url}"],
        {"packages": {"evilpth": "0.1"}},
        {f"wheels/{wheel.name}": wheel.read_bytes()},
    )

    code, out, err = call("init", str(package), "--env", "evil")
    assert_refused(code, out, err, "evilpth", "direct reference", "solution.json: /requires/packages/0")
    assert not marker.exists()
    assert left_behind(reef_home) == NOTHING  # no environment, kernel or imported folder

    code, out, err = call("init", str(package), "--env", "evil", "--trust")  # the user read it and trusts it: it runs
    assert code == 0, out + err
    assert marker.read_text() == "owned"
    marker.unlink()

    # A folder the package is imported into without trust stays the package's, not the user's own (the trust given
    # above is recorded in the folder it was given to: tests/hostile/test_trust_verbs.py).
    assert call("import", str(package), "-o", str(tmp_path / "looked-at"))[0] == 0
    code, out, err = call("init", str(tmp_path / "looked-at"), "--env", "again")
    assert_refused(code, out, err, "evilpth", "direct reference")
    assert not marker.exists() and not (reef_home / "envs" / "again").exists()


def test_sdist_is_refused_without_trust_even_when_pinned_and_hashed(tmp_path, reef_home):
    marker = tmp_path / "built"
    index = tmp_path / "index"
    sdist = evil_sdist(index, marker)
    lock = {
        "packages": {"reef-hostile-sdist": "0.1"},
        "hashes": {"reef-hostile-sdist==0.1": [f"sha256:{sha256(sdist)}"]},
    }
    package = make_package(tmp_path / "sdist.reef.zip", ["reef-hostile-sdist"], lock, name="sdist")

    code, out, err = call("init", str(package), "--env", "sdist", "--find-links", str(index))
    assert_refused(code, out, err, "reef-hostile-sdist", "hash-checked wheels")
    assert not marker.exists()
    assert left_behind(reef_home) == NOTHING


@pytest.mark.parametrize(
    ("requirement", "lock", "words"),
    [
        ("reef-probe-pkg>=1", {"packages": {}}, ["reef-probe-pkg>=1", "not pinned"]),
        ("reef-probe-pkg", {"packages": {"reef-probe-pkg": "1.0.0"}}, ["reef-probe-pkg==1.0.0", "no sha256"]),
        ("reef-probe-pkg==1.0.0", {"packages": {}, "hashes": {"reef-probe-pkg==1.0.0": ["md5:abc"]}}, ["no sha256"]),
        (
            "reef-probe-pkg @ https://127.0.0.1:9/reef_probe_pkg-1.0.0-py3-none-any.whl",
            {"packages": {}},
            ["direct reference"],
        ),
        ("reef-probe-pkg @ git+https://127.0.0.1:9/probe.git", {"packages": {}}, ["direct reference"]),
    ],
    ids=["unpinned", "no-hash", "bad-hash-format", "https-url", "git-url"],
)
def test_requirements_without_pin_or_hash_are_refused_before_installing(tmp_path, reef_home, requirement, lock, words):
    wheels = tmp_path / "index"
    make_wheel(wheels, "reef-probe-pkg", "1.0.0", "VERSION = '1.0.0'\n")
    package = make_package(tmp_path / "probe.reef.zip", [requirement], lock, name="probe")
    code, out, err = call("init", str(package), "--env", "probe", "--find-links", str(wheels))
    assert_refused(code, out, err, *words, "solution.json: /requires/packages/0")
    assert left_behind(reef_home) == NOTHING


def test_an_installer_option_smuggled_in_a_locked_version_is_refused(tmp_path, reef_home):
    lock = {"packages": {"reef-probe-pkg": "1.0.0 --index-url http://127.0.0.1:9/"}}
    package = make_package(tmp_path / "probe.reef.zip", ["reef-probe-pkg"], lock, name="probe")
    for trust in ([], ["--trust"]):
        code, out, err = call("init", str(package), "--env", "probe", *trust)
        assert code == 2 and len(err.strip().splitlines()) == 1, out + err
        assert (
            "reef.lock.json: /packages/reef-probe-pkg: '1.0.0 --index-url http://127.0.0.1:9/' is not a version" in err
        )
        assert left_behind(reef_home) == NOTHING


def test_tampered_hash_in_the_lock_is_refused_by_the_installer(tmp_path, reef_home):
    wheels = tmp_path / "index"
    wheel = make_wheel(wheels, "reef-probe-pkg", "1.0.0", "VERSION = '1.0.0'\n")
    wrong = sha256(wheel)[::-1]
    lock = {"packages": {"reef-probe-pkg": "1.0.0"}, "hashes": {"reef-probe-pkg==1.0.0": [f"sha256:{wrong}"]}}
    package = make_package(tmp_path / "probe.reef.zip", ["reef-probe-pkg"], lock, name="probe")
    code, out, err = call("init", str(package), "--env", "probe", "--find-links", str(wheels))
    assert_refused(code, out, err, "reef-probe-pkg")
    assert "hash mismatch" in err.lower() or "do not match the hashes" in err.lower()  # uv's words, pip's words
    assert wrong in err
    assert left_behind(reef_home) == NOTHING

    # The same package with the right hash installs without --trust, checked against it.
    lock["hashes"] = {"reef-probe-pkg==1.0.0": [f"sha256:{sha256(wheel)}"]}
    package = make_package(tmp_path / "good.reef.zip", ["reef-probe-pkg"], lock, name="probe")
    code, out, err = call("init", str(package), "--env", "probe", "--find-links", str(wheels))
    assert code == 0, out + err
    installed = json.loads((reef_home / "solutions" / "probe-0.1.0" / "reef.lock.json").read_text())
    assert installed["packages"]["reef-probe-pkg"] == "1.0.0"
    assert installed["hashes"] == lock["hashes"]


def test_an_authors_lock_gains_hashes_and_its_package_installs_without_trust(tmp_path, reef_home):
    from reefnb.sharing.package import export_package

    wheels = tmp_path / "index"
    wheel = make_wheel(wheels, "reef-probe-pkg", "1.0.0", "VERSION = '1.0.0'\n")
    folder = tmp_path / "author" / "probe"
    write_notebook(folder / "main.ipynb", "x = 1", "import reef_probe_pkg")
    (folder / "solution.json").write_text(
        json.dumps(
            {
                "name": "probe",
                "version": "1.0.0",
                "requires": {"packages": ["reef-probe-pkg>=1"]},
                "workflows": {"run": {"notebook": "main.ipynb"}},
            }
        )
    )
    assert call("init", str(folder), "--env", "author", "--find-links", str(wheels))[0] == 0
    lock = json.loads((folder / "reef.lock.json").read_text())
    assert lock["hashes"] == {"reef-probe-pkg==1.0.0": [f"sha256:{sha256(wheel)}"]}  # the file the installer used
    package = export_package(folder, tmp_path / "probe.reef.zip")["package"]
    code, out, err = call("init", package, "--env", "victim", "--find-links", str(wheels))
    assert code == 0, out + err
    assert "need ==1.0.0" in out


def test_reproduce_a_package_in_a_new_environment_needs_trust(tmp_path, reef_home):
    marker = tmp_path / "owned"
    wheel = evil_wheel(tmp_path / "build", marker)
    package = make_package(
        tmp_path / "evil.reef.zip", [f"evilpth @ {wheel.as_uri()}"], {"packages": {"evilpth": "0.1"}}
    )
    code, out, err = call("reproduce", str(package), "--env", "new", "--folder", str(tmp_path / "evaluator"))
    assert_refused(code, out, err, "evil.reef.zip")
    assert not marker.exists() and not (tmp_path / "evaluator").exists()
    assert left_behind(reef_home) == NOTHING


def test_a_component_pulled_from_a_registry_is_held_to_the_same_rules(tmp_path, reef_home, monkeypatch):
    import subprocess

    marker = tmp_path / "owned"
    wheel = evil_wheel(tmp_path / "build", marker)
    package = make_package(
        tmp_path / "evil.reef.zip", [f"evilpth @ {wheel.as_uri()}"], {"packages": {"evilpth": "0.1"}}
    )
    bare = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    assert call("registry", "add", "lab", str(bare))[0] == 0
    code, out, err = call("publish", str(package), "--registry", "lab")
    assert code == 0, out + err

    victim = tmp_path / "victim-home"  # another user, who never saw the package
    monkeypatch.setenv("REEF_HOME", str(victim))
    assert call("registry", "add", "lab", str(bare))[0] == 0
    code, out, err = call("init", "evil@0.1.0", "--env", "evil")
    assert_refused(code, out, err, "evil@0.1.0: solution.json: /requires/packages/0", "evilpth", "direct reference")
    assert not marker.exists()
    assert left_behind(victim) == NOTHING
