"""The build backend (pyproject: hatchling + hatch-jupyter-builder): a wheel built from a clean checkout
builds the Reef sidebar from extension/ and ships it, with the server extension's config; a checkout that
cannot build the sidebar gives no wheel rather than one without it. No network: the checkout's installed
extension/node_modules is reused (hard links) and npm runs offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.solutions import REPO

NODE_MODULES = REPO / "extension" / "node_modules"
LABEXTENSIONS = "data/share/jupyter/labextensions/reefnb/"
SERVER_CONFIG = "data/etc/jupyter/jupyter_server_config.d/reefnb.json"
SIDEBAR = ("package.json", "install.json", "static/style.js")


def checkout_files() -> list[str]:
    """The files a commit of this working tree holds: tracked or new, not ignored, not deleted."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return sorted(name for name in set(listing.stdout.decode().split("\0")) if name and (REPO / name).is_file())


def clean_checkout(target: Path) -> Path:
    """A copy of the working tree as a fresh clone has it: no reefnb/labextension, no extension/lib."""
    for name in checkout_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    return target


def link_or_copy(source: str, destination: str) -> None:
    """Hard-link a file of node_modules (29,000 files: a copy would take long), copying npm's own lockfile,
    which npm rewrites in place and the Makefile uses as the stamp of node_modules."""
    if os.path.basename(source) != ".package-lock.json":
        try:
            os.link(source, destination)
            return
        except OSError:  # another file system
            pass
    shutil.copy2(source, destination)


def build_wheel(tree: Path, folder: Path, path: str) -> subprocess.CompletedProcess:
    """``pip wheel`` of ``tree`` with the build tools of this environment (the test extra) and npm offline."""
    environment = {
        **os.environ,
        "PATH": path,
        "npm_config_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
    }
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-build-isolation",
        "--no-deps",
        "--no-index",
        "--wheel-dir",
        str(folder),
        str(tree),
    ]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


def test_wheel_from_a_clean_checkout_builds_and_ships_the_sidebar(tmp_path):
    if not (NODE_MODULES / ".package-lock.json").is_file() or shutil.which("npm") is None:
        pytest.skip("needs npm and extension/node_modules (make setup installs them; npm ci needs the network)")
    tree = clean_checkout(tmp_path / "checkout")
    shutil.copytree(NODE_MODULES, tree / "extension" / "node_modules", symlinks=True, copy_function=link_or_copy)
    path = (
        f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # jupyter-builder, which `npm run build` calls
    )

    built = build_wheel(tree, tmp_path / "dist", path)

    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "dist").glob("reefnb-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        data = next(name.split("/")[0] for name in members if name.endswith(".data/" + SERVER_CONFIG))
        package_json = json.loads(archive.read("reefnb/labextension/package.json"))
        install_json = json.loads(archive.read("reefnb/labextension/install.json"))
    shipped = {name.removeprefix("reefnb/labextension/") for name in members if name.startswith("reefnb/labextension/")}
    shared = {
        name.removeprefix(f"{data}/{LABEXTENSIONS}") for name in members if name.startswith(f"{data}/{LABEXTENSIONS}")
    }
    assert set(SIDEBAR) <= shipped and any(name.startswith("static/remoteEntry.") for name in shipped)
    assert shared == shipped, "share/jupyter/labextensions/reefnb holds what reefnb/labextension holds"
    assert package_json["name"] == "reefnb" and "_build" in package_json["jupyterlab"]
    assert install_json["packageName"] == "reefnb"
    package_files = {name for name in checkout_files() if name.startswith("reefnb/")}
    assert package_files <= members, f"missing from the wheel: {sorted(package_files - members)}"
    assert any(name.startswith("reefnb/schemas/") for name in package_files)
    assert not [
        name for name in members if name.startswith(("extension/", "tests/", "solutions/")) or "node_modules" in name
    ]


def test_no_wheel_without_the_sidebar(tmp_path):
    """Without npm a standard build cannot make the sidebar, and fails instead of shipping a wheel without it."""
    path = str(Path(sys.executable).parent)
    if shutil.which("npm", path=path) is not None:
        pytest.skip(f"npm is in {path}: no PATH without it to test with")
    tree = clean_checkout(tmp_path / "checkout")

    built = build_wheel(tree, tmp_path / "dist", path)

    assert built.returncode != 0
    assert "npm" in built.stdout + built.stderr
    assert not list((tmp_path / "dist").glob("*.whl"))
