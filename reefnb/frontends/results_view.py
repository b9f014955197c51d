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

import pandas

from reefnb.frontends.widgets import escape

_NOWRAP = "white-space:nowrap"


def compact_columns(frame: pandas.DataFrame, columns: Sequence[str] | None = None) -> list[str]:
    """The columns a reader needs first: run id, status, then ``columns`` (a metric's bare name is
    enough; names the frame lacks are left out) or every parameter then every metric."""
    chosen = [name for name in ("run_id", "status") if name in frame.columns]
    if columns:
        for name in columns:
            found = next((column for column in (name, f"metric.{name}", f"param.{name}") if column in frame.columns), None)
            if found is not None and found not in chosen:
                chosen.append(found)
    else:
        chosen += [column for column in frame.columns if column.startswith("param.")]
        chosen += [column for column in frame.columns if column.startswith("metric.")]
    if "error" in frame.columns and frame["error"].notna().any():
        chosen.append("error")
    return chosen


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

    def compact(self) -> pandas.DataFrame:
        """The table shown: run id, status, parameters, metrics (headers with their units)."""
        columns = compact_columns(self, getattr(self, "shown_columns", None))
        table = pandas.DataFrame(self, copy=False)[columns].copy()
        units = self.attrs.get("units", {})
        table.columns = [f"{column} [{units[column]}]" if units.get(column) else column for column in columns]
        return table

    def _caption(self) -> str:
        shown = len(compact_columns(self, getattr(self, "shown_columns", None)))
        runs = f"{len(self)} run{'' if len(self) == 1 else 's'}"
        return f"{runs}, {shown} of {len(self.columns)} columns: .full() (or %reef results --all-columns) shows every column"

    def __repr__(self) -> str:
        if self.empty:
            return "ResultsFrame: no runs"
        return f"{self.compact().to_string(index=False)}\n{self._caption()}"

    def _repr_html_(self) -> str:
        if self.empty:
            return f"<div>{escape('no runs')}</div>"
        html = self.compact().to_html(index=False, border=0, na_rep="–", float_format=_number, classes="reef-results")
        html = html.replace("<td>", f'<td style="{_NOWRAP}">').replace("<th>", f'<th style="{_NOWRAP}">')
        caption = f'<div style="font-size:0.85em;color:var(--jp-ui-font-color2,#57606a)">{escape(self._caption())}</div>'
        return f'<div class="reef-results-frame" style="overflow-x:auto">{html}{caption}</div>'


def _number(value: float) -> str:
    return f"{value:.6g}"
