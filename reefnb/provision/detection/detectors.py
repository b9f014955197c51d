"""The built-in detectors: os, cpu, memory, gpu, environment, python, packages, modules, tools, tensorflow.

Each reads what it detects in this process or through the inspected environment's own interpreter
(``DetectContext.run_script``), and says in its ``signature`` what its result depends on.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reefnb.provision import distributions
from reefnb.provision.detection.base import DetectContext, Detector
from reefnb.provision.detection.interpreters import pyenv_root, python_candidates, python_folders, python_version_of
from reefnb.provision.detection.machine import (
    NVIDIA_SMI_FIELDS,
    boot_id,
    cpuinfo,
    meminfo,
    memory_bytes,
    os_release,
    parse_nvidia_smi,
    run_quietly,
)
from reefnb.provision.detection.stamps import environment_signature, file_stamp, folder_stamp, path_folders
from reefnb.provision.tools import TOOLS, find_tools

TENSORFLOW_TIMEOUT_S = 180
NVIDIA_SMI_TIMEOUT_S = 10


# Run by a foreign interpreter with its site folders as arguments: {name: version}.
_PACKAGES_SCRIPT = """
import json, sys
packages = {}
try:
    from importlib import metadata
except ImportError:
    import pkg_resources
    for d in pkg_resources.WorkingSet(sys.argv[1:]):
        packages.setdefault(d.project_name, d.version)
else:
    for d in metadata.distributions(path=sys.argv[1:]):
        name = d.metadata["Name"]
        if name:
            packages.setdefault(name, d.version)
print(json.dumps(packages))
"""

# Run by a foreign interpreter with its site folders as arguments: {module: [distribution names]}.
_MODULES_SCRIPT = Path(distributions.__file__).read_text(encoding="utf-8")

_TENSORFLOW_SCRIPT = """
import importlib.util, json, os
if importlib.util.find_spec("tensorflow") is None:
    print(json.dumps({"installed": False}))
    raise SystemExit(0)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
devices = [{"name": d.name, "type": d.device_type} for d in tf.config.list_physical_devices()]
print(json.dumps({"installed": True, "version": tf.__version__, "built_with_cuda": bool(tf.test.is_built_with_cuda()),
                  "gpus": sum(d["type"] == "GPU" for d in devices), "devices": devices}))
"""


class OperatingSystemDetector(Detector):
    name = "os"

    def detect(self, context: DetectContext) -> dict:
        uname = platform.uname()
        return {
            "system": uname.system,
            "release": uname.release,
            "machine": uname.machine,
            "platform": platform.platform(),
            "distribution": os_release(),
        }

    def signature(self, context: DetectContext) -> Any:
        boot = boot_id()
        return None if boot is None else {"boot": boot, "os_release": file_stamp("/etc/os-release")}


class CpuDetector(Detector):
    name = "cpu"

    def detect(self, context: DetectContext) -> dict:
        info = cpuinfo()
        return {
            "model": info["model"] or platform.processor() or platform.machine(),
            "logical_cores": os.cpu_count(),
            "physical_cores": info["physical_cores"],
            "flags": info["flags"],
        }

    def signature(self, context: DetectContext) -> Any:
        boot = boot_id()
        return None if boot is None else {"boot": boot}


class MemoryDetector(Detector):
    """Total and available memory; cheap, and available memory changes: never cached."""

    name = "memory"

    def detect(self, context: DetectContext) -> dict:
        values = meminfo()
        total = values.get("MemTotal", memory_bytes())
        available = values.get("MemAvailable")
        if available is None:
            try:
                available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
            except (ValueError, OSError, AttributeError):
                available = None
        return {"total_bytes": total, "available_bytes": available}


class GpuDetector(Detector):
    """NVIDIA GPUs through nvidia-smi; an empty list when it is absent or fails."""

    name = "gpu"

    def detect(self, context: DetectContext) -> list[dict]:
        executable = shutil.which("nvidia-smi")
        if executable is None:
            return []
        fields = list(NVIDIA_SMI_FIELDS)
        while fields:
            output = run_quietly(
                [executable, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"], NVIDIA_SMI_TIMEOUT_S
            )
            if output is not None:
                return parse_nvidia_smi(output, fields)
            if "compute_cap" not in fields:  # older drivers do not know compute_cap: ask without it
                return []
            fields.remove("compute_cap")
        return []

    def signature(self, context: DetectContext) -> Any:
        executable = shutil.which("nvidia-smi")
        return {"boot": boot_id(), "nvidia_smi": executable and file_stamp(executable)}


class EnvironmentDetector(Detector):
    """The inspected environment itself: its name, interpreter, python version and prefix."""

    name = "environment"

    def detect(self, context: DetectContext) -> dict:
        facts = context.facts()
        return {
            "name": context.name,
            "python": context.python,
            "version": facts["version"],
            "implementation": facts["implementation"],
            "prefix": facts["prefix"],
        }


class PythonDetector(Detector):
    """The python interpreters found on PATH, in pyenv and in conda: ``[{path, version, source}]``."""

    name = "python"

    def detect(self, context: DetectContext) -> list[dict]:
        seen, candidates = set(), []
        for path, source in python_candidates():
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                candidates.append((path, source))
        if not candidates:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(candidates)), thread_name_prefix="reef-python") as pool:
            versions = list(pool.map(lambda candidate: python_version_of(candidate[0]), candidates))
        return [
            {"path": path, "version": version, "source": source}
            for (path, source), version in zip(candidates, versions, strict=True)
            if version is not None
        ]

    def signature(self, context: DetectContext) -> Any:
        candidates = python_candidates()
        return {
            "PATH": os.environ.get("PATH", ""),
            "folders": [folder_stamp(folder) for folder in python_folders()],
            "interpreters": [[path, file_stamp(path)] for path, _source in candidates],
        }


class PackagesDetector(Detector):
    """The distributions installed in the environment's site folders: ``{name: version}``."""

    name = "packages"

    def detect(self, context: DetectContext) -> dict[str, str]:
        folders = context.facts()["site_folders"]
        if context.is_current:
            from importlib import metadata

            packages: dict[str, str] = {}
            for distribution in metadata.distributions(path=folders):
                name = distribution.metadata["Name"]
                if name:
                    packages.setdefault(name, distribution.version)
        else:
            packages = json.loads(context.run_script(_PACKAGES_SCRIPT, *folders))
        return dict(sorted(packages.items(), key=lambda item: item[0].lower()))

    def signature(self, context: DetectContext) -> Any:
        return environment_signature(context)


