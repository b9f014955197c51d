"""Software and hardware detection: the environment fingerprint, made of pluggable detectors.

``detect()`` runs detectors (built-ins plus third-party ones registered under the entry-point
group ``reefnb.detectors``) against one python environment and returns ``{detector name: data}``.
Results are cached per environment under ``reef_home()/cache/detect``; a detector is run again
only when its inputs (its *signature*: folder listings, file mtimes, the boot id) changed.

``host_fingerprint``/``KERNEL_FINGERPRINT_EXPRESSION`` give the lighter fingerprint of a run record.

One module per concern; this package names what the rest of reefnb uses:

- ``base``: ``Detector`` (what a plugin subclasses) and ``DetectContext`` (the environment inspected);
- ``detectors``: the ten built-in detectors (``BUILTIN_DETECTORS``);
- ``registry``: the built-ins and the plugins of the entry-point group (``available_detectors``);
- ``fingerprint``: ``detect()`` and what other stages ask through it (packages, modules, python version);
- ``cache``: the cache file of an environment; ``stamps``: the signatures' stamps of files and folders;
- ``interpreters``: the pythons on PATH, in pyenv and in conda; ``machine``: ``/proc``, os-release, nvidia-smi;
- ``record``: what a run record keeps of its host and kernel.

The ``reef detect`` text is ``reefnb.frontends.provision_text.fingerprint_text``.
"""

from __future__ import annotations

from reefnb.provision.detection.base import DetectContext, Detector
from reefnb.provision.detection.cache import CACHE_FORMAT, cache_path
from reefnb.provision.detection.detectors import (
    BUILTIN_DETECTORS,
    CpuDetector,
    EnvironmentDetector,
    GpuDetector,
    MemoryDetector,
    ModulesDetector,
    OperatingSystemDetector,
    PackagesDetector,
    PythonDetector,
    TensorflowDetector,
    ToolsDetector,
)
from reefnb.provision.detection.fingerprint import detect, environment_modules, environment_packages, python_version
from reefnb.provision.detection.machine import NVIDIA_SMI_FIELDS, parse_nvidia_smi
from reefnb.provision.detection.record import KERNEL_FINGERPRINT_EXPRESSION, host_fingerprint, parse_kernel_fingerprint
from reefnb.provision.detection.registry import (
    ENTRY_POINT_GROUP,
    available_detectors,
    default_detector_names,
    plugin_detectors,
)

__all__ = [
    "BUILTIN_DETECTORS",
    "CACHE_FORMAT",
    "ENTRY_POINT_GROUP",
    "KERNEL_FINGERPRINT_EXPRESSION",
    "NVIDIA_SMI_FIELDS",
    "CpuDetector",
    "DetectContext",
    "Detector",
    "EnvironmentDetector",
    "GpuDetector",
    "MemoryDetector",
    "ModulesDetector",
    "OperatingSystemDetector",
    "PackagesDetector",
    "PythonDetector",
    "TensorflowDetector",
    "ToolsDetector",
    "available_detectors",
    "cache_path",
    "default_detector_names",
    "detect",
    "environment_modules",
    "environment_packages",
    "host_fingerprint",
    "parse_kernel_fingerprint",
    "parse_nvidia_smi",
    "plugin_detectors",
    "python_version",
]
