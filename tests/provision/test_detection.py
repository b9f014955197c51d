"""Detection: detectors against what the system says, the per-environment cache, plugins, the text."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reefnb.common.exceptions import ReefError
from reefnb.provision import detection
from reefnb.provision.tools import find_tool

LINUX = Path("/proc/cpuinfo").exists()


def make_venv(folder: Path) -> tuple[str, Path]:
    """A real, empty virtual environment: its python and its site-packages folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    (site_packages,) = (
        folder.glob("lib/python*/site-packages") if os.name != "nt" else [folder / "Lib" / "site-packages"]
    )
    return str(python), site_packages


def add_distribution(site_packages: Path, name: str, version: str) -> Path:
    """What pip leaves behind for an installed distribution, as far as metadata goes."""
    info = site_packages / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    return info


@pytest.fixture(scope="module")
def shared_venv(tmp_path_factory) -> tuple[str, Path]:
    """One venv for the tests that only read it."""
    return make_venv(tmp_path_factory.mktemp("shared") / "venv")


def forbid_subprocesses(monkeypatch) -> list:
    """Make starting a process fail; the attempts are listed (detection logs a failing detector and goes on)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:1])
        raise AssertionError(f"a subprocess was started: {args[:1]}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    return attempts


# --------------------------------------------------------------------------------------------
# Detectors against the system


def test_os_matches_platform():
    found = detection.detect(["os"])["os"]
    uname = platform.uname()
    assert (found["system"], found["release"], found["machine"]) == (uname.system, uname.release, uname.machine)
    assert found["platform"] == platform.platform()
    if Path("/etc/os-release").exists():
        pretty = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', Path("/etc/os-release").read_text(), re.MULTILINE)
        assert found["distribution"] == (pretty.group(1) if pretty else None)


@pytest.mark.skipif(not LINUX, reason="reads /proc/cpuinfo")
def test_cpu_matches_proc_cpuinfo():
    cpu = detection.detect(["cpu"])["cpu"]
    text = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^(?:model name|Hardware|cpu model)\s*:\s*(.*)$", text, re.MULTILINE)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.MULTILINE)
    assert cpu["model"] == model.group(1).strip()
    assert set(cpu["flags"]) == set(flags.group(1).split())
    assert cpu["logical_cores"] == os.cpu_count()
    cores = set(re.findall(r"^physical id\s*:\s*(\d+)\s*$.*?^core id\s*:\s*(\d+)\s*$", text, re.MULTILINE | re.DOTALL))
    if cores:
        assert cpu["physical_cores"] == len(cores) <= cpu["logical_cores"]


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="reads /proc/meminfo")
def test_memory_matches_proc_meminfo():
    memory = detection.detect(["memory"])["memory"]
    total_kb = int(re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE).group(1))
    assert memory["total_bytes"] == total_kb * 1024
    assert 0 < memory["available_bytes"] <= memory["total_bytes"]


def test_packages_of_this_python_match_importlib_metadata():
    packages = detection.detect(["packages"])["packages"]
    for name in ("numpy", "pandas", "pytest"):
        assert packages[name] == importlib.metadata.version(name)
    assert detection.environment_packages() == packages


def test_environment_describes_the_inspected_python(shared_venv):
    python, _ = shared_venv
    here = detection.detect(["environment"], env_name="main")["environment"]
    assert here == {
        "name": "main",
        "python": sys.executable,
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
    }
    there = detection.detect(["environment"], python=python)["environment"]
    assert there["prefix"] == str(Path(python).parent.parent)
    assert there["version"] == detection.python_version(python) == platform.python_version()


def test_a_missing_interpreter_is_a_reef_error(tmp_path):
    with pytest.raises(ReefError, match="no such python"):
        detection.detect(["packages"], python=str(tmp_path / "nowhere" / "python"))


def test_unknown_detector_is_a_reef_error():
    with pytest.raises(ReefError, match="unknown detector 'nonsense'"):
        detection.detect(["cpu", "nonsense"])


# --------------------------------------------------------------------------------------------
# The tools detector (reefnb.provision.tools itself: tests/provision/test_tools.py)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_tools_detector_reports_what_find_tool_finds():
    found = find_tool("git")
    assert detection.detect(["tools"])["tools"]["git"] == {"path": found["path"], "version": found["version"]}


# --------------------------------------------------------------------------------------------
# Python interpreters


def test_a_python_on_path_has_the_version_it_reports():
    interpreters = detection.detect(["python"])["python"]
    on_path = [interpreter for interpreter in interpreters if interpreter["source"] == "path"]
    if not on_path:
        pytest.skip(
            "this machine has no python on PATH other than pyenv shims, so there is no PATH interpreter to find"
        )
    for interpreter in on_path:
        answer = subprocess.run([interpreter["path"], "--version"], capture_output=True, text=True)
        assert answer.returncode == 0
        assert f"Python {interpreter['version']}" == (answer.stdout or answer.stderr).strip().split("+")[0]
    real_paths = [os.path.realpath(interpreter["path"]) for interpreter in interpreters]
    assert len(real_paths) == len(set(real_paths))


def test_pyenv_versions_are_all_found():
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    expected = {os.path.realpath(python) for python in versions.glob("*/bin/python")}
    if not expected:
        pytest.skip(
            "pyenv has no installed versions on this machine, so there is nothing for the pyenv detector to find"
        )
    found = {
        os.path.realpath(interpreter["path"]): interpreter for interpreter in detection.detect(["python"])["python"]
    }
    assert expected <= set(found)
    for folder in versions.iterdir():
        if (folder / "bin" / "python").exists():
            assert found[os.path.realpath(folder / "bin" / "python")]["version"].startswith(
                folder.name.split("-")[0][:3]
            )


def test_conda_environments_are_found(tmp_path, monkeypatch):
    # conda is not installed here: its layout (prefix/bin/python, prefix/envs/NAME/bin/python) is made
    # of small scripts that answer like an interpreter, and one that fails (left out).
    def interpreter(prefix: Path, body: str) -> Path:
        path = prefix / "bin" / "python"
        path.parent.mkdir(parents=True)
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        return path

    if os.name == "nt":
        pytest.skip("the stand-in tools are POSIX shell scripts, which Windows cannot execute")
    home = tmp_path / "home"
    base = interpreter(home / "miniconda3", "echo 3.12.4")
    env = interpreter(home / "miniconda3" / "envs" / "torch", "echo 3.10.14")
    interpreter(home / "miniconda3" / "envs" / "broken", "exit 3")
    active = interpreter(tmp_path / "active", "echo 3.9.1")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "active"))
    found = [entry for entry in detection.detect(["python"])["python"] if entry["source"] == "conda"]
    assert found == [
        {"path": str(active), "version": "3.9.1", "source": "conda"},
        {"path": str(base), "version": "3.12.4", "source": "conda"},
        {"path": str(env), "version": "3.10.14", "source": "conda"},
    ]


# --------------------------------------------------------------------------------------------
# GPU


def test_nvidia_smi_csv_is_parsed():
    # No GPU here: these are lines in the format nvidia-smi prints for the query reef makes.
    output = "NVIDIA H200, 143771, 9.0, 570.124.06\nTesla T4, 15360, 7.5, 535.104.05\n"
    assert detection.parse_nvidia_smi(output) == [
        {
            "vendor": "nvidia",
            "name": "NVIDIA H200",
            "memory_bytes": 143771 * 1024**2,
            "compute_capability": "9.0",
            "driver": "570.124.06",
        },
        {
            "vendor": "nvidia",
            "name": "Tesla T4",
            "memory_bytes": 15360 * 1024**2,
            "compute_capability": "7.5",
            "driver": "535.104.05",
        },
    ]
    assert detection.parse_nvidia_smi("GRID K520, [N/A], [Not Supported], 390.1\n")[0]["memory_bytes"] is None


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has nvidia-smi")
def test_no_nvidia_smi_means_no_gpus():
    assert detection.detect(["gpu"])["gpu"] == []


def test_an_old_nvidia_smi_without_compute_cap(tmp_path, monkeypatch):
    # No GPU here: a stand-in nvidia-smi that, like drivers before 510, rejects the compute_cap field.
    if os.name == "nt":
        pytest.skip("the stand-in tools are POSIX shell scripts, which Windows cannot execute")
    script = tmp_path / "nvidia-smi"
    script.write_text(
        '#!/bin/sh\ncase "$1" in *compute_cap*) echo "Field compute_cap is not valid" >&2; exit 2;; esac\n'
        'echo "Tesla K80, 11441, 470.57.02"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert detection.detect(["gpu"])["gpu"] == [
        {
            "vendor": "nvidia",
            "name": "Tesla K80",
            "memory_bytes": 11441 * 1024**2,
            "compute_capability": None,
            "driver": "470.57.02",
        }
    ]


# --------------------------------------------------------------------------------------------
# The cache


def test_a_warm_call_reads_the_cache_without_starting_a_process(monkeypatch, reef_home):
    cold = detection.detect()
    assert set(cold) >= {"os", "cpu", "memory", "gpu", "environment", "python", "packages", "tools"}
    assert "tensorflow" not in cold
    assert detection.cache_path() in set(reef_home.glob("cache/detect/*.json"))
    attempts = forbid_subprocesses(monkeypatch)
    warm = detection.detect()
    assert attempts == []
    assert {name: data for name, data in warm.items() if name != "memory"} == {
        name: data for name, data in cold.items() if name != "memory"
    }
    assert warm["memory"]["total_bytes"] == cold["memory"]["total_bytes"]


def test_a_new_distribution_in_the_environment_is_seen(tmp_path, monkeypatch):
    python, site_packages = make_venv(tmp_path / "venv")
    names = ["packages", "tools", "python", "environment"]
    first = detection.detect(names, python=python, env_name="demo")
    assert first["packages"] == {}
    assert first["environment"]["name"] == "demo"

    started = []
    popen = subprocess.Popen

    def recording_popen(command, *args, **kwargs):
        started.append(command)
        return popen(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    assert detection.detect(names, python=python) == {**first, "environment": {**first["environment"], "name": None}}
    assert started == []

    add_distribution(site_packages, "reef-demo-package", "1.2.3")
    second = detection.detect(names, python=python)
    assert second["packages"] == {"reef-demo-package": "1.2.3"}
    assert second["tools"] == first["tools"] and second["python"] == first["python"]
    assert [command[0] for command in started] == [python]  # only the packages of the venv were asked again

    started.clear()
    assert detection.environment_packages(python) == {"reef-demo-package": "1.2.3"}
    assert started == []
    assert detection.environment_packages(python, refresh=True) == {"reef-demo-package": "1.2.3"}
    assert started  # refresh asks again


def test_an_upgraded_distribution_is_seen(tmp_path):
    python, site_packages = make_venv(tmp_path / "venv")
    old = add_distribution(site_packages, "reef-demo-package", "1.0")
    assert detection.environment_packages(python) == {"reef-demo-package": "1.0"}
    shutil.rmtree(old)
    add_distribution(site_packages, "reef-demo-package", "2.0")
    assert detection.environment_packages(python) == {"reef-demo-package": "2.0"}


def test_a_new_tool_on_path_is_seen(tmp_path, monkeypatch):
    if os.name == "nt":
        pytest.skip("the stand-in tools are POSIX shell scripts, which Windows cannot execute")
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    before = detection.detect(["tools"])["tools"]
    script = folder / "cmake"
    script.write_text("#!/bin/sh\necho 'cmake version 9.8.7'\n")
    script.chmod(0o755)
    assert detection.detect(["tools"])["tools"]["cmake"] == {"path": str(script), "version": "9.8.7"}
    assert {name: found for name, found in before.items() if name != "cmake"} == {
        name: found for name, found in detection.detect(["tools"])["tools"].items() if name != "cmake"
    }


def test_a_corrupt_cache_is_ignored():
    first = detection.detect(["cpu", "packages"])
    detection.cache_path().write_text("{not json", encoding="utf-8")
    assert detection.detect(["cpu", "packages"]) == first
    assert json.loads(detection.cache_path().read_text())["detectors"]["packages"]["data"] == first["packages"]


def test_tensorflow_only_on_request(shared_venv, tmp_path):
    python, _ = shared_venv
    assert "tensorflow" not in detection.default_detector_names()
    assert detection.detect(["tensorflow"], python=python) == {"tensorflow": {"installed": False}}


def test_tensorflow_when_present(tmp_path):
    # TensorFlow is not installed here (and is too big for a test): a stand-in package with the
    # calls reef makes shows how its answer is read.
    python, site_packages = make_venv(tmp_path / "venv")
    package = site_packages / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        import types
        __version__ = "2.99.0"
        class _Device:
            def __init__(self, name, device_type):
                self.name, self.device_type = name, device_type
        test = types.SimpleNamespace(is_built_with_cuda=lambda: True)
        config = types.SimpleNamespace(list_physical_devices=lambda: [_Device("/physical_device:CPU:0", "CPU"),
                                                                      _Device("/physical_device:GPU:0", "GPU")])
    """)
    )
    assert detection.detect(["tensorflow"], python=python)["tensorflow"] == {
        "installed": True,
        "version": "2.99.0",
        "built_with_cuda": True,
        "gpus": 1,
        "devices": [
            {"name": "/physical_device:CPU:0", "type": "CPU"},
            {"name": "/physical_device:GPU:0", "type": "GPU"},
        ],
    }


