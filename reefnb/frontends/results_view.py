"""The results frame as the ``%reef`` magic returns it: every column kept, a compact view shown.

``%reef run``, ``sweep``, ``benchmark`` and ``results`` return a ``ResultsFrame``: a pandas DataFrame
with all the columns of ``reefnb.results()`` (so ``frame["metric.time_ms"]`` and the analysis work on
it as on any results frame), shown as the run id, the status, the parameters and the metrics with
their units (or the manifest's dashboard columns) on one line per run. ``.full()`` is the plain frame,
shown whole; ``.compact()`` the table that is shown. Anything derived from it (a selection, a group-by)
is a plain DataFrame again and shows what it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import pandas

from reefnb.frontends.rendering import display_columns, format_number, with_units

_NOWRAP = "white-space:nowrap"


class ResultsFrame(pandas.DataFrame):
    """A results frame that shows its compact view; ``.full()`` is the whole frame."""

    _metadata = ["shown_columns"]

    @property
    def _constructor(self):
        return pandas.DataFrame  # a selection or a computation is plain data, shown whole

    @classmethod
    def of(cls, frame: pandas.DataFrame, columns: Sequence[str] | None = None) -> ResultsFrame:
        """``frame`` (a results frame) shown as its compact view; ``columns``: the manifest's dashboard columns."""
        result = cls(frame)
        result.attrs = dict(frame.attrs)
        result.shown_columns = list(columns) if columns else None
        return result

    def full(self) -> pandas.DataFrame:
        """The plain results frame, every column."""
        frame = pandas.DataFrame(self, copy=True)
        frame.attrs = dict(self.attrs)
        return frame

    def _shown(self) -> list[str]:
        """Run id, status, the chosen columns (else every parameter and metric), the error when a run has one."""
        return display_columns(self, getattr(self, "shown_columns", None), errors=True)

    def compact(self) -> pandas.DataFrame:
        """The table shown: run id, status, parameters, metrics (headers with their units)."""
        return with_units(self, self._shown())

    def _caption(self) -> str:
        shown = len(self._shown())
        runs = f"{len(self)} run{'' if len(self) == 1 else 's'}"
        return (
            f"{runs}, {shown} of {len(self.columns)} columns: .full() (or %reef results --all-columns) shows every "
            "column"
        )

    def __repr__(self) -> str:
        if self.empty:
            return "ResultsFrame: no runs"
        return f"{self.compact().to_string(index=False)}\n{self._caption()}"

    def _repr_html_(self) -> str:
        if self.empty:
            return f"<div>{escape('no runs')}</div>"
        html = self.compact().to_html(
            index=False, border=0, na_rep="–", float_format=format_number, classes="reef-results"
        )
        html = html.replace("<td>", f'<td style="{_NOWRAP}">').replace("<th>", f'<th style="{_NOWRAP}">')
        caption = (
            f'<div style="font-size:0.85em;color:var(--jp-ui-font-color2,#57606a)">{escape(self._caption())}</div>'
        )
        return f'<div class="reef-results-frame" style="overflow-x:auto">{html}{caption}</div>'
