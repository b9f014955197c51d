"""``reef init``: plan what a solution needs here, then make it true (packages, kernel, artifacts, lock)."""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reefnb.common.exceptions import EnvError, EnvFailed, InitError, ReefError
from reefnb.common.files import write_json_object
from reefnb.common.json_input import pointer_token, read_json
from reefnb.common.paths import envs_home
from reefnb.common.units import format_size
from reefnb.common.version import __version__
from reefnb.provision import detection
from reefnb.provision.artifacts import artifact_status, fetch_artifact, split_artifact_arguments, supply_artifact
from reefnb.provision.envs import (
    Environment,
    check_name,
    create_environment,
    get_environment,
    install_packages,
    install_reefnb,
    locked_hashes,
    remove_environment,
)
from reefnb.provision.initialised import remember_solution
from reefnb.provision.requirements import (
    CONFLICT,
    ON_DEMAND,
    UNMET,
    Check,
    Facts,
    check_requirements,
    hash_key,
    untrusted_pins,
)
from reefnb.provision.tools import find_tool
from reefnb.solution.manifest import MANIFEST_NAME, Solution, load_solution

log = logging.getLogger(__name__)

LOCK_NAME = "reef.lock.json"
LOCK_VERSION = 1


@dataclass
class Plan:
    """What ``reef init`` found and what it would do."""

    solution: Solution
    target: str  # "env" or "native"
    environment: str | None  # the environment's name when target is "env"
    python: str  # the interpreter whose environment is checked / changed
    exists: bool  # whether that environment exists already
    checks: list[Check]
    artifacts: list[dict] = field(default_factory=list)  # name, status (cached|fetch|generate), detail
    requires: dict = field(default_factory=dict)  # the manifest's requires, with the named environment's own
    base_python: str = sys.executable  # the interpreter a new environment is made from

    @property
    def installs(self) -> list[str]:
        """The requirement strings to install (missing or conflicting packages)."""
        packages = self.requires.get("packages", [])
        wanted = {check.name for check in self.checks if check.installable}
        from packaging.requirements import Requirement

        return [text for text in packages if Requirement(text).name in wanted]

    @property
    def unmet(self) -> list[Check]:
        return [check for check in self.checks if check.status == UNMET]

    @property
    def conflicts(self) -> list[Check]:
        return [check for check in self.checks if check.status == CONFLICT]

    def as_dict(self) -> dict:
        return {
            "solution": f"{self.solution.name}@{self.solution.version}",
            "target": self.target,
            "environment": self.environment,
            "python": self.python,
            "exists": self.exists,
            "requirements": [check.as_dict() for check in self.checks],
            "artifacts": self.artifacts,
            "installs": self.installs,
            "unmet": len(self.unmet),
        }


def plan_init(
    source: str | Path | Solution,
    environment: str | None = None,
    native: bool = False,
    offline: bool = False,
    pinned: dict[str, str] | None = None,
    artifacts: list[str] | tuple[str, ...] = (),
) -> Plan:
    """Check every requirement of the solution against its target environment; change nothing.

    An ``on_demand`` artifact is left for the run that needs it, unless cached or named in ``artifacts``.

    Parameters
    ----------
    source
        The solution, its folder or its manifest.
    environment
        The target environment's name (default: one named after the solution); it may not exist yet.
    native
        Target this python instead of an environment (not with ``environment``).
    offline
        Plan no artifact download over http(s).
    pinned
        Package name -> version (e.g. a package's ``reef.lock.json`` packages): turns each declared
        package that it names into an exact pin, so the environment matches the original's.
    artifacts
        Names of on-demand artifacts to fetch now too.

    Returns
    -------
    Plan
        What ``reef init`` found (each requirement's check, each artifact's status) and what it would install.

    Raises
    ------
    ManifestError
        When the solution's manifest is invalid.
    ReefError
        When both ``environment`` and ``native`` are given, ``environment`` is not a usable name, or ``artifacts`` names
        an artifact the manifest does not declare.
    """
    solution = source if isinstance(source, Solution) else load_solution(source)
    if native and environment:
        raise ReefError("choose either --env NAME or --native, not both")
    if native:
        target, name, python, exists = "native", None, sys.executable, True
    else:
        target, name = "env", check_name(environment or _default_env_name(solution))
        exists = (envs_home() / name / "reef-env.json").is_file()
        python = get_environment(name).python if exists else sys.executable
    requires = effective_requires(solution, name)
    if pinned:
        _check_pins(pinned, solution.path / LOCK_NAME)
        requires["packages"] = [_pin(text, pinned) for text in requires.get("packages", [])]
    if target == "env" and not exists and "python" in requires:
        python = _interpreter_for(requires["python"]) or python
    facts = _facts(python, fresh=not exists)
    checks = check_requirements(requires, facts)
    unknown = sorted(set(artifacts) - set(solution.data.get("artifacts", {})))
    if unknown:
        declared = ", ".join(solution.data.get("artifacts", {})) or "none"
        raise ReefError(
            f"{solution.manifest_path or solution.path}: /artifacts: no artifact '{unknown[0]}' (declared: {declared})"
        )
    planned = _artifact_plan(solution, offline, set(artifacts))
    return Plan(solution, target, name, python, exists, checks, planned, requires=requires, base_python=python)


