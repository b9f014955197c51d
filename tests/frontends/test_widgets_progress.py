"""reefnb.frontends.widgets.progress: the sweep progress bar, fed SweepProgress as the sweep goes."""

from __future__ import annotations

from helpers.records import make_record

from reefnb.frontends.widgets.progress import SweepProgressWidget
from reefnb.runs.sweeps import SweepProgress


def _progress(**changes) -> SweepProgress:
    values = dict(total=6, done=2, ok=2, failed=0, running=2, skipped=1, elapsed_s=4.0, eta_s=12.0, last=None)
    return SweepProgress(**{**values, **changes})


def test_the_bar_and_the_line_follow_the_sweep():
    widget = SweepProgressWidget("benchmark")
    widget.update(_progress())
    assert (widget.bar.max, widget.bar.value, widget.bar.bar_style) == (6, 3, "info")
    assert widget.label.value == "3/6 done · 0 failed · 2 running · 1 skipped (recorded before) · ETA 12 s"
    record = make_record("20260101T000000Z-0000000a", parameters={"samples": 10})
    widget.update(_progress(done=5, running=0, last=record))
    assert widget.bar.bar_style == "success" and widget.label.value.endswith("took 4.0 s")
    assert "20260101T000000Z-0000000a" in widget.last.value and "samples=10" in widget.last.value


def test_a_failure_turns_the_bar_red_and_the_plain_form_names_the_sweep():
    widget = SweepProgressWidget("benchmark")
    widget.update(_progress(failed=1, last=make_record("r-failed", status="failed")))
    assert widget.bar.bar_style == "danger" and "ValueError: boom" in widget.last.value
    assert widget._repr_mimebundle_()["text/plain"] == "benchmark"