# --------------------------------------------------------------------------------------------
# Plugins


PLUGIN_MODULE = """
from reefnb.provision.detection import Detector


class DemoDetector(Detector):
    name = "demo"

    def detect(self, context):
        return {"answer": 42, "python": context.python}


class OnRequest(Detector):
    name = "slow-demo"
    on_request_only = True

    def detect(self, context):
        return ["slow"]


class Failing(Detector):
    name = "failing"

    def detect(self, context):
        raise RuntimeError("this plugin is broken at run time")


class PlainObject:  # no base class: any object with name and detect() will do
    name = "plain"

    def detect(self, context):
        return "plain data"


plain = PlainObject()
"""

ENTRY_POINTS = """
[reefnb.detectors]
demo = reef_plugin_demo:DemoDetector
slow = reef_plugin_demo:OnRequest
failing = reef_plugin_demo:Failing
plain = reef_plugin_demo:plain
missing-module = reef_plugin_missing:Detector
missing-name = reef_plugin_demo:NoSuchThing
clash = reef_plugin_demo:PlainObject
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution, on sys.path, that registers detectors (some broken) under reefnb.detectors."""
    folder = tmp_path / "plugin-site"
    info = folder / "reef_plugin_demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reef-plugin-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (folder / "reef_plugin_demo.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("reef_plugin_demo", None)
    sys.modules.pop("reef_plugin_later", None)