def made_environment(solution: Solution) -> Environment | None:
    """The environment ``reef init`` made for the solution, when it is made here: its ``reef.lock.json`` names an
    environment with a kernel and ``$REEF_HOME/envs`` holds it. None otherwise (never initialised, initialised
    ``--native``, or a lock made elsewhere): the solution then runs on the kernel its notebook names."""
    if solution.manifest_path is None:
        return None
    locked = (read_lock(solution) or {}).get("environment") or {}
    name = locked.get("name")
    if not isinstance(name, str) or not name or not locked.get("kernel") or locked.get("kind", "env") != "env":
        return None
    try:
        return get_environment(name)
    except ReefError:  # removed since (reef rm, reef env remove), or another REEF_HOME's
        return None


def kernel_python(kernel: str) -> str | None:
    """The interpreter a Python kernel runs (as jupyter_client starts it: ``python`` is this interpreter); None for
    a kernel that is not installed or runs another language."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        return None
    if str(spec.language).lower() not in ("python", "python3") or not spec.argv:
        return None
    program = spec.argv[0]
    if program in ("python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])):
        return sys.executable
    return program if os.path.isabs(program) else shutil.which(program)


def check_against(solution: Solution, python: str, offline: bool = False) -> Plan:
    """The solution's requirements checked against an interpreter that exists (the one its kernel runs, where no
    environment was made for it), with its artifacts' plan; changes nothing. The plan's ``target`` is
    ``"native"`` and ``environment`` None: nothing is made there."""
    requires = effective_requires(solution, None)
    checks = check_requirements(requires, _facts(python, fresh=False))
    return Plan(
        solution,
        "native",
        None,
        python,
        True,
        checks,
        _artifact_plan(solution, offline, set()),
        requires=requires,
        base_python=python,
    )


def effective_requires(solution: Solution, environment: str | None) -> dict:
    """The manifest's ``requires`` with a declared environment's python and packages on top.

    An environment's package replaces the solution's requirement of the same name, so that
    ``environments: {"tf-old": {"packages": ["tensorflow==2.15.*"]}}`` pins another version.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    requires = dict(solution.data.get("requires", {}))
    declared = solution.data.get("environments", {}).get(environment or "", {})
    if "python" in declared:
        requires["python"] = declared["python"]
    if declared.get("packages"):
        own = {canonicalize_name(Requirement(text).name) for text in declared["packages"]}
        kept = [text for text in requires.get("packages", []) if canonicalize_name(Requirement(text).name) not in own]
        requires["packages"] = kept + list(declared["packages"])
    return requires


def _check_pins(versions: dict, lock: Path) -> None:
    """Each pin (usually a lock's ``packages``, from elsewhere) is a name and a version, or ReefError naming it."""
    from packaging.version import InvalidVersion, Version

    if not isinstance(versions, dict):
        raise ReefError(f"{lock}: /packages: not an object of package versions")
    for name, version in versions.items():
        try:
            Version(version if isinstance(version, str) else "")
        except InvalidVersion:
            raise ReefError(f"{lock}: /packages/{name}: {str(version)[:80]!r} is not a version") from None


