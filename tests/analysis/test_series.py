"""Telemetry series of recorded runs as one frame for charts (reefnb.analysis.series): real CSV files beside
records in a real store."""

from __future__ import annotations

import logging

import pandas
from helpers.records import make_record

from reefnb.analysis import series
from reefnb.analysis.series import SERIES_CHART_POINTS, runs_series
from reefnb.runs.store import Store
from reefnb.runs.telemetry import SERIES_COLUMNS

SYSTEM = {
    "peak_rss_mb": 1.0,
    "cpu_seconds": 1.0,
    "cpu_percent_mean": 50.0,
    "read_mb": 0.0,
    "write_mb": 0.0,
    "energy_joules": None,
    "gpu_peak_memory_mb": None,
    "gpu_energy_joules": None,
    "samples": 1,
}


def run_with_series(store: Store, folder, run_id: str, rows: int | None) -> None:
    """A record whose run wrote ``rows`` telemetry samples beside its notebook (None: telemetry was off)."""
    record = make_record(run_id)
    run = folder / "runs" / run_id
    run.mkdir(parents=True)
    record["notebook"]["output_path"] = str(run / "output.ipynb")
    if rows is not None:
        samples = pandas.DataFrame({column: range(rows) for column in SERIES_COLUMNS})
        samples.assign(t_s=[index / 2 for index in range(rows)]).to_csv(run / "telemetry.csv", index=False)
        record["system"] = {**SYSTEM, "samples": rows, "series": "telemetry.csv"}
    store.add(record)


def test_the_last_runs_with_a_series_come_in_the_order_given_each_thinned(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    ids = [f"20260101T000000Z-0000000{index}" for index in range(5)]
    for run_id, rows in zip(ids, [10, None, 1000, 3, 7], strict=True):
        run_with_series(store, tmp_path, run_id, rows)
    frame = runs_series([*ids, ids[0], "20260101T000000Z-ffffffff"], store=store, limit=3)
    assert list(frame.columns) == [*SERIES_COLUMNS, "run_id"]
    kept = frame["run_id"].unique().tolist()
    assert kept == [ids[2], ids[3], ids[4]]  # the last three with a series (the second has none, a repeat counts once)
    counts = frame["run_id"].value_counts()
    assert counts[ids[2]] == SERIES_CHART_POINTS and (counts[ids[3]], counts[ids[4]]) == (3, 7)
    thinned = frame[frame["run_id"] == ids[2]]["t_s"].tolist()
    assert thinned[0] == 0 and thinned[1] == 2.5  # every fifth sample of 1,000, evenly
    assert len(runs_series(ids, store=store)) == 10 + SERIES_CHART_POINTS + 3 + 7


def test_no_series_is_an_empty_frame_with_the_columns_and_an_unreadable_one_is_skipped(tmp_path, caplog):
    store = Store(tmp_path / "results.sqlite")
    run_with_series(store, tmp_path, "20260101T000000Z-00000001", None)
    empty = runs_series(["20260101T000000Z-00000001"], store=store)
    assert empty.empty and list(empty.columns) == ["run_id", *SERIES_COLUMNS]
    run_with_series(store, tmp_path, "20260101T000000Z-00000002", 4)
    (tmp_path / "runs" / "20260101T000000Z-00000002" / "telemetry.csv").write_bytes(b"")  # an empty file: no columns
    with caplog.at_level(logging.WARNING, logger=series.__name__):
        assert runs_series(["20260101T000000Z-00000002"], store=store).empty
    assert "cannot read the telemetry series" in caplog.text