class ModulesDetector(Detector):
    """Which distributions provide each top-level import name: ``{module: [distribution names]}``.

    Asked of the environment's own interpreter through ``reefnb.provision.distributions`` (standard library
    only, so it runs where reefnb is not installed); the same answer on every Python. Only on request.
    """

    name = "modules"
    on_request_only = True

    def detect(self, context: DetectContext) -> dict[str, list[str]]:
        folders = context.facts()["site_folders"]
        if context.is_current:
            return distributions.packages_distributions(folders)
        return json.loads(context.run_script(_MODULES_SCRIPT, *folders))

    def signature(self, context: DetectContext) -> Any:
        return environment_signature(context)


class ToolsDetector(Detector):
    """The tools of ``reefnb.provision.tools.TOOLS`` found on PATH: ``{name: {path, version}}``."""

    name = "tools"

    def detect(self, context: DetectContext) -> dict[str, dict]:
        return {name: {"path": found["path"], "version": found["version"]} for name, found in find_tools().items()}

    def signature(self, context: DetectContext) -> Any:
        stamps = {}
        for name, tool in TOOLS.items():
            path = tool.path()
            stamps[name] = path and file_stamp(path)
        # Version managers switch versions behind the same executable (pyenv's shims, rustup's proxies).
        selections = [
            file_stamp(str(pyenv_root() / "version")),
            file_stamp(str(Path.home() / ".rustup" / "settings.toml")),
        ]
        return {
            "PATH": os.environ.get("PATH", ""),
            "folders": [folder_stamp(folder) for folder in path_folders()],
            "tools": stamps,
            "selections": selections,
            "PYENV_VERSION": os.environ.get("PYENV_VERSION"),
        }


class TensorflowDetector(Detector):
    """TensorFlow in the environment (version, CUDA build, devices); slow, so only on request."""

    name = "tensorflow"
    on_request_only = True

    def detect(self, context: DetectContext) -> dict:
        return json.loads(context.run_script(_TENSORFLOW_SCRIPT, timeout=TENSORFLOW_TIMEOUT_S).strip().splitlines()[-1])

    def signature(self, context: DetectContext) -> Any:
        return {"environment": environment_signature(context), "boot": boot_id()}


BUILTIN_DETECTORS: dict[str, Detector] = {
    detector.name: detector
    for detector in (
        OperatingSystemDetector(),
        CpuDetector(),
        MemoryDetector(),
        GpuDetector(),
        EnvironmentDetector(),
        PythonDetector(),
        PackagesDetector(),
        ModulesDetector(),
        ToolsDetector(),
        TensorflowDetector(),
    )
}
