"""Published MLPerf SSD-MobileNet results as rows of reef's results frame (for charts and dashboards)."""

from __future__ import annotations

from pathlib import Path

REFERENCE_CSV = Path(__file__).resolve().parent.parent / "reference" / "mlperf_ssd_mobilenet.csv"
METRICS = ("latency_p90_ms", "samples_per_second", "mAP")


def load_reference(path: Path = REFERENCE_CSV):
    """The reference CSV as a DataFrame: ``label``, ``source``, ``param.scenario``, ``metric.*`` (the manifest's
    ``dashboard.reference`` reads the same file for ``reef dashboard``)."""
    from reefnb.analysis.dashboard import reference_csv

    return reference_csv(path, METRICS)
