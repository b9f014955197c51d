"""What ``reef init``, ``reef reproduce`` and ``reefnb.use`` start from: a solution folder, a package
(``NAME.reef.zip``) or a registry component (``NAME[@RANGE]``). Packages and components are imported
into ``solutions_home()`` first; their code is not the user's own, so their installs stay pinned to
their lock until ``--trust``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from reefnb.common.paths import solutions_home
from reefnb.provision.initialised import package_origin, record_trust, untrusted_origin
from reefnb.provision.install import InitOptions, finish_init, install_requirements, read_lock, replace_environment
from reefnb.sharing.package import discard_dry_run, dry_run_import, import_once, is_package
from reefnb.sharing.registry import is_spec, pull
from reefnb.solution.manifest import Solution, load_solution

log = logging.getLogger(__name__)


def init(
    source: str | Path | Solution,
    environment: str | None = None,
    native: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    offline: bool = False,
    pip_options: list[str] | None = None,
    on_plan: Callable | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    pinned: dict[str, str] | None = None,
    replace: bool = False,
    artifacts: list[str] | tuple[str, ...] = (),
    trust: bool = False,
    whole_lock: bool = False,
) -> dict:
    """Make a solution runnable here and return its lock (as written to ``reef.lock.json``).

    Prints nothing: ``on_plan`` receives the plan before anything changes. A package or a registry
    component is pinned to its own lock, and its code generates artifacts only with ``trust``.
    Without ``trust`` such a source installs only what its lock pins and hashes (see ``untrusted_install``).

    Parameters
    ----------
    source
        The solution, its folder or manifest; also a ``.reef.zip`` package or ``NAME[@RANGE]`` from a
        registry (see ``open_init_source``), imported first.
    environment
        The environment to make or update (default: one named after the solution).
    native
        Install into this python instead of an environment.
    yes
        Allow ``native`` to replace installed packages.
    dry_run
        The plan is all that happens.
    offline
        Fetch no artifact over http(s).
    pip_options
        Options for the installer (e.g. ``["--find-links", DIR, "--no-index"]``).
    on_plan
        Receives the ``Plan`` before anything changes.
    progress
        Called as ``progress(artifact_name, bytes_done, bytes_total_or_None)`` while artifacts download.
    pinned
        Exact versions for the declared packages (see ``plan_init``).
    replace
        Make the environment afresh even when it exists.
    artifacts
        On-demand artifacts to fetch now too (``NAME=PATH`` entries supply a file).
    trust
        Trust a package's or registry component's own code: its artifact generators run and its requirements
        install as declared (not only what its lock pins and hashes).
    whole_lock
        A new environment gets every distribution the solution's ``reef.lock.json`` recorded, each at its
        locked version, hash-checked where the lock has hashes (see ``install_recorded``): the environment
        ``reef reproduce --env new`` runs in.

    Returns
    -------
    dict
        The lock, as written to ``reef.lock.json`` in the solution folder; empty with ``dry_run``.

    Raises
    ------
    InitError
        (exit 1) When a requirement cannot be met here, or when ``native`` would replace installed
        packages and ``yes`` was not given.
    ReefError
        When a source not trusted would run its own code or install what its lock does not pin and
        hash, or a ``supplied`` artifact is not given.
    """
    options = InitOptions(
        environment=environment,
        native=native,
        yes=yes,
        dry_run=dry_run,
        offline=offline,
        pip_options=pip_options,
        on_plan=on_plan,
        progress=progress,
        pinned=pinned,
        replace=replace,
        artifacts=artifacts,
        trust=trust,
        whole_lock=whole_lock,
    )
    replace_environment(options)
    imported_before = _imported_folders()
    opened, locked, foreign = open_init_source(source, dry_run=dry_run)
    try:
        installed = install_requirements(opened, options, locked=locked, foreign=foreign, origin=source)
    except BaseException:
        _forget_new_imports(imported_before)
        raise
    finally:
        if dry_run and foreign:
            discard_dry_run(Path(opened))
    if installed is None:
        return {}
    lock = finish_init(installed, options)
    if trust and not isinstance(opened, Solution):
        record_trust(opened)  # the decision, once: run, sweep, serve... then take this folder without --trust
    return lock


def open_init_source(
    source: str | Path | Solution, dry_run: bool = False
) -> tuple[str | Path | Solution, dict | None, bool]:
    """What ``reef init SOURCE`` works on: the solution (a package or a registry component imported
    first, see ``resolve_source``), the package versions its own lock pins, and whether its code is not
    trusted: it was made from a package (a package, a registry component, or a folder imported from one
    before, ``package_origin``) and no trust in it was recorded (``reef init FOLDER --trust``)."""
    if isinstance(source, Solution):
        return source, None, False
    if is_package(source) or is_spec(str(source)):
        folder = resolve_source(source, dry_run=dry_run)
    elif package_origin(source) is not None:  # a package's folder, imported before: not the user's own
        folder = source
    else:
        return source, None, False
    return folder, (read_lock(load_solution(folder)) or {}).get("packages"), untrusted_origin(folder) is not None


def _imported_folders() -> set[Path]:
    home = solutions_home()
    return set(home.iterdir()) if home.is_dir() else set()


def _forget_new_imports(before: set[Path]) -> None:
    """Remove the folders this call imported into ``solutions_home()`` (an init that failed leaves none)."""

    for folder in _imported_folders() - before:
        log.info("removing %s: the init that imported it failed", folder)
        shutil.rmtree(folder, ignore_errors=True)


def resolve_source(source: str | Path, dry_run: bool = False) -> Path:
    """A solution folder (or manifest) for ``source``. A package is verified and imported into
    ``solutions_home()/NAME-VERSION`` once: the same package again reuses that folder, another
    package of the same name and version is refused. With ``dry_run`` it goes to a temporary folder.
    ``NAME``, ``NAME@VERSION`` or ``NAME@RANGE`` (not an existing path) is pulled from the registries."""
    if isinstance(source, str) and is_spec(source):
        if dry_run:  # the requested one into a temporary folder, its dependencies resolved but not fetched
            return dry_run_import(lambda target: Path(pull(source, target=target, dependencies=False)["folder"]))
        return Path(pull(source)["folder"])
    source = Path(source)
    return import_once(source, dry_run=dry_run) if is_package(source) else source
