"""Signatures: cheap stamps of what a detector reads (a file, a folder, the PATH, an environment's site folders).

A detector's ``signature`` is made of these; its cached result holds while the stamps stay the same.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reefnb.provision.detection.base import DetectContext


def file_stamp(path: str) -> list | None:
    """[real path, mtime, size] of a file (links followed), or None when it is missing."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [os.path.realpath(path), status.st_mtime_ns, status.st_size]


def folder_stamp(folder: str) -> list:
    """[folder, mtime, number of entries]: adding, removing or renaming an entry changes it."""
    try:
        return [folder, os.stat(folder).st_mtime_ns, len(os.listdir(folder))]
    except OSError:
        return [folder, None, None]


def environment_signature(context: DetectContext) -> Any:
    facts = context.facts()
    return {"interpreter": facts["stamp"], "folders": [folder_stamp(folder) for folder in facts["site_folders"]]}


def path_folders() -> list[str]:
    return list(dict.fromkeys(folder for folder in os.environ.get("PATH", "").split(os.pathsep) if folder))
