"""reefnb.frontends.widgets.markup: escaped HTML pieces, each carried with its text/plain form."""

from __future__ import annotations

from reefnb.frontends.widgets.markup import (
    BADGE_COLOURS,
    badge,
    escape,
    html_table,
    message,
    message_html,
    requirement_table,
    table_bundle,
    text_table,
)


def test_text_is_escaped_everywhere():
    hostile = "<script>alert(1)</script>"
    assert escape(hostile) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<script>" not in message_html([hostile]) and "<script>" not in badge(hostile)
    assert "<script>" not in html_table(["a"], [[hostile]]) and "<b>x</b>" in html_table(["a"], [["<b>x</b>"]], True)


def test_a_message_carries_its_plain_text_and_level():
    shown = message(["first", "second"], "warning")
    assert shown["text/plain"] == "reef: warning: first\nsecond"
    assert "reef-warning" in shown["text/html"] and "first<br>second" in shown["text/html"]
    assert message("only", "error")["text/plain"] == "reef: error: only"


def test_badges_have_a_colour_per_status_and_a_neutral_one_otherwise():
    assert {"ok", "failed", "missing"} <= set(BADGE_COLOURS)
    assert "reef-ok" in badge("ok") and ">ok</span>" in badge("ok") and badge("ok") != badge("failed")
    assert ">whatever</span>" in badge("whatever")


def test_tables_as_text_and_as_html():
    assert text_table(["name", "n"], [["a", 1], ["bbb", 22]]).splitlines() == ["name  n", "a     1", "bbb   22"]
    bundle = table_bundle(["name"], [["x"]])
    assert bundle["text/plain"] == text_table(["name"], [["x"]]) and ">x</td>" in bundle["text/html"]
    rows = [{"kind": "package", "name": "numpy", "required": ">=1", "found": None, "status": "missing", "reason": ""}]
    table = requirement_table(rows)
    assert "<b>numpy</b>" in table and badge("missing") in table and ">–</td>" in table
