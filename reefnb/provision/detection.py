"""Software and hardware detection: the environment fingerprint, made of pluggable detectors.

``detect()`` runs detectors (built-ins plus third-party ones registered under the entry-point
group ``reefnb.detectors``) against one python environment and returns ``{detector name: data}``.
Results are cached per environment under ``reef_home()/cache/detect``; a detector is run again
only when its inputs (its *signature*: folder listings, file mtimes, the boot id) changed.

``host_fingerprint``/``KERNEL_FINGERPRINT_EXPRESSION`` give the lighter fingerprint of a run record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import sys
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import ReefError
from reefnb.common.files import write_text_atomically
from reefnb.common.paths import reef_home
from reefnb.common.plugins import entry_point_values, load_plugins
from reefnb.common.tool_output import MAX_TOOL_OUTPUT_BYTES, run_tool
from reefnb.common.units import format_size
from reefnb.provision import distributions
from reefnb.provision.tools import TOOLS, find_tools

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "reefnb.detectors"
CACHE_FORMAT = 1
PYTHON_VERSION_TIMEOUT_S = 5
INTERPRETER_TIMEOUT_S = 60
TENSORFLOW_TIMEOUT_S = 180
NVIDIA_SMI_TIMEOUT_S = 10
MAX_SCRIPT_OUTPUT_BYTES = 64 * 1024 * 1024  # what an environment's python says of its packages and modules
NVIDIA_SMI_FIELDS = ("name", "memory.total", "compute_cap", "driver_version")
_MIB = 1024**2

# Evaluated inside the kernel as a user expression: it leaves no name behind in the user's
# namespace and needs only the standard library there. Each distribution's metadata is parsed once
# (d.metadata parses the file on every access, d.version again: three parses took 0.35 s of every
# run in a 200-package environment, one takes 0.12 s).
KERNEL_FINGERPRINT_EXPRESSION = (
    "__import__('json').dumps({"
    "'version': __import__('platform').python_version(), "
    "'implementation': __import__('platform').python_implementation(), "
    "'executable': __import__('sys').executable, "
    "'prefix': __import__('sys').prefix, "
    "'packages': {m['Name']: m['Version'] for m in (d.metadata for d in __import__('importlib.metadata').metadata.distributions()) "
    "if m['Name']}})"
)


def host_fingerprint() -> dict:
    """OS, CPU and memory of this machine (cached for the process: they do not change)."""
    return json.loads(_host_fingerprint_json())


@lru_cache(maxsize=1)
def _host_fingerprint_json() -> str:
    uname = platform.uname()
    fingerprint = {
        "hostname": socket.gethostname(),
        "os": {
            "system": uname.system,
            "release": uname.release,
            "machine": uname.machine,
            "platform": platform.platform(),
            "distribution": _os_release(),
        },
        "cpu": {"model": _cpu_model(), "count": os.cpu_count()},
        "memory_bytes": _memory_bytes(),
    }
    return json.dumps(fingerprint)


def parse_kernel_fingerprint(text: str | None) -> dict | None:
    """The kernel's answer to KERNEL_FINGERPRINT_EXPRESSION (its text/plain repr of a JSON string)."""
    import ast

    if not text:
        return None
    try:
        data = json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError):
        log.warning("could not read the kernel's fingerprint: %.200s", text)
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------------------------
# The context: which python environment is inspected


# Run by a foreign interpreter: what it is and where its distributions live.
_FACTS_SCRIPT = """
import json, os, platform, site, sys
folders = list(getattr(site, "getsitepackages", lambda: [])())
if getattr(site, "ENABLE_USER_SITE", False):
    folders.append(site.getusersitepackages())
if not folders:
    folders = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
print(json.dumps({"version": platform.python_version(), "implementation": platform.python_implementation(),
                  "prefix": sys.prefix, "site_folders": [f for f in folders if os.path.isdir(f)]}))
"""

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


