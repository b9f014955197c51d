"""What a run record keeps of where it ran: this host's OS, CPU and memory (``host_fingerprint``), and the kernel's
python and packages, asked inside the kernel (``KERNEL_FINGERPRINT_EXPRESSION``, read by
``parse_kernel_fingerprint``). Lighter than ``detect()``: no detector, no cache.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
from functools import lru_cache

from reefnb.provision.detection.machine import cpu_model, memory_bytes, os_release

log = logging.getLogger(__name__)


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
    "'packages': {m['Name']: m['Version'] "
    "for m in (d.metadata for d in __import__('importlib.metadata').metadata.distributions()) "
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
            "distribution": os_release(),
        },
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
        "memory_bytes": memory_bytes(),
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
