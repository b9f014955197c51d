"""What the ``%reef`` magic shows in a notebook: the dependency panel, sweep progress, HTML tables.

HTML is built from escaped text only; every rich output also carries a ``text/plain`` form, so a
notebook read outside a browser (or saved without widget state) still says what happened.

One module per concern; this package names what the magic, the verbs and ``reefnb.explore`` use:

- ``markup``: escaped text, status badges, messages, tables and the mime bundle (no widget);
- ``summaries``: a run record and a detection fingerprint as notebook outputs;
- ``progress``: ``SweepProgressWidget``, the live progress of a sweep;
- ``dependencies``: ``DependencyPanel``, ``%reef init``'s panel with its "Install missing" button;
- ``parameters``: ``ParametersForm``, ``%reef run --form``;
- ``explorer``: ``ParetoExplorer`` and ``explore`` (``reefnb.explore``, ``%reef pareto``), ``Comparison``.
"""

from __future__ import annotations

from reefnb.frontends.widgets.dependencies import DependencyPanel
from reefnb.frontends.widgets.explorer import FOLLOW_CONTAINER_WIDTH, Comparison, ParetoExplorer, explore
from reefnb.frontends.widgets.markup import (
    BADGE_COLOURS,
    REQUIREMENT_COLUMNS,
    badge,
    bundle,
    escape,
    html_table,
    message,
    message_html,
    requirement_table,
    table_bundle,
    text_table,
)
from reefnb.frontends.widgets.parameters import ParametersForm
from reefnb.frontends.widgets.progress import SweepProgressWidget
from reefnb.frontends.widgets.summaries import fingerprint_bundle, run_summary

__all__ = [
    "BADGE_COLOURS",
    "FOLLOW_CONTAINER_WIDTH",
    "REQUIREMENT_COLUMNS",
    "Comparison",
    "DependencyPanel",
    "ParametersForm",
    "ParetoExplorer",
    "SweepProgressWidget",
    "badge",
    "bundle",
    "escape",
    "explore",
    "fingerprint_bundle",
    "html_table",
    "message",
    "message_html",
    "requirement_table",
    "run_summary",
    "table_bundle",
    "text_table",
]