@dataclass
class DetectContext:
    """The python environment being inspected: its interpreter (default: this one) and its name."""

    python: str = field(default_factory=lambda: sys.executable)
    name: str | None = None
    _facts: dict | None = field(default=None, init=False, repr=False, compare=False)
    _cached_facts: dict | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.python = os.path.abspath(os.fspath(self.python))

    @property
    def identity(self) -> str:
        """Names the environment: its bin folder and the interpreter file, symlinks resolved.

        A venv's ``bin/python`` links to the base interpreter, so the file alone would mix them up.
        """
        return f"{os.path.realpath(os.path.dirname(self.python))}\0{os.path.realpath(self.python)}"

    @property
    def is_current(self) -> bool:
        """Whether this is the interpreter running reef (asked in-process, without a subprocess)."""
        return self.identity == _current_identity()

    def facts(self) -> dict:
        """version, implementation, prefix and site_folders of the interpreter (run once, then cached)."""
        with self._lock:
            if self._facts is None:
                self._facts = self._read_facts()
            return self._facts

    def _read_facts(self) -> dict:
        stamp = _file_stamp(self.python)
        if self.is_current:
            return {"stamp": stamp, **_current_facts()}
        cached = self._cached_facts
        if cached and cached.get("stamp") == json.loads(json.dumps(stamp)):
            return cached
        if stamp is None:
            raise ReefError(f"{self.python}: no such python interpreter")
        facts = json.loads(self.run_script(_FACTS_SCRIPT, timeout=INTERPRETER_TIMEOUT_S))
        return {"stamp": stamp, **facts}

    def run_script(self, script: str, *arguments: str, timeout: float = INTERPRETER_TIMEOUT_S) -> str:
        """Run python code in the context's interpreter; its stdout (a ReefError when it fails)."""
        try:
            completed = run_tool([self.python, "-c", script, *arguments], timeout, max_bytes=MAX_SCRIPT_OUTPUT_BYTES)
        except OSError as error:
            raise ReefError(f"{self.python}: cannot run this python: {error}") from None
        if completed.timed_out:
            raise ReefError(f"{self.python}: cannot run this python: no answer in {timeout:g} s")
        if completed.cut:
            raise ReefError(
                f"{self.python}: python said more than {format_size(MAX_SCRIPT_OUTPUT_BYTES)}: stopped there"
            )
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise ReefError(f"{self.python}: python exited with status {completed.returncode}: {last}")
        return completed.stdout


@lru_cache(maxsize=1)
def _current_identity() -> str:
    return DetectContext(sys.executable).identity


def _current_facts() -> dict:
    import site

    folders = list(getattr(site, "getsitepackages", lambda: [])())
    if getattr(site, "ENABLE_USER_SITE", False):
        folders.append(site.getusersitepackages())
    if not folders:
        folders = [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "site_folders": [folder for folder in folders if os.path.isdir(folder)],
    }


# --------------------------------------------------------------------------------------------
# Detectors


class Detector(ABC):
    """One kind of fact about a machine or an environment.

    ``detect`` returns plain JSON-able data. ``signature`` returns JSON-able data that changes when
    the detected facts may have changed (the result is then cached until it does), or None to run
    the detector every time. ``on_request_only`` detectors are expensive: they run only when named.
    Other distributions add detectors under the entry-point group ``reefnb.detectors``.

    Attributes
    ----------
    name : str
        The key of its data in the fingerprint ``reefnb.detect`` returns.
    on_request_only : bool
        Run only when named (an expensive detector).
    """

    name: str = ""
    on_request_only: bool = False

    @abstractmethod
    def detect(self, context: DetectContext) -> Any:
        """The facts, as plain JSON-able data.

        Parameters
        ----------
        context
            The python environment being inspected: its interpreter and its name; ``context.facts()``
            gives the interpreter's version, implementation, prefix and site folders (asked once), and
            ``context.run_script`` runs code in it.

        Returns
        -------
        Any
            Plain JSON-able data; an exception leaves this detector out of the fingerprint (logged).
        """

    def signature(self, context: DetectContext) -> Any:
        """What the detected facts depend on, so that ``detect``'s result can be cached until it changes.

        Parameters
        ----------
        context
            The python environment being inspected.

        Returns
        -------
        Any
            JSON-able data that changes when the detected facts may have changed, or None (the default)
            to run the detector every time.
        """
        return None


class OperatingSystemDetector(Detector):
    name = "os"

    def detect(self, context: DetectContext) -> dict:
        uname = platform.uname()
        return {
            "system": uname.system,
            "release": uname.release,
            "machine": uname.machine,
            "platform": platform.platform(),
            "distribution": _os_release(),
        }

    def signature(self, context: DetectContext) -> Any:
        boot = _boot_id()
        return None if boot is None else {"boot": boot, "os_release": _file_stamp("/etc/os-release")}


