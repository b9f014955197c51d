"""What runs inside a kernel: ``reefnb.record``/``attach``/``run_folder`` and the MLPerf LoadGen harness.
Imports nothing else of reefnb.

It also says what a kernel environment reef creates holds of reefnb (its *kernel part*): the
environments get these modules copied, not reefnb with its dependencies (``provision.envs.install_reefnb``).
They need only the standard library and what ipykernel brings (IPython, ``packaging``).
"""

# The modules a kernel environment gets: the kernel package, the LoadGen alias, and fetch_artifact with what it
# imports. tests/test_architecture.py checks that this is exactly what those entry points import (function-local
# imports included), so that the list cannot drift from the code.
KERNEL_PART = (
    "reefnb",
    "reefnb.bench",
    "reefnb.kernel",
    "reefnb.kernel.bench",
    "reefnb.kernel.recording",
    "reefnb.common",
    "reefnb.common.archives",
    "reefnb.common.exceptions",
    "reefnb.common.files",
    "reefnb.common.json_input",
    "reefnb.common.paths",
    "reefnb.common.plugins",
    "reefnb.common.units",
    "reefnb.common.version",
    "reefnb.solution",
    "reefnb.solution.checks",
    "reefnb.solution.confinement",
    "reefnb.provision",
    "reefnb.provision.artifacts",
)

# The names of reefnb's API that a kernel environment has: those whose module is in KERNEL_PART (checked by
# tests/test_architecture.py). Solution notebooks may call these; `reef validate` refuses a workflow notebook
# that calls another (reefnb.solution.checks.kernel_call_problems).
KERNEL_API = (
    "__version__",
    "record",
    "RECORD_MIME",
    "attach",
    "run_folder",
    "fetch_artifact",
    "reef_home",
    "ReefError",
    "ManifestError",
    "ParameterError",
    "StoreError",
    "RunFailed",
    "PackageError",
    "RegistryError",
    "WrongInput",
    "Failure",
    "EnvironmentFailure",
    "NetworkFailure",
    "StoreFailure",
)
