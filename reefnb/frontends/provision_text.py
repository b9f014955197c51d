"""The provision stage's results as text for people: ``reef detect``'s fingerprint, ``reef init``'s plan and
``reef require``/``tool``/``artifact``'s declaration.

The provision stage returns data (``detect()``'s fingerprint, a ``Plan``, a ``Declaration``); the ``reef`` command
prints these lines and the ``%reef`` magic and the widgets show them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reefnb.common.units import format_size

if TYPE_CHECKING:
    from reefnb.provision.declare import Declaration
    from reefnb.provision.install import Plan

NOTABLE_CPU_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "amx_tile",
    "neon",
    "asimd",
    "sve",
)


def fingerprint_text(fingerprint: dict) -> str:
    """A readable summary of a ``detect()`` fingerprint, one topic per line (or block)."""
    lines: list[str] = []
    add = lines.append
    if "os" in fingerprint:
        system = fingerprint["os"]
        name = system.get("distribution") or system.get("system")
        add(f"OS:          {name} ({system.get('system')} {system.get('release')}, {system.get('machine')})")
    if "cpu" in fingerprint:
        cpu = fingerprint["cpu"]
        cores = f"{cpu.get('logical_cores')} logical cores"
        if cpu.get("physical_cores"):
            cores += f", {cpu['physical_cores']} physical"
        flags = cpu.get("flags") or []
        notable = [flag for flag in NOTABLE_CPU_FLAGS if flag in flags]
        flag_text = f"; flags: {' '.join(notable)}" if notable else ""
        if flags:
            flag_text += f" (+{len(flags) - len(notable)} more)" if notable else f"; {len(flags)} flags"
        add(f"CPU:         {cpu.get('model')}, {cores}{flag_text}")
    if "memory" in fingerprint:
        memory = fingerprint["memory"]
        text = f"{_size_text(memory.get('total_bytes'))} total"
        if memory.get("available_bytes") is not None:
            text += f", {_size_text(memory['available_bytes'])} available"
        add(f"Memory:      {text}")
    if "gpu" in fingerprint:
        gpus = fingerprint["gpu"] or []
        if not gpus:
            add("GPUs:        none found")
        for index, gpu in enumerate(gpus):
            details = [_size_text(gpu.get("memory_bytes"))]
            if gpu.get("compute_capability"):
                details.append(f"compute capability {gpu['compute_capability']}")
            if gpu.get("driver"):
                details.append(f"driver {gpu['driver']}")
            label = "GPUs:" if index == 0 else ""
            add(f"{label:<13}{gpu.get('vendor', '')} {gpu.get('name')} ({', '.join(details)})".rstrip())
    if "environment" in fingerprint:
        environment = fingerprint["environment"]
        label = f"{environment['name']}: " if environment.get("name") else ""
        add(f"Environment: {label}{environment.get('python')} (python {environment.get('version')})")
    if "packages" in fingerprint:
        add(f"Packages:    {len(fingerprint['packages'])} installed")
    if "python" in fingerprint:
        interpreters = fingerprint["python"] or []
        add(f"Pythons:     {len(interpreters)} found" if interpreters else "Pythons:     none found")
        for interpreter in interpreters:
            add(f"  {interpreter.get('version', '?'):<10} {interpreter.get('path')} ({interpreter.get('source')})")
    if "tools" in fingerprint:
        tools = fingerprint["tools"] or {}
        listed = ", ".join(
            f"{name} {found.get('version') or '(version unknown)'}" for name, found in sorted(tools.items())
        )
        add(f"Tools:       {listed or 'none found'}")
    known = {"os", "cpu", "memory", "gpu", "environment", "packages", "python", "tools"}
    for name, data in fingerprint.items():
        if name not in known:
            text = json.dumps(data, sort_keys=True)
            add(f"{name + ':':<13}{text if len(text) <= 200 else text[:197] + '...'}")
    return "\n".join(lines)


def _size_text(value: int | None) -> str:
    return "unknown" if value is None else format_size(value)


def plan_lines(plan: Plan) -> list[str]:
    """The plan for people: one line per requirement and artifact."""
    where = (
        f"environment '{plan.environment}'" + ("" if plan.exists else " (to be created)")
        if plan.target == "env"
        else f"this python ({plan.python})"
    )
    lines = [f"{plan.solution.name}@{plan.solution.version} -> {where}"]
    for check in plan.checks:
        found = check.found or "-"
        reason = f"  ({check.reason})" if check.reason else ""
        lines.append(
            f"  {check.status:<8} {check.kind:<8} {check.name:<22} need {check.required:<16} have {found}{reason}"
        )
    for artifact in plan.artifacts:
        lines.append(f"  {artifact['status']:<8} artifact {artifact['name']:<22} {artifact.get('detail', '')}".rstrip())
    if not plan.checks and not plan.artifacts:
        lines.append("  nothing required")
    return lines


def declaration_lines(declaration: Declaration) -> list[str]:
    """The declaration for people: where it went, one line per check, then the warnings."""
    places = [
        f"{declaration.notebook} (metadata.reef)" if declaration.notebook else None,
        str(declaration.manifest) if declaration.manifest else None,
    ]
    where = " and ".join(place for place in places if place)
    verb = "removed from" if declaration.removed else "declared in"
    lines = [f"{verb} {where}" + ("" if declaration.changed else " (unchanged)")]
    for check in declaration.checks:
        found = check.found or "-"
        reason = f"  ({check.reason})" if check.reason else ""
        lines.append(
            f"  {check.status:<8} {check.kind:<8} {check.name:<22} need {check.required:<16} have {found}{reason}"
        )
    if declaration.removed:
        lines += [f"  {_entry_text(declaration.section, entry)}" for entry in declaration.entries]
    lines += [f"warning: {line}" for line in declaration.as_dict()["warnings"]]
    return lines


def _entry_text(section: str, entry: Any) -> str:
    if section == "tools":
        return entry["name"] + entry.get("version", "")
    if section == "artifacts":
        return ", ".join(entry)
    return str(entry)