def _pin(text: str, versions: dict[str, str]) -> str:
    """``text`` (a PEP 508 requirement) pinned to ``versions``' version of its package, when it names one."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    requirement = Requirement(text)
    version = {canonicalize_name(name): value for name, value in versions.items()}.get(
        canonicalize_name(requirement.name)
    )
    if not version or requirement.url:
        return text
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{requirement.name}{extras}=={version}{marker}"


def _interpreter_for(specifier: str) -> str | None:
    """The newest python on this machine that satisfies ``specifier`` (this one when it does)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    wanted = SpecifierSet(specifier)
    if wanted.contains(platform.python_version(), prereleases=True):
        return sys.executable
    candidates = []
    for found in detection.detect(["python"]).get("python", []):
        try:
            version = Version(found["version"])
        except (InvalidVersion, KeyError, TypeError):
            continue
        if wanted.contains(version, prereleases=True):
            candidates.append((version, found["path"]))
    return max(candidates)[1] if candidates else None


@dataclass
class InitOptions:
    """What ``reef init`` was asked for (see ``reefnb.sharing.sources.init``, which takes them as keywords).

    ``pinned``: exact versions for the declared packages (see plan_init). ``replace``: make the environment
    afresh even when it exists. ``artifacts``: on-demand artifacts to fetch now too (``NAME=PATH`` entries
    supply a file). ``on_plan`` receives the plan before anything changes. ``whole_lock``: a new environment
    gets the environment its lock recorded (see ``install_recorded``), not only the declared packages; a
    package or registry component not trusted still installs only what its lock pins and hashes.
    """

    environment: str | None = None
    native: bool = False
    yes: bool = False
    dry_run: bool = False
    offline: bool = False
    pip_options: list[str] | None = None
    on_plan: Callable[[Plan], None] | None = None
    progress: Callable[[str, int, int | None], None] | None = None
    pinned: dict[str, str] | None = None
    replace: bool = False
    artifacts: list[str] | tuple[str, ...] = ()
    trust: bool = False
    whole_lock: bool = False


@dataclass
class Installed:
    """The first step of an init done: the plan, the environment its packages went to, their hashes."""

    plan: Plan
    environment: Any
    hashes: dict | None


def replace_environment(options: InitOptions) -> None:
    """``--replace``: remove the named environment before it is made again."""
    if (
        options.replace
        and options.environment
        and not options.native
        and (envs_home() / options.environment / "reef-env.json").is_file()
    ):
        remove_environment(options.environment)


def install_requirements(
    source: str | Path | Solution,
    options: InitOptions,
    locked: dict | None = None,
    foreign: bool = False,
    origin: str | Path | Solution | None = None,
) -> Installed | None:
    """Plan, check and install a solution's packages (its kernel environment, or natively): the first step of
    ``reef init``; None for a dry run (the plan goes to ``options.on_plan``). ``foreign``: it came from a package
    or a registry, so without ``options.trust`` it installs only what its lock (``locked``) pins and hashes."""
    origin = source if origin is None else origin
    artifacts, supplied = split_artifact_arguments(options.artifacts)
    if supplied and not options.dry_run:
        _supply(source, supplied)
    plan = plan_init(
        source,
        environment=options.environment,
        native=options.native,
        offline=options.offline,
        pinned=options.pinned or locked,
        artifacts=artifacts,
    )
    if options.on_plan is not None:
        options.on_plan(plan)
    problem = refusal(plan, options, foreign=foreign, origin=origin, supplied=supplied)
    if problem is not None:
        raise problem
    if options.dry_run:
        return None
    lock = (
        read_lock(plan.solution)
        if options.whole_lock and plan.target == "env" and not (foreign and not options.trust)
        else None
    )
    if lock and lock.get("packages"):
        return Installed(plan, install_recorded(plan, lock, options.pip_options), _lock_hashes(lock))
    installs, hashes = untrusted_install(plan, origin) if foreign and not options.trust else (plan.installs, None)
    try:
        if plan.target == "native":
            install_packages(sys.executable, installs, options.pip_options, hashes=hashes)
            environment = None
        elif plan.exists:
            install_packages(plan.python, installs, options.pip_options, hashes=hashes)
            install_reefnb(
                plan.python
            )  # this reef's kernel part: an older reef's copy may lack what notebooks call (fetch_artifact)
            environment = get_environment(plan.environment)
        else:
            environment = create_environment(
                plan.environment, installs, python=plan.base_python, pip_options=options.pip_options, hashes=hashes
            )
    except EnvError as error:
        if hashes is None:
            raise
        # Without --trust the installer takes only the wheels the lock hashes: its refusal (an sdist, another hash)
        # is the package's, so the input was wrong (exit 2), not this machine.
        raise EnvError(
            f"{origin}: {error} (without --trust a package installs only wheels matching the sha256 in its {LOCK_NAME})"
        ) from None
    return Installed(plan, environment, hashes)


