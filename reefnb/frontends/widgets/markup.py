"""HTML pieces every notebook rendering of reef uses: escaped text, status badges, messages, tables, and
the mime bundle that carries each with its ``text/plain`` form. The colours follow JupyterLab's theme.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

# JupyterLab's theme variables (light and dark), with the light colours as fallbacks outside JupyterLab:
# text in the theme's own font colour, a tint of the status colour behind it, the status colour as border.
_TEXT = "var(--jp-content-font-color1,#1f2328)"
MUTED = "var(--jp-ui-font-color2,#57606a)"


def _tint(variable: str, fallback: str, percent: int = 18) -> str:
    return f"color-mix(in srgb,var({variable},{fallback}) {percent}%,transparent)"


def _status_colour(variable: str, fallback: str) -> tuple[str, str]:
    """(border colour, background colour) of a status, from a JupyterLab colour variable."""
    return f"var({variable},{fallback})", _tint(variable, fallback)


_GREEN, _AMBER, _ORANGE, _RED, _GREY, _BLUE = (
    _status_colour("--jp-success-color1", "#1a7f37"),
    _status_colour("--jp-warn-color2", "#bf8700"),
    _status_colour("--jp-warn-color0", "#bc4c00"),
    _status_colour("--jp-error-color1", "#cf222e"),
    _status_colour("--jp-border-color1", "#8c959f"),
    _status_colour("--jp-brand-color1", "#0969da"),
)
BADGE_COLOURS = {
    "found": _GREEN,
    "installed": _GREEN,
    "fetched": _GREEN,
    "ok": _GREEN,
    "missing": _AMBER,
    "interrupted": _AMBER,
    "conflict": _ORANGE,
    "unmet": _RED,
    "failed": _RED,
    "timeout": _RED,
    "killed": _RED,
    "skipped": _GREY,  # a package another platform's marker leaves out
    "on demand": _BLUE,  # an artifact the first run that needs it fetches
}
_MESSAGE_STYLES = {
    level: f"color:{_TEXT};background:{background};border:1px solid {border};border-left-width:4px"
    for level, (border, background) in {"error": _RED, "warning": _AMBER, "ok": _GREEN, "info": _BLUE}.items()
}
REQUIREMENT_COLUMNS = ("kind", "name", "required", "found", "status", "reason")


# ---------------------------------------------------------------------------------------------
def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def badge(status: str) -> str:
    """A small coloured label for a status (found, missing, conflict, unmet, ok, failed...)."""
    border, background = BADGE_COLOURS.get(status, _GREY)
    return (
        f'<span class="reef-badge reef-{escape(status.replace(" ", "-"))}" '
        f'style="color:{_TEXT};background:{background};border:1px solid {border};'
        'border-radius:0.6em;padding:0 0.55em;font-size:0.85em;font-weight:600;white-space:nowrap">'
        f"{escape(status)}</span>"
    )


def message_html(lines: Iterable[str], level: str = "error") -> str:
    """A short coloured box of one or more lines: error (red), warning (yellow), ok (green), info (blue)."""
    body = "<br>".join(escape(line) for line in lines)
    return (
        f'<div class="reef-message reef-{level}" style="{_MESSAGE_STYLES[level]};border-radius:4px;'
        'padding:0.35em 0.7em;margin:0.2em 0;font-family:var(--jp-code-font-family,monospace);font-size:0.9em">'
        f"{body}</div>"
    )


def bundle(html_text: str, plain_text: str) -> dict:
    """A display bundle (for ``display(..., raw=True)``) with an HTML and a plain-text form."""
    return {"text/html": html_text, "text/plain": plain_text}


def message(lines: Sequence[str] | str, level: str = "error") -> dict:
    """``message_html`` with its plain-text form (the first line says error or warning)."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    prefix = {"error": "reef: error: ", "warning": "reef: warning: "}.get(level, "")
    plain = [
        prefix + line if index == 0 and not line.startswith(("reef", "%reef")) else line
        for index, line in enumerate(lines)
    ]
    return bundle(message_html(lines, level), "\n".join(plain))


def html_table(columns: Sequence[str], rows: Iterable[Sequence[str]], escaped: bool = False) -> str:
    """A plain HTML table; cells are escaped unless ``escaped`` says they are HTML already."""
    cell = (lambda value: value) if escaped else escape
    style = "text-align:left;padding:0.15em 1em 0.15em 0;vertical-align:top"
    head = "".join(f'<th style="{style}">{escape(column)}</th>' for column in columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{style}">{cell(value)}</td>' for value in row) + "</tr>" for row in rows
    )
    table = '<table class="reef-table" style="border-collapse:collapse">'
    return f"{table}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def requirement_table(rows: Iterable[dict]) -> str:
    """Requirement rows (kind, name, required, found, status, reason) as a table with status badges."""
    cells = [
        [
            escape(row["kind"]),
            f"<b>{escape(row['name'])}</b>",
            escape(row["required"]),
            escape(row["found"] or "–"),
            badge(row["status"]),
            escape(row["reason"]),
        ]
        for row in rows
    ]
    return html_table(REQUIREMENT_COLUMNS, cells, escaped=True)


def text_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The same table as aligned plain text."""
    rows = [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max([len(column), *(len(row[index]) for row in rows)]) for index, column in enumerate(columns)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(columns), *rows]
    ]
    return "\n".join(lines)


def table_bundle(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict:
    return bundle(html_table(columns, rows), text_table(columns, rows))
