"""reefnb.provision.detection.record: what a run record keeps of its host and of its kernel's python."""

from __future__ import annotations

import os
import platform
import socket

from reefnb.provision.detection import record


def test_the_host_fingerprint_keeps_its_shape():
    host = record.host_fingerprint()
    assert set(host) == {"hostname", "os", "cpu", "memory_bytes"} and host["hostname"] == socket.gethostname()
    assert host["cpu"]["count"] == os.cpu_count() and host["os"]["platform"] == platform.platform()
    host["cpu"]["count"] = -1  # a copy each time: the cached fingerprint stays as it was
    assert record.host_fingerprint()["cpu"]["count"] == os.cpu_count()


def test_the_kernel_expression_reads_back_as_the_kernel_said_it():
    answer = repr(eval(record.KERNEL_FINGERPRINT_EXPRESSION))  # what the kernel's text/plain says of the string
    fingerprint = record.parse_kernel_fingerprint(answer)
    assert fingerprint["version"] == platform.python_version() and "pytest" in fingerprint["packages"]
    assert record.parse_kernel_fingerprint(None) is None
    assert record.parse_kernel_fingerprint("not a literal") is None
    assert record.parse_kernel_fingerprint(repr("[1, 2]")) is None