def refusal(
    plan: Plan,
    options: InitOptions,
    foreign: bool = False,
    origin: str | Path | Solution | None = None,
    supplied: Iterable[str] = (),
) -> ReefError | None:
    """Why ``reef init`` refuses ``plan`` before changing anything (the first reason, as the error it raises), or
    None when it goes ahead. In order: a ``supplied`` artifact not given; for a solution from a package or registry
    (``foreign``) without ``options.trust``, an artifact its own code makes and a requirement its lock does not pin
    by version and hash; a requirement that cannot be met here; ``--native`` replacing packages without ``yes``.
    The JupyterLab panel asks the same before it offers to install."""
    origin = plan.solution.path if origin is None else origin
    try:
        _refuse_untrusted(plan, options, set(supplied), foreign, origin)
        if foreign and not options.trust and not options.dry_run:
            untrusted_install(plan, origin)
        _refuse_unmet(plan, options)
    except ReefError as error:
        return error
    return None


def _refuse_untrusted(plan: Plan, options: InitOptions, supplied: set[str], foreign: bool, origin) -> None:
    """Stop before anything changes: a supplied artifact not given, or a package's own code to run without trust."""
    unsupplied = [
        artifact
        for artifact in plan.artifacts
        if artifact["status"] == "missing"
        and artifact["name"] not in supplied
        and plan.solution.data["artifacts"][artifact["name"]].get("supplied")
    ]
    if unsupplied and not options.dry_run:
        raise ReefError(f"{origin}: {unsupplied[0]['detail']}")
    generated = [artifact for artifact in plan.artifacts if artifact["status"] == "generate"]
    if generated and foreign and not options.trust and not options.dry_run:
        raise ReefError(
            f"{origin}: artifact '{generated[0]['name']}' is made by the package's own code "
            f"({generated[0]['detail']}): read it, then pass --trust to run it"
        )


def _refuse_unmet(plan: Plan, options: InitOptions) -> None:
    """Stop before anything changes: a requirement that cannot be met, or native packages to replace without ``yes``."""
    if plan.unmet:
        reasons = "; ".join(f"{check.name}: {check.reason}" for check in plan.unmet)
        raise InitError(f"{plan.solution.name}: {len(plan.unmet)} requirement(s) cannot be met here: {reasons}", plan)
    if plan.target == "native" and plan.conflicts and not options.yes:
        changes = ", ".join(f"{check.name} {check.found} -> {check.required}" for check in plan.conflicts)
        raise InitError(f"--native would replace installed packages ({changes}); add --yes to allow it", plan)


def finish_init(installed: Installed, options: InitOptions) -> dict:
    """The second step of ``reef init``: fetch the artifacts, write and return the lock, remember the solution."""
    plan = installed.plan
    artifacts = _fetch_artifacts(plan, options.offline, options.progress)
    lock = _lock(plan, installed.environment, artifacts, installed.hashes, options.pip_options)
    write_lock(plan.solution.path / LOCK_NAME, lock)
    _remember(plan.solution, installed.environment)
    return lock


def _supply(source: str | Path | Solution, supplied: dict[str, str]) -> None:
    """Files given as ``--artifact NAME=PATH``: verified, cached and placed (see ``artifacts.supply_artifact``)."""
    solution = source if isinstance(source, Solution) else load_solution(source)
    for name, path in supplied.items():
        supply_artifact(name, solution.data.get("artifacts", {}), path, manifest_path=solution.manifest_path)


