"""The live progress of ``%reef sweep``/``%reef benchmark``: a bar, a status line and the runs as they end."""

from __future__ import annotations

import ipywidgets as widgets

from reefnb.frontends.rendering import format_duration, run_view
from reefnb.frontends.widgets.markup import badge, escape


class SweepProgressWidget(widgets.VBox):
    """A live progress bar for a sweep, fed ``reefnb.runs.sweeps.SweepProgress`` through ``update``."""

    def __init__(self, title: str = ""):
        self.title_text = title
        self.title = widgets.HTML(f"<b>{escape(title)}</b>" if title else "")
        self.bar = widgets.IntProgress(value=0, min=0, max=1, bar_style="info", layout=widgets.Layout(width="320px"))
        self.label = widgets.HTML("starting…")
        self.last = widgets.HTML("")
        self.progress = None
        super().__init__([self.title, widgets.HBox([self.bar, self.label]), self.last])

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data:
            data["text/plain"] = self.title_text or "sweep progress"
        return data

    def update(self, progress) -> None:
        """Show where the sweep stands (called after every start and finish of a run)."""
        self.progress = progress
        self.bar.max = max(progress.total, 1)
        self.bar.value = min(progress.done + progress.skipped, self.bar.max)
        finished = progress.done + progress.skipped >= progress.total and not progress.running
        self.bar.bar_style = "danger" if progress.failed else ("success" if finished else "info")
        self.label.value = escape(self.text(progress))
        if progress.last is not None:
            self.last.value = self.record_line(progress.last)

    @staticmethod
    def text(progress) -> str:
        """``3/6 done · 1 failed · 2 running · ETA 12 s`` (skipped points count as done)."""
        parts = [
            f"{progress.done + progress.skipped}/{progress.total} done",
            f"{progress.failed} failed",
            f"{progress.running} running",
        ]
        if progress.skipped:
            parts.append(f"{progress.skipped} skipped (recorded before)")
        if progress.done + progress.skipped >= progress.total and not progress.running:
            parts.append(f"took {format_duration(progress.elapsed_s)}")
        elif progress.eta_s is not None:
            parts.append(f"ETA {format_duration(progress.eta_s)}")
        return " · ".join(parts)

    @staticmethod
    def record_line(record: dict) -> str:
        view = run_view(record)
        detail = view.problem() or " ".join(f"{metric.name}={metric.text}" for metric in view.metrics)
        return (
            f'<span style="font-size:0.85em">last: {escape(view.run_id)} {badge(view.status)} '
            f"<code>{escape(view.parameters_text)}</code> {escape(detail)}</span>"
        )
