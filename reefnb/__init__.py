"""reefnb: reproducible, parameterised notebook experiments.

``import reefnb`` is cheap: the public API is imported on first use, so a kernel that only calls
``reefnb.record`` needs nothing but IPython.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from reefnb.common.version import __version__

_API = {
    "record": "kernel.recording",
    "RECORD_MIME": "kernel.recording",
    "attach": "kernel.recording",
    "run_folder": "kernel.recording",
    "load_solution": "solution.manifest",
    "open_solution": "solution.manifest",
    "solution_from_notebook": "solution.manifest",
    "validate_manifest": "solution.manifest",
    "schema": "solution.manifest",
    "Solution": "solution.manifest",
    "Workflow": "solution.manifest",
    "run": "runs.execute",
    "resume": "runs.execute",
    "sweep": "runs.sweeps",
    "RunSpec": "runs.spec",
    "SweepSpec": "runs.spec",
    "SweepExecution": "runs.spec",
    "results": "analysis.frame",
    "records_to_frame": "analysis.frame",
    "Store": "runs.store",
    "default_store": "runs.store",
    "reef_home": "common.paths",
    "detect": "provision.detection",
    "Detector": "provision.detection",
    "init": "sharing.sources",
    "plan_init": "provision.install",
    "create_environment": "provision.envs",
    "list_environments": "provision.envs",
    "remove_environment": "provision.envs",
    "fetch_artifact": "provision.artifacts",
    "export_package": "sharing.package",
    "import_package": "sharing.package",
    "PackageError": "common.exceptions",
    "reproduce_solution": "analysis.reproduce",
    "publish": "sharing.registry",
    "pull": "sharing.registry",
    "search": "sharing.registry",
    "push_results": "sharing.registry",
    "pull_results": "sharing.registry",
    "RegistryError": "common.exceptions",
    "pareto_front": "analysis.pareto",
    "pareto_layers": "analysis.pareto",
    "dominators": "analysis.pareto",
    "explore": "frontends.widgets",
    "ReefError": "common.exceptions",
    "ManifestError": "common.exceptions",
    "ParameterError": "common.exceptions",
    "StoreError": "common.exceptions",
    "RunFailed": "common.exceptions",
    "WrongInput": "common.exceptions",
    "Failure": "common.exceptions",
    "EnvironmentFailure": "common.exceptions",
    "NetworkFailure": "common.exceptions",
    "StoreFailure": "common.exceptions",
    "use": "actions.api",
    "Actions": "actions.api",
}

__all__ = ["__version__", *_API]  # _API is the one list of the public API: name -> the module that defines it


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext reefnb``: register the ``%reef`` magic (see ``reefnb.frontends.magics``)."""
    from reefnb.frontends.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext reefnb``: remove the ``%reef`` magic."""
    from reefnb.frontends.magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict]:
    """JupyterLab: the prebuilt Reef sidebar (built from ``extension/`` into ``reefnb/labextension``)."""
    return [{"src": "labextension", "dest": "reefnb"}]


def _jupyter_server_extension_points() -> list[dict]:
    """jupyter_server: the REST endpoints the sidebar calls (``reefnb.frontends.server``)."""
    return [{"module": "reefnb.frontends.server"}]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'reefnb' has no attribute {name!r}")
    try:
        value = getattr(import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(f"{__name__}."):
            raise
        # An environment reef created holds only reefnb's kernel part (reefnb.kernel.KERNEL_PART,
        # provision.envs.install_reefnb).
        raise ImportError(
            f"reefnb.{name} is not in this environment: the kernel environments reef creates carry only reefnb's "
            "kernel part (record, attach, run_folder, fetch_artifact, the LoadGen harness reefnb.kernel.bench and "
            f"reef's exceptions); call reefnb.{name} from reef's own python"
        ) from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
