"""Confinement: every path a manifest names stays inside its solution folder, symbolic links followed.

A manifest comes from anyone (a package, a registry): its workflow notebooks, its dashboard's reference
CSV and its relative ``file:`` URLs are read by reef, so each must lead to a file of the solution, never
to ``../x``, an absolute path or a link out of the folder. Messages say which path, never what it holds.
"""

from __future__ import annotations

from pathlib import Path

from reefnb.common.exceptions import PathOutside


def resolve_inside(folder: Path | str, name: Path | str) -> Path:
    """Where ``name`` (relative to ``folder``) leads, every symbolic link followed.

    Raises PathOutside when that is not inside ``folder`` (a ``..``, an absolute path, a link out) or
    when the name cannot be resolved (NUL bytes, too long, a link loop): nothing outside is ever read.
    """
    try:
        root = Path(folder).resolve()
        path = _resolved(root / name)
    except (OSError, ValueError, RuntimeError) as error:  # RuntimeError: a symbolic link loop (Python < 3.13)
        raise PathOutside(f"not a usable file name ({type(error).__name__})") from None
    if not path.is_relative_to(root):
        raise PathOutside()
    return path


def _resolved(path: Path) -> Path:
    """``path`` with every link followed; a link loop raises on every Python.

    A lax ``resolve()`` gives a loop back unresolved from Python 3.13 on (before, RuntimeError), so the
    strict one goes first and the lax one only finishes a name that does not exist (yet).
    """
    try:
        return path.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        return path.resolve()


def is_inside(folder: Path | str, name: Path | str) -> bool:
    """Whether ``name`` (relative to ``folder``, or absolute) leads inside ``folder``; see ``resolve_inside``."""
    try:
        resolve_inside(folder, name)
    except PathOutside:
        return False
    return True
