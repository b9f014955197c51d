"""A run record and a detection fingerprint as notebook outputs (``%reef run``, ``%reef detect``): HTML
with the same words as the terminal's text (``reefnb.frontends.rendering``), which is their plain form.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from reefnb.frontends.provision_text import fingerprint_text
from reefnb.frontends.rendering import file_details, format_duration, record_text, refused_line, run_view
from reefnb.frontends.widgets.markup import MUTED, badge, bundle, escape, html_table, message_html
from reefnb.runs.attachments import file_links


def run_summary(record: dict) -> dict:
    """A run record as a small HTML summary (status, parameters, the error, metrics with units, telemetry, the
    executed notebook, attached files); its plain form is what ``reef run`` prints."""
    view = run_view(record)
    took = escape(format_duration(view.duration_s))
    head = (
        f"<b>{escape(view.run_id)}</b> {badge(view.status)} {escape(view.solution)} · {escape(view.workflow)} · {took}"
    )
    parts = [
        f"<div>{head}</div>",
        f"<div>parameters: <code>{escape(view.parameters_text or '(defaults)')}</code></div>",
    ]
    if view.problem():
        parts.append(message_html([view.problem()], "error"))
    if view.metrics:
        parts.append(
            html_table(
                ("metric", "value", "unit"), [(metric.name, metric.text, metric.unit) for metric in view.metrics]
            )
        )
    if view.metrics_refused:
        parts.append(message_html([view.metrics_refused], "warning"))
    if view.system:  # what the run's processes did (reefnb.runs.telemetry)
        parts.append(f'<div class="reef-system">system: {escape(view.system)}</div>')
    if view.notebook:
        parts.append(
            f'<div style="font-size:0.85em;color:{MUTED}">notebook: <code>{escape(view.notebook)}</code></div>'
        )
    if view.has_files:  # the run's evidence (reefnb.attach), linked from the kernel's folder
        parts.append(_attached_files_html(record, file_links(record, Path.cwd())))
    return bundle(f'<div class="reef-run">{"".join(parts)}</div>', record_text(record))


def _attached_files_html(record: dict, links: dict[str, str]) -> str:
    lines = []
    for entry in record.get("files") or []:
        name = str(entry["name"])
        shown = (
            f'<a href="{escape(quote(links[name]))}" target="_blank">{escape(name)}</a>'
            if name in links
            else escape(name)
        )
        lines.append(f'<div>{shown} <span style="color:{MUTED}">{escape(file_details(entry))}</span></div>')
    lines += [
        f'<div style="color:{MUTED}">{escape(refused_line(entry))}</div>' for entry in record.get("files_refused") or []
    ]
    return f'<div class="reef-files" style="font-size:0.85em">files:{"".join(lines)}</div>'


def fingerprint_bundle(fingerprint: dict) -> dict:
    """``reef detect``'s fingerprint as a two-column table (topic, what was found)."""
    text = fingerprint_text(fingerprint)
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(" ") and rows:  # a continuation: another GPU, another python
            rows[-1][1] += ("<br>" if rows[-1][1] else "") + escape(line.strip())
            continue
        label, _, value = line.partition(":")
        rows.append([escape(label.strip()), escape(value.strip())])
    packages = fingerprint.get("packages")
    if isinstance(packages, dict) and packages:
        listed = ", ".join(
            f"{escape(name)} {escape(version)}"
            for name, version in sorted(packages.items(), key=lambda item: item[0].lower())
        )
        for row in rows:
            if row[0] == "Packages":
                row[1] = f"<details><summary>{row[1]}</summary>{listed}</details>"
    return bundle(html_table(("", "found"), rows, escaped=True), text)
