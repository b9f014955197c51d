"""Import name -> distribution, asked of an environment's own python: the same answer on every supported Python.

Python 3.10's ``importlib.metadata.packages_distributions()`` reads only ``top_level.txt``, which the
wheels of meson-python (numpy), hatchling and flit do not ship: an export on 3.10 lost ``numpy``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.wheels import make_wheel_of_files

from reefnb.provision import detection, distributions
from reefnb.provision.envs import install_packages

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
# A package folder, a plain module, an extension module (its
# bytes are never loaded) and a data file outside site-packages
PROBE_FILES = {
    "probe_layout/__init__.py": "VALUE = 1\n",
    "probe_layout/core.py": "def answer():\n    return 42\n",
    "probe_single.py": "SINGLE = True\n",
    "probe_native.cpython-310-x86_64-linux-gnu.so": "not a real extension module\n",
    "reef_probe_layout-1.0.data/data/share/reef-probe/notes.txt": "data files are not modules\n",
}
PROBE_MODULES = {
    "probe_layout": ["reef-probe-layout"],
    "probe_native": ["reef-probe-layout"],
    "probe_single": ["reef-probe-layout"],
}


@pytest.fixture(scope="module")
def supported_pythons(tmp_path_factory) -> dict[str, str]:
    """{"3.X": interpreter} for the supported Pythons this machine has (PATH, pyenv, conda), this one included."""
    found = {f"{sys.version_info.major}.{sys.version_info.minor}": sys.executable}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REEF_HOME", str(tmp_path_factory.mktemp("reef-home")))
        for python in detection.detect(["python"])["python"]:
            minor = ".".join(python["version"].split(".")[:2])
            if minor in SUPPORTED:
                found.setdefault(minor, python["path"])
    return found


@pytest.fixture(scope="module")
def probe_wheel(tmp_path_factory) -> Path:
    wheel = make_wheel_of_files(tmp_path_factory.mktemp("wheels"), "reef-probe-layout", "1.0", PROBE_FILES)
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.endswith("top_level.txt")]
    return wheel


def python_of(supported_pythons: dict[str, str], version: str) -> str:
    if version not in supported_pythons:
        pytest.skip(f"no python {version} on this machine (looked on PATH, in pyenv and in conda)")
    return supported_pythons[version]


@pytest.mark.parametrize("version", SUPPORTED)
def test_a_wheel_without_top_level_txt_maps_on_every_supported_python(
    version, supported_pythons, probe_wheel, tmp_path
):
    base = python_of(supported_pythons, version)
    venv = tmp_path / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    install_packages(python, [str(probe_wheel)], ["--no-index"])
    (site_packages,) = venv.glob("lib/python*/site-packages")
    assert (site_packages / "probe_layout" / "core.py").is_file()
    assert not list(site_packages.glob("*.dist-info/top_level.txt"))

    # Asked of the venv's own python, where reefnb is not installed; the data file and dist-info are no modules.
    assert detection.environment_modules(python) == PROBE_MODULES
    # The same folder read by this python, in process.
    assert distributions.packages_distributions([str(site_packages)]) == PROBE_MODULES


@pytest.mark.parametrize("version", SUPPORTED)
def test_this_environment_maps_the_same_from_every_supported_python(version, supported_pythons):
    """The script run by another interpreter over this environment's site folders gives this python's answer."""
    python = python_of(supported_pythons, version)
    folders = detection.DetectContext().facts()["site_folders"]
    expected = distributions.packages_distributions(folders)
    completed = subprocess.run(
        [python, distributions.__file__, *folders], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(completed.stdout) == expected
    assert expected["numpy"] == ["numpy"]  # numpy's wheel (meson-python) has no top_level.txt
    assert expected["yaml"] == ["PyYAML"]  # one that has it


@pytest.mark.parametrize("version", SUPPORTED)
def test_a_broken_record_is_read_as_names_only_where_they_are_modules(version, supported_pythons, tmp_path):
    """Paths that leave site-packages, absolute paths and non-module files name no module; files missing
    on disk (all of these) count as RECORD lists them, though 3.12's Distribution.files drops them."""
    python = python_of(supported_pythons, version)
    info = tmp_path / "odd-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: odd\nVersion: 1.0\n", encoding="utf-8")
    (info / "RECORD").write_text(
        "\n".join(
            [
                "../../../bin/odd-tool,,",
                "/etc/passwd,,",
                "odd-1.0.dist-info/METADATA,,",
                "README.md,,",
                "odd.libs/libx.so,,",
                "__pycache__/odd_mod.cpython-311.pyc,,",
                "odd_mod.py,,",
                "odd_ext.abi3.so,,",
                "odd_pkg/__init__.py,,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (info / "top_level.txt").write_text("odd_declared\nnot-a-module\n", encoding="utf-8")
    expected = {"odd_declared": ["odd"], "odd_ext": ["odd"], "odd_mod": ["odd"], "odd_pkg": ["odd"]}
    assert distributions.packages_distributions([str(tmp_path)]) == expected
    completed = subprocess.run(
        [python, distributions.__file__, str(tmp_path)], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(completed.stdout) == expected
