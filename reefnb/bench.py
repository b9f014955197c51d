"""``reefnb.bench`` as notebooks written before reefnb's subpackages import it; the LoadGen harness
lives in :mod:`reefnb.kernel.bench`."""

from reefnb.kernel.bench import (
    MODES,
    SCENARIOS,
    LoadGenError,
    LoadGenResult,
    read_accuracy_log,
    read_result,
    run_loadgen,
)

__all__ = ["MODES", "SCENARIOS", "LoadGenError", "LoadGenResult", "read_accuracy_log", "read_result", "run_loadgen"]