class CpuDetector(Detector):
    name = "cpu"

    def detect(self, context: DetectContext) -> dict:
        info = _cpuinfo()
        return {
            "model": info["model"] or platform.processor() or platform.machine(),
            "logical_cores": os.cpu_count(),
            "physical_cores": info["physical_cores"],
            "flags": info["flags"],
        }

    def signature(self, context: DetectContext) -> Any:
        boot = _boot_id()
        return None if boot is None else {"boot": boot}


class MemoryDetector(Detector):
    """Total and available memory; cheap, and available memory changes: never cached."""

    name = "memory"

    def detect(self, context: DetectContext) -> dict:
        meminfo = _meminfo()
        total = meminfo.get("MemTotal", _memory_bytes())
        available = meminfo.get("MemAvailable")
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
            output = _run_quietly(
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
        return {"boot": _boot_id(), "nvidia_smi": executable and _file_stamp(executable)}


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
        for path, source in _python_candidates():
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                candidates.append((path, source))
        if not candidates:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(candidates)), thread_name_prefix="reef-python") as pool:
            versions = list(pool.map(lambda candidate: _python_version_of(candidate[0]), candidates))
        return [
            {"path": path, "version": version, "source": source}
            for (path, source), version in zip(candidates, versions, strict=True)
            if version is not None
        ]

    def signature(self, context: DetectContext) -> Any:
        candidates = _python_candidates()
        return {
            "PATH": os.environ.get("PATH", ""),
            "folders": [_folder_stamp(folder) for folder in _python_folders()],
            "interpreters": [[path, _file_stamp(path)] for path, _source in candidates],
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
        return _environment_signature(context)


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
        return _environment_signature(context)


class ToolsDetector(Detector):
    """The tools of ``reefnb.provision.tools.TOOLS`` found on PATH: ``{name: {path, version}}``."""

    name = "tools"

    def detect(self, context: DetectContext) -> dict[str, dict]:
        return {name: {"path": found["path"], "version": found["version"]} for name, found in find_tools().items()}

    def signature(self, context: DetectContext) -> Any:
        stamps = {}
        for name, tool in TOOLS.items():
            path = tool.path()
            stamps[name] = path and _file_stamp(path)
        # Version managers switch versions behind the same executable (pyenv's shims, rustup's proxies).
        selections = [
            _file_stamp(str(_pyenv_root() / "version")),
            _file_stamp(str(Path.home() / ".rustup" / "settings.toml")),
        ]
        return {
            "PATH": os.environ.get("PATH", ""),
            "folders": [_folder_stamp(folder) for folder in _path_folders()],
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
        return {"environment": _environment_signature(context), "boot": _boot_id()}


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


def plugin_detectors() -> dict[str, Detector]:
    """Detectors registered by other distributions under the entry-point group ``reefnb.detectors``.

    An entry point names a Detector class or instance. One that cannot be loaded is logged as a
    warning and skipped; so is one whose name a built-in or an earlier plugin already has.
    """
    found: dict[str, Detector] = {}
    for plugin in load_plugins(ENTRY_POINT_GROUP, _named_detector, _detector_entry_points()):
        name, detector = plugin.loaded
        if name in BUILTIN_DETECTORS or name in found:
            log.warning(
                "skipping detector plugin %s = %s: a detector named %r exists already", plugin.name, plugin.value, name
            )
            continue
        found[name] = detector
    return found


def _named_detector(entry_name: str, loaded: Any) -> tuple[str, Detector]:
    """(name, detector) of what an entry point names: a Detector class (instantiated) or instance."""
    detector = loaded() if isinstance(loaded, type) else loaded
    if not callable(getattr(detector, "detect", None)):
        raise TypeError(f"{loaded!r} has no detect(context) method")
    name = getattr(detector, "name", None) or entry_name
    if not isinstance(name, str):
        raise TypeError(f"its name {name!r} is not a string")
    return name, detector


def _detector_entry_points() -> list[list[str]]:
    """[name, value] of each entry point of the group, cached while sys.path and its folders stay the same.

    Asking importlib.metadata reads every distribution's metadata: most of a warm ``detect()``.
    """
    path = cache_path(DetectContext()).with_name("entry-points.json")
    signature = json.loads(
        json.dumps(
            [[entry, *(_folder_stamp(entry) if os.path.isdir(entry) else [_file_stamp(entry)])] for entry in sys.path]
        )
    )
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("format") == CACHE_FORMAT and cached.get("signature") == signature:
            return cached["entry_points"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    found = [list(entry) for entry in entry_point_values(ENTRY_POINT_GROUP)]
    _write_cache(path, {"format": CACHE_FORMAT, "signature": signature, "entry_points": found})
    return found


def available_detectors() -> dict[str, Detector]:
    """Every detector: built-ins first, then plugins."""
    return {**BUILTIN_DETECTORS, **plugin_detectors()}


def default_detector_names() -> list[str]:
    """The detectors ``detect()`` runs when given no names (those not ``on_request_only``)."""
    return [name for name, detector in available_detectors().items() if not getattr(detector, "on_request_only", False)]


# --------------------------------------------------------------------------------------------
# detect() and its cache


def detect(
    names: list[str] | None = None, python: str | None = None, env_name: str | None = None, refresh: bool = False
) -> dict:
    """The fingerprint ``{detector name: data}`` of this machine and of one python environment.

    A detector that fails is logged and left out. A detector's result is cached (in
    ``$REEF_HOME/cache/detect``) while its ``signature`` stays the same.

    Parameters
    ----------
    names
        The detectors to run (default: all but the on-request ones).
    python
        The environment's interpreter (default: this one).
    env_name
        The environment's name, as the ``environment`` detector reports it.
    refresh
        Ignore the cache.

    Returns
    -------
    dict
        Detector name -> its data, in the order of ``names``.

    Raises
    ------
    ReefError
        When ``names`` names an unknown detector, or ``python`` is missing or cannot be run.
    """
    context = DetectContext(python or sys.executable, env_name)
    names, registry = _chosen_detectors(names)
    path = cache_path(context)
    cache = {} if refresh else _read_cache(path, context)
    context._cached_facts = cache.get("facts")
    if not context.is_current:
        context.facts()  # a missing or broken interpreter is the user's error: say so now (ReefError)
    entries: dict[str, dict] = dict(cache.get("detectors", {}))
    signatures = {name: _signature_of(registry[name], context) for name in names}
    results = {name: entries[name]["data"] for name in names if _cache_holds(entries.get(name), signatures[name])}
    computed = _run_detectors([name for name in names if name not in results], registry, context)
    changed = _keep_detected(computed, registry, context, signatures, results, entries) or refresh
    facts = context._facts
    if changed or (facts is not None and facts != cache.get("facts")):
        _write_cache(
            path,
            {
                "format": CACHE_FORMAT,
                "identity": context.identity,
                "python": context.python,
                "facts": facts or cache.get("facts"),
                "detectors": entries,
            },
        )
    return {name: results[name] for name in names if name in results}


def _chosen_detectors(names: list[str] | None) -> tuple[list[str], dict[str, Any]]:
    """The detectors ``detect`` runs (default: all but the on-request ones) and the registry they come from."""
    if names is None:
        registry = available_detectors()
        return [
            name for name, detector in registry.items() if not getattr(detector, "on_request_only", False)
        ], registry
    names = list(dict.fromkeys(names))
    registry = BUILTIN_DETECTORS if all(name in BUILTIN_DETECTORS for name in names) else available_detectors()
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ReefError(f"unknown detector {', '.join(map(repr, unknown))} (known: {', '.join(sorted(registry))})")
    return names, registry


def _cache_holds(entry: dict | None, signature: Any) -> bool:
    """Whether a cached entry is still this detector's answer: its signature is known and has not changed."""
    return signature is not None and entry is not None and entry.get("signature") == signature


def _run_detectors(stale: list[str], registry: dict[str, Any], context: DetectContext) -> dict[str, Any]:
    """Run the detectors the cache could not answer, at the same time when there are several (``_FAILED`` for a failure)."""
    if len(stale) == 1:
        return {stale[0]: _run_detector(registry[stale[0]], context)}
    if not stale:
        return {}
    with ThreadPoolExecutor(max_workers=len(stale), thread_name_prefix="reef-detect") as pool:
        return dict(zip(stale, pool.map(lambda name: _run_detector(registry[name], context), stale), strict=True))


def _keep_detected(
    computed: dict[str, Any],
    registry: dict[str, Any],
    context: DetectContext,
    signatures: dict,
    results: dict,
    entries: dict,
) -> bool:
    """Add what the detectors found to ``results``, and to the cache's ``entries`` where its signature is known; whether
    the cache changed."""
    changed = False
    for name, data in computed.items():
        if data is _FAILED:
            continue
        results[name] = data
        # A signature unknown before detection (e.g. an environment seen for the first time) may be known now.
        signature = signatures[name] if signatures[name] is not None else _signature_of(registry[name], context)
        if signature is not None:
            entries[name] = {"signature": signature, "data": json.loads(json.dumps(data))}
            changed = True
    return changed


def environment_packages(python: str | None = None, refresh: bool = False) -> dict[str, str]:
    """``{distribution name: version}`` of an environment (default: this python), cached like ``detect``."""
    return detect(["packages"], python=python, refresh=refresh).get("packages", {})


def environment_modules(python: str | None = None, refresh: bool = False) -> dict[str, list[str]]:
    """``{top-level import name: [distribution names]}`` of an environment (default: this python), cached like ``detect``."""
    return detect(["modules"], python=python, refresh=refresh).get("modules", {})


def python_version(python: str | None = None) -> str:
    """The version (e.g. ``3.11.7``) of an environment's python (default: this one)."""
    if python is None or DetectContext(python).is_current:
        return platform.python_version()
    return detect(["environment"], python=python)["environment"]["version"]


def cache_path(context: DetectContext | None = None) -> Path:
    """Where ``detect`` keeps the fingerprint of the context's environment."""
    context = context or DetectContext()
    key = hashlib.sha256(context.identity.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return reef_home() / "cache" / "detect" / f"{key}.json"


_FAILED = object()


def _run_detector(detector: Detector, context: DetectContext) -> Any:
    try:
        data = detector.detect(context)
        json.dumps(data)
    except ReefError as error:
        log.warning("detector %s: %s", detector.name, error)
        return _FAILED
    except Exception as error:  # one detector's bug must not hide the others' facts
        log.warning(
            "detector %s failed: %s: %s",
            getattr(detector, "name", detector),
            type(error).__name__,
            error,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return _FAILED
    return data


def _signature_of(detector: Detector, context: DetectContext) -> Any:
    method = getattr(detector, "signature", None)
    if method is None:
        return None
    try:
        signature = method(context)
        # As it will read back from the cache (tuples become lists).
        return None if signature is None else json.loads(json.dumps(signature))
    except ReefError as error:
        log.warning("detector %s: %s", detector.name, error)
    except Exception as error:
        log.warning(
            "detector %s: cannot tell whether its cached result is current: %s: %s",
            getattr(detector, "name", detector),
            type(error).__name__,
            error,
        )
    return None


def _read_cache(path: Path, context: DetectContext) -> dict:
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.info("ignoring the unreadable detection cache %s: %s", path, error)
        return {}
    if not isinstance(cache, dict) or cache.get("format") != CACHE_FORMAT or cache.get("identity") != context.identity:
        return {}
    if not isinstance(cache.get("detectors"), dict):
        return {}
    return cache


def _write_cache(path: Path, cache: dict) -> None:
    try:
        write_text_atomically(path, json.dumps(cache))
    except OSError as error:
        log.warning("cannot write the detection cache %s: %s", path, error)


# --------------------------------------------------------------------------------------------
# Signatures: cheap stamps of what a detector reads


def _file_stamp(path: str) -> list | None:
    """[real path, mtime, size] of a file (links followed), or None when it is missing."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [os.path.realpath(path), status.st_mtime_ns, status.st_size]


def _folder_stamp(folder: str) -> list:
    """[folder, mtime, number of entries]: adding, removing or renaming an entry changes it."""
    try:
        return [folder, os.stat(folder).st_mtime_ns, len(os.listdir(folder))]
    except OSError:
        return [folder, None, None]


def _environment_signature(context: DetectContext) -> Any:
    facts = context.facts()
    return {"interpreter": facts["stamp"], "folders": [_folder_stamp(folder) for folder in facts["site_folders"]]}


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _path_folders() -> list[str]:
    return list(dict.fromkeys(folder for folder in os.environ.get("PATH", "").split(os.pathsep) if folder))


# --------------------------------------------------------------------------------------------
# Python interpreters

_PYTHON_NAME = re.compile(r"python(\d+(\.\d+)?)?(\.exe)?", re.IGNORECASE)
_VERSION_SCRIPT = "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _conda_roots() -> list[Path]:
    home = Path.home()
    roots = [Path(os.environ["CONDA_PREFIX"])] if os.environ.get("CONDA_PREFIX") else []
    return roots + [home / name for name in ("miniconda3", "anaconda3", "miniforge3", "mambaforge")]


def _prefix_interpreter(prefix: Path) -> Path | None:
    for candidate in (prefix / "bin" / "python", prefix / "bin" / "python3", prefix / "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def _python_folders() -> list[str]:
    """Folders whose listing tells whether interpreters came or went."""
    folders = [folder for folder in _path_folders() if Path(folder).name != "shims"]
    folders.append(str(_pyenv_root() / "versions"))
    for root in _conda_roots():
        folders += [str(root), str(root / "envs")]
    return folders


def _python_candidates() -> list[tuple[str, str]]:
    """(path, source) of every interpreter on PATH, in pyenv and in conda, not run yet.

    pyenv's shims are skipped: they are shell scripts in front of the versions listed directly.
    """
    candidates: list[tuple[str, str]] = []
    for folder in _path_folders():
        if Path(folder).name == "shims":
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if _PYTHON_NAME.fullmatch(name) and os.access(path, os.X_OK) and os.path.isfile(path):
                candidates.append((path, "path"))
    versions = _pyenv_root() / "versions"
    try:
        for version in sorted(versions.iterdir(), key=_natural_key):
            interpreter = _prefix_interpreter(version)
            if interpreter is not None:
                candidates.append((str(interpreter), "pyenv"))
    except OSError:
        pass
    for root in _conda_roots():
        prefixes = [root]
        try:
            prefixes += sorted((root / "envs").iterdir())
        except OSError:
            pass
        for prefix in prefixes:
            interpreter = _prefix_interpreter(prefix)
            if interpreter is not None:
                candidates.append((str(interpreter), "conda"))
    return candidates


def _natural_key(path: Path) -> list:
    """Sorts 3.9.18 before 3.10.13."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name)]


def _python_version_of(path: str) -> str | None:
    output = _run_quietly([path, "-S", "-c", _VERSION_SCRIPT], PYTHON_VERSION_TIMEOUT_S)
    if output is None:
        return None
    match = re.search(r"\d+\.\d+\.\d+", output)
    return match.group(0) if match else None


def _run_quietly(command: list[str], timeout: float) -> str | None:
    """stdout of a command, or None (logged) when it cannot run, fails, times out or says more than ``MAX_TOOL_OUTPUT_BYTES``."""
    try:
        completed = run_tool(command, timeout)
    except OSError as error:
        log.info("cannot run %s: %s", command[0], error)
        return None
    if completed.timed_out:
        log.info("cannot run %s: no answer in %g s", command[0], timeout)
        return None
    if completed.cut:
        log.warning("%s said more than %s: stopped, its answer ignored", command[0], format_size(MAX_TOOL_OUTPUT_BYTES))
        return None
    if completed.returncode != 0:
        log.info("%s exited with status %d: %.200s", command[0], completed.returncode, completed.stderr.strip())
        return None
    return completed.stdout


# --------------------------------------------------------------------------------------------
# Hardware


def parse_nvidia_smi(output: str, fields: list[str] | tuple[str, ...] = NVIDIA_SMI_FIELDS) -> list[dict]:
    """GPUs from ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`` (one line per GPU)."""
    gpus = []
    for line in output.splitlines():
        if not line.strip():
            continue
        values = dict(zip(fields, (_nvidia_value(value) for value in line.split(",")), strict=False))
        memory_mib = values.get("memory.total")
        try:
            memory_bytes = int(float(memory_mib) * _MIB) if memory_mib is not None else None
        except ValueError:
            memory_bytes = None
        gpus.append(
            {
                "vendor": "nvidia",
                "name": values.get("name"),
                "memory_bytes": memory_bytes,
                "compute_capability": values.get("compute_cap"),
                "driver": values.get("driver_version"),
            }
        )
    return gpus


def _nvidia_value(text: str) -> str | None:
    text = text.strip()
    return None if not text or text.startswith("[") else text  # [N/A], [Not Supported]


def _cpuinfo() -> dict:
    """model, physical cores and flags from /proc/cpuinfo (Nones and [] where it is absent)."""
    model, flags, cores = None, [], set()
    physical_id = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key, value = key.strip().lower(), value.strip()
                if model is None and key in ("model name", "hardware", "cpu model"):
                    model = value
                elif not flags and key in ("flags", "features"):
                    flags = sorted(set(value.split()))
                elif key == "physical id":
                    physical_id = value
                elif key == "core id":
                    cores.add((physical_id, value))
    except OSError:
        pass
    return {"model": model, "flags": flags, "physical_cores": len(cores) or None}


def _meminfo() -> dict[str, int]:
    values = {}
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return values


def _cpu_model() -> str:
    return _cpuinfo()["model"] or platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _os_release() -> str | None:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        return None
