"""What this machine is, read where it says so: ``/proc`` (CPU, memory, the boot id), ``/etc/os-release`` and
``nvidia-smi``'s answer; and ``run_quietly``, the one way detection runs a tool whose failure is only logged.
"""

from __future__ import annotations

import logging
import os
import platform

from reefnb.common.tool_output import MAX_TOOL_OUTPUT_BYTES, run_tool
from reefnb.common.units import format_size

log = logging.getLogger(__name__)

NVIDIA_SMI_FIELDS = ("name", "memory.total", "compute_cap", "driver_version")
_MIB = 1024**2


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


def cpuinfo() -> dict:
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


def meminfo() -> dict[str, int]:
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


def cpu_model() -> str:
    return cpuinfo()["model"] or platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def os_release() -> str | None:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        return None


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def run_quietly(command: list[str], timeout: float) -> str | None:
    """stdout of a command, or None (logged) when it cannot run, fails, times out or says more than
    ``MAX_TOOL_OUTPUT_BYTES``."""
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