def untrusted_install(plan: Plan, origin: str | Path | None = None) -> tuple[list[str], dict]:
    """What a package not trusted installs: its requirement lines and its lock's ``hashes``, after
    checking each requirement: by name from the index, pinned by its lock, with a recorded sha256
    (ReefError naming it and ``--trust`` otherwise).

    Its lock is read from the imported package (never from the machine it came from), and the
    installer then checks every file it installs, dependencies included, against these hashes.
    """
    lock = read_lock(plan.solution) or {}
    hashes = lock.get("hashes") if isinstance(lock.get("hashes"), dict) else {}
    return untrusted_pins(plan.installs, hashes, _declared_at(plan, origin)), hashes


def _declared_at(plan: Plan, origin: str | Path | None = None) -> Callable[[str], str]:
    """``text`` -> ``MANIFEST: /JSON/pointer`` of the declaration a (pinned) requirement came from
    (``ORIGIN: solution.json: /JSON/pointer`` when the solution came from a package or registry ``origin``)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    def name(text: str) -> str:
        try:
            return canonicalize_name(Requirement(text).name)
        except InvalidRequirement:
            return text

    manifest = (
        f"{origin}: {MANIFEST_NAME}" if origin is not None else (plan.solution.manifest_path or plan.solution.path)
    )
    data = plan.solution.data
    places = [
        (
            f"/environments/{plan.environment}/packages",
            data.get("environments", {}).get(plan.environment or "", {}).get("packages", []),
        ),
        ("/requires/packages", data.get("requires", {}).get("packages", [])),
    ]

    def where(text: str) -> str:
        for pointer, texts in places:
            for index, declared in enumerate(texts):
                if declared == text or name(declared) == name(text):
                    return f"{manifest}: {pointer}/{index}"
        return str(manifest)

    return where


def install_recorded(plan: Plan, lock: dict, pip_options: list[str] | None = None) -> Environment:
    """Make the plan's new environment the one ``lock`` recorded (``reef reproduce --env new``).

    A lock made in a reef environment (``environment.kind`` "env") recorded the solution's own environment:
    every distribution of it is installed, each at its locked version and without its dependencies
    (``--no-deps``: the lock holds them, so nothing floats), hash-checked (``--require-hashes``) when
    the lock has its sha256. A lock of the author's own interpreter (``reef init --native``, or made from
    a run) records everything installed there: only what its ``hashes`` cover (the declared packages and
    their dependencies, as resolved when it was made) is installed that way. Declared packages left
    (a direct reference, or a lock without hashes) and ipykernel install at their locked versions with
    every locked version as a constraint. reefnb is left out: the kernel part comes from this reef.
    The interpreter is one of the lock's Python version when this machine has one.

    Raises
    ------
    ReefError
        Naming ``reef.lock.json: /packages/NAME`` when a locked name or version is not one, or a locked
        distribution cannot be installed here (a wheel for another platform or Python); nothing is left.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    where = plan.solution.path / LOCK_NAME
    locked = locked_distributions(lock, where)
    hashes = _lock_hashes(lock)
    direct = {
        canonicalize_name(Requirement(text).name) for text in plan.requires.get("packages", []) if Requirement(text).url
    }
    whole = (lock.get("environment") or {}).get("kind") == "env"
    exact = {
        name: version
        for name, version in locked.items()
        if name not in direct and (whole or hash_key(name, version) in hashes)
    }
    hashed = {
        hash_key(name, version): hashes[hash_key(name, version)]
        for name, version in exact.items()
        if hash_key(name, version) in hashes
    }
    plain = [f"{name}=={version}" for name, version in exact.items() if hash_key(name, version) not in hashed]
    rest = [text for text in plan.installs if canonicalize_name(Requirement(text).name) not in exact]
    base = _recorded_python(lock) or plan.base_python
    log.info(
        "%s: installing the %d distributions of its lock (%d hash-checked), then %s",
        plan.solution.name,
        len(exact),
        len(hashed),
        rest or "nothing else",
    )
    with tempfile.TemporaryDirectory(prefix="reef-lock-") as scratch:
        constraints = Path(scratch) / "locked.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in locked.items()), encoding="utf-8")
        environment = create_environment(
            plan.environment, rest, python=base, pip_options=[*(pip_options or []), "-c", str(constraints)]
        )
    try:
        exactly = [*(pip_options or []), "--no-deps"]
        install_packages(environment.python, list(hashed), exactly, hashes=hashed)
        install_packages(environment.python, plain, exactly)
    except EnvError as error:
        remove_environment(environment.name)
        raise _not_installable(error, exact, where, lock) from None
    return environment


