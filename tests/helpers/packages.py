"""Packages (``.reef.zip``) written by hand, as an attacker would: any members, a SHA256SUMS that matches them."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path


def write_package(path: Path, members: dict[str, bytes]) -> Path:
    """A zip of ``members`` ({name: bytes}) and a SHA256SUMS listing every other member with its digest (one given
    among the members is replaced), written in the order of their names."""
    members = {name: data for name, data in members.items() if name != "SHA256SUMS"}
    members["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items())
    ).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in sorted(members.items()):
            archive.writestr(name, data)
    return path
