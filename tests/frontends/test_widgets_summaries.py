"""reefnb.frontends.widgets.summaries: a run record and a fingerprint as notebook outputs, with their plain text."""

from __future__ import annotations

from helpers.records import make_record

from reefnb.frontends.provision_text import fingerprint_text
from reefnb.frontends.rendering import record_text
from reefnb.frontends.widgets.summaries import fingerprint_bundle, run_summary


def test_a_run_summary_is_html_with_the_terminal_text_as_its_plain_form():
    record = make_record("20260101T000000Z-00000001", parameters={"samples": 10})
    shown = run_summary(record)
    assert shown["text/plain"] == record_text(record)
    assert "<b>20260101T000000Z-00000001</b>" in shown["text/html"] and "samples=10" in shown["text/html"]
    assert ">time_ms</td>" in shown["text/html"] and ">ms</td>" in shown["text/html"]


def test_a_failed_run_shows_its_error_and_hostile_text_is_escaped():
    record = make_record("20260101T000000Z-00000002", status="failed", parameters={"name": "<img src=x>"})
    html = run_summary(record)["text/html"]
    assert "reef-error" in html and "ValueError: boom" in html
    assert "<img src=x>" not in html and "&lt;img src=x&gt;" in html


def test_refused_attachments_are_listed_without_links(tmp_path):
    record = {
        **make_record("20260101T000000Z-00000003"),
        "files_refused": [{"name": "big.bin", "reason": "over the limit"}],
    }
    assert "not kept: big.bin: over the limit" in run_summary(record)["text/html"]


def test_a_fingerprint_is_a_table_with_the_packages_folded():
    fingerprint = {
        "cpu": {"model": "Test CPU", "logical_cores": 8, "flags": []},
        "packages": {"numpy": "2.0.0", "Pandas": "3.0"},
        "python": [{"version": "3.11.7", "path": "/usr/bin/python3", "source": "path"}],
    }
    shown = fingerprint_bundle(fingerprint)
    assert shown["text/plain"] == fingerprint_text(fingerprint)
    html = shown["text/html"]
    assert "<details><summary>2 installed</summary>numpy 2.0.0, Pandas 3.0</details>" in html
    assert "1 found<br>3.11.7     /usr/bin/python3 (path)" in html and ">Test CPU, 8 logical cores</td>" in html
