"""Telemetry series of recorded runs as one DataFrame, thinned for charts (the dashboard's per-run series)."""

from __future__ import annotations

import logging
import math

from reefnb.runs.store import Store, default_store
from reefnb.runs.telemetry import SERIES_COLUMNS, read_series, series_path

log = logging.getLogger(__name__)

SERIES_CHART_RUNS = 20  # runs whose series a dashboard carries
SERIES_CHART_POINTS = 200  # points per run at most (evenly thinned)


def runs_series(run_ids, store: Store | None = None, limit: int = SERIES_CHART_RUNS):
    """The telemetry series of the last ``limit`` of ``run_ids`` that have one, as one long DataFrame
    (``run_id`` plus SERIES_COLUMNS), each run thinned to SERIES_CHART_POINTS rows; empty when none has one."""
    import pandas  # heavy: imported when a dashboard is written

    store = store or default_store()
    frames = []
    for run_id in list(dict.fromkeys(run_ids))[::-1]:
        if len(frames) >= limit:
            break
        record = store.get(str(run_id))
        path = series_path(record) if record else None
        if path is None:
            continue
        try:
            series = read_series(path)
        except (OSError, ValueError) as error:
            log.warning("%s: cannot read the telemetry series: %s", path, error)
            continue
        step = max(1, math.ceil(len(series) / SERIES_CHART_POINTS))
        frames.append(series.iloc[::step].assign(run_id=str(run_id)))
    return (
        pandas.concat(frames[::-1], ignore_index=True)
        if frames
        else pandas.DataFrame(columns=["run_id", *SERIES_COLUMNS])
    )
