"""reefnb: reproducible, parameterised notebook experiments.

``import reefnb`` is cheap: the public API is imported on first use, so a kernel that only calls
``reefnb.record`` needs nothing but IPython.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "record": "recording",
    "RECORD_MIME": "recording",
    "attach": "recording",
    "run_folder": "recording",
    "load_solution": "manifest",
    "open_solution": "manifest",
    "solution_from_notebook": "manifest",
    "validate_manifest": "manifest",
    "schema": "manifest",
    "Solution": "manifest",
    "Workflow": "manifest",
    "run": "execute",
    "resume": "execute",
    "sweep": "sweeps",
    "results": "frame",
    "records_to_frame": "frame",
    "Store": "store",
    "default_store": "store",
    "reef_home": "store",
    "detect": "detection",
    "Detector": "detection",
    "init": "install",
    "plan_init": "install",
    "create_environment": "envs",
    "list_environments": "envs",
    "remove_environment": "envs",
    "fetch_artifact": "artifacts",
    "export_package": "package",
    "import_package": "package",
    "PackageError": "package",
    "reproduce_solution": "reproduce",
    "publish": "registry",
    "pull": "registry",
    "search": "registry",
    "push_results": "registry",
    "pull_results": "registry",
    "RegistryError": "registry",
    "pareto_front": "pareto",
    "pareto_layers": "pareto",
    "dominators": "pareto",
    "explore": "widgets",
    "ReefError": "exceptions",
    "ManifestError": "exceptions",
    "ParameterError": "exceptions",
    "StoreError": "exceptions",
    "RunFailed": "exceptions",
    "use": "actions",
    "Actions": "actions",
}

__all__ = [
    "__version__",
    "record",
    "RECORD_MIME",
    "attach",
    "run_folder",
    "load_solution",
    "open_solution",
    "solution_from_notebook",
    "validate_manifest",
    "schema",
    "Solution",
    "Workflow",
    "run",
    "resume",
    "sweep",
    "results",
    "records_to_frame",
    "Store",
    "default_store",
    "reef_home",
    "detect",
    "Detector",
    "init",
    "plan_init",
    "create_environment",
    "list_environments",
    "remove_environment",
    "fetch_artifact",
    "export_package",
    "import_package",
    "PackageError",
    "reproduce_solution",
    "publish",
    "pull",
    "search",
    "push_results",
    "pull_results",
    "RegistryError",
    "pareto_front",
    "pareto_layers",
    "dominators",
    "explore",
    "ReefError",
    "ManifestError",
    "ParameterError",
    "StoreError",
    "RunFailed",
    "use",
    "Actions",
]

if TYPE_CHECKING:
    from .actions import Actions, use
    from .artifacts import fetch_artifact
    from .detection import Detector, detect
    from .envs import create_environment, list_environments, remove_environment
    from .exceptions import ManifestError, ParameterError, ReefError, RunFailed, StoreError
    from .execute import resume, run
    from .frame import records_to_frame, results
    from .install import init, plan_init
    from .manifest import Solution, Workflow, load_solution, open_solution, schema, solution_from_notebook, validate_manifest
    from .package import PackageError, export_package, import_package
    from .pareto import dominators, pareto_front, pareto_layers
    from .recording import RECORD_MIME, attach, record, run_folder
    from .registry import RegistryError, publish, pull, pull_results, push_results, search
    from .reproduce import reproduce_solution
    from .store import Store, default_store, reef_home
    from .sweeps import sweep
    from .widgets import explore


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext reefnb``: register the ``%reef`` magic (see ``reefnb.magics``)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext reefnb``: remove the ``%reef`` magic."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict]:
    """JupyterLab: the prebuilt Reef sidebar (built from ``extension/`` into ``reefnb/labextension``)."""
    return [{"src": "labextension", "dest": "reefnb"}]


def _jupyter_server_extension_points() -> list[dict]:
    """jupyter_server: the REST endpoints the sidebar calls (``reefnb.server``)."""
    return [{"module": "reefnb.server"}]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'reefnb' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
