"""What a package needs to run: its notebooks' imports mapped to the distributions that provide them in the
kernel's own environment, pinned to the versions its runs had, and the ``requirements.txt`` repo2docker reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reefnb.provision.detection import environment_modules, environment_packages
from reefnb.sharing.export_scan import imported_modules, kernel_python
from reefnb.solution.notebook import read_notebook


def module_distributions(python: str | None) -> dict[str, list[str]]:
    """``{top-level import name: [distribution names]}`` in the kernel's environment (``python``; None: this one)."""
    return environment_modules(python)


def notebook_requires(
    notebook: Path,
    records: list[dict],
    local: set[str] = frozenset(),
    warnings: list | None = None,
    module_imports: dict[str, str] | None = None,
) -> dict:
    """Declared packages and tools, plus imported distributions pinned to the versions the kernel had.

    The imports are the notebook's and its local modules' (``module_imports``: name -> the module that imports
    it, see ``export_scan.local_modules``). The import names are mapped in the kernel's own environment (the
    recorded run's interpreter). An import no distribution there provides is kept as an unpinned requirement,
    with a warning.
    """
    parsed = read_notebook(notebook)
    declared = parsed.metadata.get("reef", {}).get("requires", {})
    packages = list(declared.get("packages", []))
    named = set()
    for text in packages:
        try:
            named.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue
    python = kernel_python(records)
    versions = {canonicalize_name(name): version for name, version in _last_packages(records).items()}
    if not versions:
        versions = {canonicalize_name(name): version for name, version in environment_packages(python).items()}
    distributions = module_distributions(python)
    where = {module: notebook.name for module in imported_modules(parsed)}
    for module, importer in (module_imports or {}).items():
        where.setdefault(module, importer)
    for module in sorted(where):
        if module in sys.stdlib_module_names or module in local or module.startswith("_") or module == "reefnb":
            continue  # reefnb goes into every environment reef makes (envs.install_reefnb): not from an index
        provided = sorted(set(distributions.get(module, [])))
        if not provided:
            name = canonicalize_name(module)
            if name not in named:
                packages.append(name)
                named.add(name)
                if warnings is not None:
                    warnings.append(
                        f"{where[module]}: import '{module}': no installed distribution provides it in the kernel's "
                        f"environment ({python or sys.executable}); kept as the unpinned requirement '{name}' "
                        "(check the name, or declare it with reef require)"
                    )
            continue
        for distribution in provided:
            name = canonicalize_name(distribution)
            if name in named:
                continue
            version = versions.get(name)
            packages.append(f"{name}=={version}" if version else name)
            named.add(name)
    requires: dict[str, Any] = {"python": f">={sys.version_info.major}.{sys.version_info.minor}"}
    if packages:
        requires["packages"] = sorted(packages)
    if declared.get("tools"):
        requires["tools"] = declared["tools"]
    return requires


def _last_packages(records: list[dict]) -> dict[str, str]:
    for record in reversed(records):
        packages = (record.get("environment") or {}).get("packages")
        if packages:
            return dict(packages)
    return {}


def requirements_txt(data: dict, lock: dict) -> str:
    """The declared packages, each pinned to the locked version (repo2docker rebuilds only full pins faithfully)."""
    versions = {canonicalize_name(name): version for name, version in (lock.get("packages") or {}).items()}
    lines = []
    for text in data.get("requires", {}).get("packages", []):
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        version = versions.get(name)
        if version is None:
            pinned = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            version = pinned[0] if pinned else None
        marker = f"; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{name}=={version}{marker}" if version else f"{text}")
    return "".join(f"{line}\n" for line in sorted(set(lines)))
