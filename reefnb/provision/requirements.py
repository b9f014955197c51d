"""Checking a solution's ``requires`` against what an environment and this machine have."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reefnb.common.exceptions import ReefError
from reefnb.provision.tools import TOOLS

FOUND, MISSING, CONFLICT, UNMET, SKIPPED = "found", "missing", "conflict", "unmet", "skipped"
ON_DEMAND = "on demand"  # an artifact the first run that needs it fetches (not reef init)
GIB = 2**30


@dataclass(frozen=True)
class Check:
    """One requirement and what was found: ``found``, ``missing`` or ``conflict`` (both
    installable), ``unmet`` (cannot be met here: the reason says why) or ``skipped`` (its
    marker does not apply)."""

    kind: str  # python | package | tool | hardware | platform
    name: str
    required: str
    found: str | None
    status: str
    reason: str = ""

    @property
    def installable(self) -> bool:
        return self.kind == "package" and self.status in (MISSING, CONFLICT)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Facts:
    """What is known of the target: its python, its packages, and the machine."""

    python_version: str
    packages: dict[str, str]  # canonical name -> version
    find_tool: Callable[[str], dict | None]  # name -> {"version", "path"} or None
    memory_bytes: int | None = None
    cpu_cores: int | None = None
    cpu_flags: frozenset[str] = frozenset()
    gpus: tuple[dict, ...] = ()
    system: str = platform.system().lower()
    machine: str = platform.machine().lower()


def check_requirements(requires: dict, facts: Facts) -> list[Check]:
    """Every requirement of ``requires`` checked against ``facts``, in manifest order."""
    checks: list[Check] = []
    if "python" in requires:
        checks.append(
            _check_version(
                "python",
                "python",
                requires["python"],
                facts.python_version,
                unmet_reason=(
                    "python here is {found} and no interpreter matching {required} was found (`reef detect` lists them)"
                ),
            )
        )
    if requires.get("platforms"):
        checks.append(_check_platforms(requires["platforms"], facts))
    checks += [_check_package(text, facts) for text in requires.get("packages", [])]
    checks += [_check_tool(tool, facts) for tool in requires.get("tools", [])]
    checks += _check_hardware(requires.get("hardware", {}), facts)
    return checks


def _check_version(kind: str, name: str, required: str, found: str | None, unmet_reason: str) -> Check:
    if found is None:
        return Check(kind, name, required, None, UNMET, f"{name} not found")
    if _satisfies(found, required):
        return Check(kind, name, required, found, FOUND)
    return Check(kind, name, required, found, UNMET, unmet_reason.format(found=found, required=required))


def _check_platforms(platforms: list[str], facts: Facts) -> Check:
    here = {facts.system, facts.machine, f"{facts.system}-{facts.machine}", _ALIASES.get(facts.system, facts.system)}
    here |= {f"{_ALIASES.get(facts.system, facts.system)}-{facts.machine}"}
    wanted = [item.lower() for item in platforms]
    found = f"{facts.system}-{facts.machine}"
    if here & set(wanted):
        return Check("platform", "platform", ", ".join(platforms), found, FOUND)
    return Check("platform", "platform", ", ".join(platforms), found, UNMET, f"this machine is {found}")


_ALIASES = {"darwin": "macos", "win32": "windows"}


def _check_package(text: str, facts: Facts) -> Check:
    requirement = Requirement(text)
    name = canonicalize_name(requirement.name)
    required = str(requirement.specifier) or "any"
    if requirement.marker is not None:
        environment = default_environment()
        environment.update(
            python_version=".".join(facts.python_version.split(".")[:2]), python_full_version=facts.python_version
        )
        if not requirement.marker.evaluate(environment):
            reason = f"for another platform or python ({requirement.marker} is false here)"
            return Check("package", requirement.name, f"{required}; {requirement.marker}", None, SKIPPED, reason)
    found = facts.packages.get(name)
    if found is None:
        return Check("package", requirement.name, required, None, MISSING, "not installed")
    if requirement.specifier and not _satisfies(found, str(requirement.specifier)):
        return Check("package", requirement.name, required, found, CONFLICT, f"{found} is installed")
    return Check("package", requirement.name, required, found, FOUND)


def _check_tool(tool: dict, facts: Facts) -> Check:
    name, required = tool["name"], tool.get("version", "") or "any"
    if name not in TOOLS:
        return Check(
            "tool", name, required, None, UNMET, f"reef knows no tool '{name}' (known: {', '.join(sorted(TOOLS))})"
        )
    found = facts.find_tool(name)
    if not found:
        return Check(
            "tool", name, required, None, UNMET, f"{name} is not on PATH; install it with your system's package manager"
        )
    version = found.get("version")
    if required != "any" and (version is None or not _satisfies(version, required)):
        return Check(
            "tool", name, required, version, UNMET, f"{found.get('path')} is version {version}; {required} is needed"
        )
    return Check("tool", name, required, version, FOUND)


def _check_hardware(hardware: dict, facts: Facts) -> list[Check]:
    checks = []
    if "memory_gb" in hardware:
        have = None if facts.memory_bytes is None else facts.memory_bytes / GIB
        ok = have is not None and have >= hardware["memory_gb"]
        checks.append(
            Check(
                "hardware",
                "memory",
                f">= {hardware['memory_gb']} GiB",
                _gib(have),
                FOUND if ok else UNMET,
                "" if ok else f"this machine has {_gib(have)} of memory",
            )
        )
    if "cpu_cores" in hardware:
        ok = (facts.cpu_cores or 0) >= hardware["cpu_cores"]
        checks.append(
            Check(
                "hardware",
                "cpu cores",
                f">= {hardware['cpu_cores']}",
                str(facts.cpu_cores),
                FOUND if ok else UNMET,
                "" if ok else f"this machine has {facts.cpu_cores} logical cores",
            )
        )
    for flag in hardware.get("cpu_flags", []):
        ok = flag.lower() in facts.cpu_flags
        checks.append(
            Check(
                "hardware",
                f"cpu flag {flag}",
                "present",
                "present" if ok else "absent",
                FOUND if ok else UNMET,
                "" if ok else f"this CPU does not support {flag}",
            )
        )
    if "gpu" in hardware:
        checks.append(_check_gpu(hardware["gpu"], facts))
    return checks


def _check_gpu(wanted: dict, facts: Facts) -> Check:
    required = ", ".join(f"{key} {value}" for key, value in wanted.items()) or "any GPU"
    candidates = [gpu for gpu in facts.gpus if _gpu_fits(gpu, wanted)]
    count = wanted.get("count", 1)
    found = ", ".join(str(gpu.get("name")) for gpu in facts.gpus) or None
    if len(candidates) >= count:
        return Check("hardware", "gpu", required, found, FOUND)
    if not facts.gpus:
        reason = "no GPU found (nvidia-smi absent or reports none)"
    else:
        reason = f"{len(candidates)} of {count} GPUs fit; found: {found}"
    return Check("hardware", "gpu", required, found, UNMET, reason)


def _gpu_fits(gpu: dict, wanted: dict) -> bool:
    if "vendor" in wanted and str(gpu.get("vendor", "")).lower() != wanted["vendor"].lower():
        return False
    if "memory_gb" in wanted and (gpu.get("memory_bytes") or 0) / GIB < wanted["memory_gb"]:
        return False
    if "compute_capability" in wanted:
        try:
            return Version(str(gpu.get("compute_capability"))) >= Version(wanted["compute_capability"])
        except InvalidVersion:
            return False
    return True


def _satisfies(version: str, specifier: str) -> bool:
    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidVersion, InvalidSpecifier):
        return False


def _gib(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} GiB"


def summary(checks: list[Check]) -> dict[str, Any]:
    """Counts by status, and whether installing can make the target meet everything."""
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    return {"counts": counts, "satisfiable": not any(check.status == UNMET for check in checks)}


# --- requirements from elsewhere (a package, a registry) ------------------------------------------

TRUST_HINT = "read the package, then pass --trust to allow it"
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


def hash_key(name: str, version: str) -> str:
    """How a lock's ``hashes`` names one distribution: ``canonical-name==version``."""
    return f"{canonicalize_name(name)}=={version}"