_DISTRIBUTION_NAME = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")


def locked_distributions(lock: dict, where: str | Path) -> dict[str, str]:
    """A lock's ``packages`` as ``{canonical name: version}``, without reefnb (its kernel part comes from this
    reef); ReefError naming ``where: /packages/NAME`` for a name or version no installer may read."""
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    packages = lock.get("packages")
    if not isinstance(packages, dict):
        raise ReefError(f"{where}: /packages: not an object of package versions")
    found = {}
    for name, version in packages.items():
        canonical = canonicalize_name(str(name))
        if not _DISTRIBUTION_NAME.fullmatch(canonical):
            raise ReefError(f"{where}: /packages/{pointer_token(name)}: {str(name)[:80]!r} is not a distribution name")
        try:
            Version(version if isinstance(version, str) else "")
        except InvalidVersion:
            raise ReefError(
                f"{where}: /packages/{pointer_token(name)}: {str(version)[:80]!r} is not a version"
            ) from None
        if canonical != "reefnb":
            found[canonical] = version.strip()
    return found


def _lock_hashes(lock: dict) -> dict:
    hashes = lock.get("hashes")
    return hashes if isinstance(hashes, dict) else {}


def _recorded_python(lock: dict) -> str | None:
    """An interpreter of the lock's Python version (major.minor)
    on this machine; None when it names none or there is none."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?\S*", str((lock.get("python") or {}).get("version") or ""))
    if match is None:
        return None
    found = _interpreter_for(f"=={match.group(1)}.{match.group(2)}.*")
    if found is None:
        log.warning(
            "no Python %s.%s here, which the lock recorded: the environment gets Python %s",
            match.group(1),
            match.group(2),
            platform.python_version(),
        )
    return found


def _not_installable(error: EnvError, exact: dict[str, str], where: Path, lock: dict) -> EnvFailed:
    """The installer's failure as one line naming the locked
    distribution it could not install, and where the lock was made."""
    failed = re.search(r"failed \(exit -?\d+\): (.*)", str(error))
    reason = failed.group(1) if failed else str(error)
    recorded = lock.get("platform") or {}
    made = (
        " ".join(str(recorded.get(key)) for key in ("system", "machine") if recorded.get(key)) or "an unknown platform"
    )
    here = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    context = f"here ({here}; the lock was made on {made}, Python {(lock.get('python') or {}).get('version', '?')})"
    lowered = reason.lower()
    for name, version in exact.items():
        if re.search(rf"(?<![a-z0-9._-]){re.escape(name)}(?![a-z0-9_-]|\.[a-z0-9])", lowered):
            return EnvFailed(
                f"{where}: /packages/{pointer_token(name)}: {name}=={version} cannot be installed {context}: "
                f"{reason[:400]}"
            )
    return EnvFailed(f"{where}: /packages: the locked distributions cannot be installed {context}: {reason[:400]}")


def read_lock(solution: Solution) -> dict | None:
    """The solution's ``reef.lock.json``, or None when it has not been initialised."""
    path = solution.path / LOCK_NAME
    if not path.is_file():
        return None
    return read_json(path, expect=dict)


def write_lock(path: Path, lock: dict) -> None:
    """Write atomically; an unchanged lock (ignoring its timestamp) is left as it is."""
    old = None
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
    if old is not None and {**old, "created": None} == {**lock, "created": None}:
        return

    write_json_object(path, lock)


def _default_env_name(solution: Solution) -> str:
    return solution.name.lower()[:64]


