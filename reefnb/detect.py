"""The environment fingerprint of a run: the host (OS, CPU, memory) and the kernel's python."""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
from functools import lru_cache

log = logging.getLogger(__name__)

# Evaluated inside the kernel as a user expression: it leaves no name behind in the user's
# namespace and needs only the standard library there.
KERNEL_FINGERPRINT_EXPRESSION = (
    "__import__('json').dumps({"
    "'version': __import__('platform').python_version(), "
    "'implementation': __import__('platform').python_implementation(), "
    "'executable': __import__('sys').executable, "
    "'prefix': __import__('sys').prefix, "
    "'packages': {d.metadata['Name']: d.version for d in __import__('importlib.metadata').metadata.distributions() "
    "if d.metadata['Name']}})"
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


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
