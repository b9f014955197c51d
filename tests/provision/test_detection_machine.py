"""reefnb.provision.detection.machine: /proc, os-release, the boot id, nvidia-smi's answer and run_quietly."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from reefnb.provision.detection import machine

LINUX = Path("/proc/cpuinfo").exists()


def test_nvidia_smi_lines_become_gpus_and_placeholders_none():
    output = "NVIDIA H100 80GB HBM3, 81559, 9.0, 550.54.15\n\nTesla T4, [N/A], [Not Supported], 535.1\n"
    gpus = machine.parse_nvidia_smi(output)
    assert gpus[0] == {
        "vendor": "nvidia",
        "name": "NVIDIA H100 80GB HBM3",
        "memory_bytes": 81559 * 1024**2,
        "compute_capability": "9.0",
        "driver": "550.54.15",
    }
    assert gpus[1]["memory_bytes"] is None and gpus[1]["compute_capability"] is None and len(gpus) == 2
    older = machine.parse_nvidia_smi("Tesla K80, 11441, 470.1", ["name", "memory.total", "driver_version"])
    assert older[0]["driver"] == "470.1" and older[0]["compute_capability"] is None


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_proc_files_are_read_as_they_say():
    info = machine.cpuinfo()
    text = Path("/proc/cpuinfo").read_text()
    assert info["model"] == re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE).group(1).strip()
    total_kb = int(re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE).group(1))
    assert machine.meminfo()["MemTotal"] == total_kb * 1024
    assert machine.boot_id() == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert machine.cpu_model() == info["model"]
    assert machine.memory_bytes() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_run_quietly_gives_stdout_or_none(caplog):
    caplog.set_level("INFO", logger="reefnb.provision.detection.machine")
    assert machine.run_quietly([sys.executable, "-c", "print('hello')"], 30) == "hello\n"
    assert machine.run_quietly([sys.executable, "-c", "raise SystemExit(3)"], 30) is None
    assert machine.run_quietly(["/nonexistent/reef-tool"], 30) is None
    assert "exited with status 3" in caplog.text and "cannot run /nonexistent/reef-tool" in caplog.text