def _facts(python: str, fresh: bool) -> Facts:
    fingerprint = detection.detect(["cpu", "memory", "gpu"])
    if fresh:  # an environment still to be made from ``python``: no packages yet
        packages: dict[str, str] = {}
        version = detection.python_version(python)
    else:
        packages = detection.environment_packages(python)
        version = detection.python_version(python)
    from packaging.utils import canonicalize_name

    cpu, memory = fingerprint.get("cpu", {}), fingerprint.get("memory", {})
    return Facts(
        python_version=version,
        packages={canonicalize_name(name): value for name, value in packages.items()},
        find_tool=find_tool,
        memory_bytes=memory.get("total_bytes"),
        cpu_cores=cpu.get("logical_cores") or os.cpu_count(),
        cpu_flags=frozenset(flag.lower() for flag in cpu.get("flags", [])),
        gpus=tuple(fingerprint.get("gpu", [])),
    )


def _artifact_plan(solution: Solution, offline: bool, wanted: set[str]) -> list[dict]:
    specs = solution.data.get("artifacts", {})
    plan = []
    for name, spec in specs.items():
        status = artifact_status(
            name, specs, offline=offline, manifest_path=solution.manifest_path
        )  # a relative file: URL as fetching reads it
        if spec.get("on_demand") and name not in wanted and status["status"] != "cached":
            size = f" ({format_size(spec['size'])})" if "size" in spec else ""
            status = {
                "name": name,
                "status": ON_DEMAND,
                "detail": f"fetched by the first run that needs it{size}, or: reef init --artifact {name}",
            }
        plan.append(status)
    return plan


def _fetch_artifacts(plan: Plan, offline: bool, progress) -> dict[str, dict]:
    specs = plan.solution.data.get("artifacts", {})
    later = {artifact["name"] for artifact in plan.artifacts if artifact["status"] == ON_DEMAND}
    fetched = {}
    for name in specs:
        if name in later:
            continue
        reporter = (lambda done, total, _name=name: progress(_name, done, total)) if progress else None
        result = fetch_artifact(
            name, specs, progress=reporter, offline=offline, manifest_path=plan.solution.manifest_path
        )
        fetched[name] = {
            "sha256": result.sha256,
            "size": result.size,
            "source": result.source,
            "path": str(result.path),
            "url": result.url,
        }
    return fetched


def _lock(
    plan: Plan, environment, artifacts: dict, hashes: dict | None = None, pip_options: list[str] | None = None
) -> dict:
    python = environment.python if environment is not None else sys.executable
    packages = detection.environment_packages(python, refresh=True)
    if hashes is None:
        hashes = _hashes(plan, python, packages, pip_options)
    return {
        "lock_version": LOCK_VERSION,
        "solution": {"name": plan.solution.name, "version": plan.solution.version},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "reefnb_version": __version__,
        "platform": {"system": platform.system(), "machine": platform.machine(), "release": platform.release()},
        "python": {"version": detection.python_version(python), "executable": python},
        "environment": {
            "kind": plan.target,
            "name": plan.environment,
            "path": environment.path if environment is not None else sys.prefix,
            "kernel": environment.kernel if environment is not None else None,
        },
        "requirements": [check.as_dict() for check in plan.checks if check.kind != "package"]
        + [{"kind": "package", "name": name, "found": packages.get(name)} for name in sorted(_requested(plan))],
        "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())),
        "hashes": hashes,
        "artifacts": artifacts,
    }


def _hashes(plan: Plan, python: str, packages: dict[str, str], pip_options: list[str] | None) -> dict:
    """The sha256 of the requested packages' distributions and their dependencies (``envs.locked_hashes``),
    so that a package made from this solution installs elsewhere only those bytes; empty when the
    index cannot say (a warning: such a package then needs --trust)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    versions = {canonicalize_name(name): version for name, version in packages.items()}
    by_name = [Requirement(text) for text in plan.requires.get("packages", [])]
    requested = {
        canonicalize_name(item.name): versions[canonicalize_name(item.name)]
        for item in by_name
        if not item.url and canonicalize_name(item.name) in versions
    }
    try:
        return locked_hashes(python, requested, packages, pip_options)
    except EnvError as error:
        log.warning(
            "%s: no hashes in the lock (%s); a package of it will need --trust to install", plan.solution.name, error
        )
        return {}


def _requested(plan: Plan) -> set[str]:
    from packaging.requirements import Requirement

    return {Requirement(text).name for text in plan.requires.get("packages", [])}


def _remember(solution: Solution, environment) -> None:
    remember_solution(solution, environment.name if environment is not None else None)