def untrusted_pins(texts: list[str], hashes: dict, where: Callable[[str], str]) -> list[str]:
    """The requirement lines an installer may get for requirements from a package not trusted.

    Each requirement must name a package (no URL or path), pin one version with ``==`` and have a
    sha256 in the lock's ``hashes`` for that version; anything else raises ReefError naming the
    requirement (``where(text)`` says which file and JSON pointer it came from) and ``--trust``.
    The lines are rebuilt from the parsed requirement, so no installer option can ride along.
    """
    lines = []
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            raise ReefError(f"{where(text)}: requirement {text!r} is not a PEP 508 requirement; {TRUST_HINT}") from None
        if requirement.url:
            raise ReefError(
                f"{where(text)}: requirement {text!r} is a direct reference: without --trust "
                f"a package's requirements come only by name from your package index; {TRUST_HINT}"
            )
        pins = list(requirement.specifier)
        version = (
            pins[0].version if len(pins) == 1 and pins[0].operator == "==" and "*" not in pins[0].version else None
        )
        if version is None:
            raise ReefError(
                f"{where(text)}: requirement {text!r} is not pinned to one version (==) by the package's lock; "
                f"{TRUST_HINT}"
            )
        key = hash_key(requirement.name, version)
        digests = hashes.get(key) if isinstance(hashes, dict) else None
        if (
            not digests
            or not isinstance(digests, list)
            or not all(isinstance(item, str) and _SHA256.match(item) for item in digests)
        ):
            raise ReefError(
                f"{where(text)}: requirement {text!r} has no sha256 for {key} in the package's reef.lock.json "
                f"(/hashes); {TRUST_HINT}"
            )
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f" ; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{canonicalize_name(requirement.name)}{extras}=={version}{marker}")
    return lines


def hash_lines(hashes: dict) -> list[str]:
    """``name==version --hash=sha256:...`` for each well-formed entry of a lock's ``hashes``."""
    lines = []
    for key, digests in sorted(hashes.items()) if isinstance(hashes, dict) else []:
        name, _, version = str(key).partition("==")
        try:
            Version(version)
        except InvalidVersion:
            continue
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) or not isinstance(digests, list):
            continue
        good = [digest for digest in digests if isinstance(digest, str) and _SHA256.match(digest)]
        if good:
            lines.append(f"{name}=={version} " + " ".join(f"--hash={digest}" for digest in good))
    return lines
