"""The user's real home, which the suite replaces by a temporary one and must leave unchanged."""

from __future__ import annotations

from pathlib import Path

REAL_HOME = Path.home()  # read when conftest imports this module, before pytest_configure moves HOME
REAL_KERNELS = REAL_HOME / ".local" / "share" / "jupyter" / "kernels"


def kernelspecs(folder: Path) -> dict[str, float]:
    """Every file under a kernels folder with its modification time: what a test must not change."""
    return (
        {str(path.relative_to(folder)): path.stat().st_mtime for path in folder.rglob("*") if path.is_file()}
        if folder.is_dir()
        else {}
    )
