"""Tests never write outside their temporary folders (issue 15, case 8): the suite's home, Jupyter's
data/runtime/config folders, IPython's folder and REEF_HOME are temporary; kernels reef registers land
there, and the interpreter's own python3 kernel is still found."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from helpers.home import REAL_HOME, REAL_KERNELS, kernelspecs
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core import paths

from reefnb.provision.envs import Environment, kernel_name, register_kernel


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def test_home_jupyter_ipython_and_reef_home_are_temporary(tmp_path):
    temporary = Path(os.environ["HOME"]).parent
    assert not _inside(temporary, REAL_HOME) and Path.home() != REAL_HOME
    for name in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR"):
        assert _inside(os.environ[name], temporary), name
    assert _inside(os.environ["REEF_HOME"], tmp_path)  # per test, over the session's
    for folder in (paths.jupyter_data_dir(), paths.jupyter_runtime_dir(), paths.jupyter_config_dir()):
        assert not _inside(folder, REAL_HOME), folder


def test_a_registered_kernel_lands_in_the_temporary_data_folder_and_python3_is_still_found(tmp_path):
    before = kernelspecs(REAL_KERNELS)
    environment = Environment(
        name="isolation-probe", path=sys.prefix, python=sys.executable, kernel=kernel_name("isolation-probe")
    )
    folder = register_kernel(environment)
    assert _inside(folder, Path(paths.jupyter_data_dir())) and not _inside(folder, REAL_HOME)
    specs = KernelSpecManager().find_kernel_specs()
    assert specs[environment.kernel] == folder
    assert "python3" in specs and not _inside(specs["python3"], REAL_HOME)
    assert kernelspecs(REAL_KERNELS) == before