def test_plugin_detectors_run_and_broken_ones_are_skipped(plugin, caplog):
    caplog.set_level(logging.WARNING, logger="reefnb.provision.detection")
    names = detection.default_detector_names()
    assert {"demo", "plain"} <= set(names)
    assert "slow-demo" not in names
    fingerprint = detection.detect()
    assert fingerprint["demo"] == {"answer": 42, "python": sys.executable}
    assert fingerprint["plain"] == "plain data"
    assert "failing" not in fingerprint and "slow-demo" not in fingerprint
    assert {"os", "cpu", "packages", "tools"} <= set(fingerprint)
    messages = caplog.text
    assert "missing-module" in messages and "missing-name" in messages
    assert "a detector named 'plain' exists already" in messages
    assert "this plugin is broken at run time" in messages
    assert detection.detect(["slow-demo", "cpu"])["slow-demo"] == ["slow"]


def test_a_plugin_installed_later_is_found(plugin):
    assert "later" not in detection.default_detector_names()  # the entry points are cached now
    info = plugin / "reef_plugin_later-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: reef-plugin-later\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[reefnb.detectors]\nlater = reef_plugin_later:LaterDetector\n")
    (plugin / "reef_plugin_later.py").write_text(
        "from reef_plugin_demo import DemoDetector\n\n\nclass LaterDetector(DemoDetector):\n    name = 'later'\n"
    )
    assert "later" in detection.default_detector_names()
    assert detection.detect(["later"])["later"]["answer"] == 42


# --------------------------------------------------------------------------------------------
# The run record's fingerprint


def test_host_fingerprint_keeps_its_shape():
    host = detection.host_fingerprint()
    assert set(host) == {"hostname", "os", "cpu", "memory_bytes"}
    assert host["cpu"]["count"] == os.cpu_count()
