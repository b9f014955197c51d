"""The columns of a results frame that are not declared by a manifest: the run's own fields and what
telemetry measures (``sys.*``). A manifest's dashboard may name them; the frame and telemetry use them."""

from __future__ import annotations

# The record's ``system`` values as results-frame columns (``sys.NAME``): unit and goal, so that they can be
# plotted with units and used as Pareto objectives like declared metrics.
SYSTEM_METRICS: dict[str, dict[str, str]] = {
    "peak_rss_mb": {"unit": "MB", "goal": "min", "description": "peak resident memory of the run's processes together"},
    "cpu_seconds": {"unit": "s", "goal": "min", "description": "CPU time (user + system) of the run's processes"},
    "cpu_percent_mean": {
        "unit": "%",
        "goal": "min",
        "description": "mean CPU utilisation of the run's processes (100 = one core)",
    },
    "read_mb": {"unit": "MB", "goal": "min", "description": "bytes the run's processes read from storage"},
    "write_mb": {"unit": "MB", "goal": "min", "description": "bytes the run's processes wrote to storage"},
    "energy_joules": {"unit": "J", "goal": "min", "description": "host energy during the run (RAPL packages and DRAM)"},
    "gpu_peak_memory_mb": {"unit": "MB", "goal": "min", "description": "peak GPU memory in use (whole devices)"},
    "gpu_energy_joules": {
        "unit": "J",
        "goal": "min",
        "description": "GPU energy during the run (power integrated over time)",
    },
    "samples": {"unit": "", "description": "telemetry samples taken"},
}


BASE_COLUMNS = ["run_id", "solution", "version", "workflow", "status", "started", "ended", "duration_s"]


SYSTEM_COLUMNS = [
    f"sys.{name}" for name in SYSTEM_METRICS
]  # the record's ``system`` (reefnb.runs.telemetry), in this order
