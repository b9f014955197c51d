"""Which installed distributions provide an importable top-level name, the same answer on every Python.

``importlib.metadata.packages_distributions()`` answers differently by Python version: 3.10 reads
only each distribution's ``top_level.txt``, which wheels built by meson-python (numpy), hatchling or
flit do not ship, so ``numpy`` maps to nothing there; 3.11 infers names from ``RECORD`` for ``.py``
files only, 3.12 and 3.13 from every file. This module takes the names ``top_level.txt`` declares
plus those ``RECORD`` lists (a top-level folder, or a top-level module file: ``.py``, ``.pyc`` or an
extension module), read by this module with one rule on every Python.

The mapping is asked of the environment a notebook runs in, which need not have reefnb installed:
this file uses the standard library only (Python 3.8 or later), so another interpreter runs it as
a script, ``python distributions.py [SITE_FOLDER ...]``, printing the mapping as JSON
(``reefnb.provision.detection.environment_modules`` does this for an environment).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import PurePosixPath

try:
    from importlib import metadata
except ImportError:  # Python 3.7 and older: the backport, when installed
    import importlib_metadata as metadata  # type: ignore[no-redef]

# A top-level file with one of these last suffixes is an importable module (foo.py,
# foo.cpython-313-x86_64-linux-gnu.so).
MODULE_SUFFIXES = ("py", "pyc", "so", "pyd")


def top_level_names(distribution: metadata.Distribution) -> list[str]:
    """The importable top-level names a distribution provides: declared in top_level.txt or seen in RECORD.

    RECORD is read as written: ``Distribution.files`` drops the files missing on disk on 3.12 and later only.
    """
    names = set((distribution.read_text("top_level.txt") or "").split())
    for row in csv.reader((distribution.read_text("RECORD") or "").splitlines()):
        parts = PurePosixPath(row[0]).parts if row else ()
        if len(parts) > 1:
            names.add(parts[0])
        elif parts:
            stem, _, suffixes = parts[0].partition(".")
            if suffixes.rsplit(".", 1)[-1] in MODULE_SUFFIXES:
                names.add(stem)
    return sorted(name for name in names if name.isidentifier() and name != "__pycache__")


def packages_distributions(path: list[str] | None = None) -> dict[str, list[str]]:
    """``{top-level import name: [distribution names]}`` of the distributions on ``path`` (default sys.path).

    A distribution found twice on the path counts once, as the first one found (the one Python imports).
    """
    mapping: dict[str, set[str]] = {}
    seen = set()
    for distribution in metadata.distributions(path=sys.path if path is None else list(path)):
        name = distribution.metadata["Name"]
        key = re.sub(r"[-_.]+", "-", name or "").lower()
        if not name or key in seen:
            continue
        seen.add(key)
        for module in top_level_names(distribution):
            mapping.setdefault(module, set()).add(name)
    return {module: sorted(names) for module, names in sorted(mapping.items())}


def main(arguments: list[str]) -> None:
    """Print the mapping of the site folders given (default: this interpreter's sys.path) as JSON."""
    print(json.dumps(packages_distributions(arguments or None)))


if __name__ == "__main__":
    main(sys.argv[1:])
