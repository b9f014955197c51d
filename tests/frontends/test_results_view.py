"""The results frame the ``%reef`` magic returns (reefnb.frontends.results_view): every column kept, a compact view
shown. Escaping of what runs recorded is tested in tests/hostile/test_html_injection.py."""

from __future__ import annotations

import pandas

from reefnb.frontends.results_view import ResultsFrame

COLUMNS = ["run_id", "status", "solution", "started", "param.n", "metric.time_ms", "metric.accuracy", "error"]


def results(errors: tuple = (None, None)) -> pandas.DataFrame:
    frame = pandas.DataFrame(
        [
            ["r1", "ok", "demo", "2026-01-01", 1, 12.3456789, 0.9, errors[0]],
            ["r2", "failed", "demo", "2026-01-02", 2, None, None, errors[1]],
        ],
        columns=COLUMNS,
    )
    frame.attrs["units"] = {"metric.time_ms": "ms"}
    return frame


def test_the_compact_view_shows_run_status_parameters_and_metrics_with_units():
    frame = ResultsFrame.of(results())
    compact = frame.compact()
    assert list(compact.columns) == ["run_id", "status", "param.n", "metric.time_ms [ms]", "metric.accuracy"]
    assert list(frame.columns) == COLUMNS  # every column is still there
    assert frame["metric.accuracy"].iloc[0] == 0.9


def test_the_error_column_is_shown_only_when_a_run_has_one():
    assert "error" not in ResultsFrame.of(results()).compact().columns
    failed = ResultsFrame.of(results(errors=(None, "ValueError: bad")))
    assert list(failed.compact().columns)[-1] == "error"


def test_the_manifest_s_columns_are_shown_by_their_bare_names():
    frame = ResultsFrame.of(results(), columns=["accuracy", "n", "not_there"])
    assert list(frame.compact().columns) == ["run_id", "status", "metric.accuracy", "param.n"]


def test_full_and_any_selection_are_plain_frames_shown_whole():
    frame = ResultsFrame.of(results())
    whole = frame.full()
    assert type(whole) is pandas.DataFrame and list(whole.columns) == COLUMNS
    assert whole.attrs["units"] == {"metric.time_ms": "ms"}
    whole.loc[0, "status"] = "changed"
    assert frame.loc[0, "status"] == "ok"  # a copy
    assert type(frame[frame["status"] == "ok"]) is pandas.DataFrame
    assert type(frame.groupby("status").size()) is pandas.Series


def test_the_text_shows_the_compact_table_and_says_how_to_see_every_column():
    text = repr(ResultsFrame.of(results()))
    header, first, second, caption = text.splitlines()
    assert header.split() == ["run_id", "status", "param.n", "metric.time_ms", "[ms]", "metric.accuracy"]
    assert first.split()[:2] == ["r1", "ok"] and second.split()[:2] == ["r2", "failed"]
    assert caption == "2 runs, 5 of 8 columns: .full() (or %reef results --all-columns) shows every column"
    assert repr(ResultsFrame.of(results().iloc[:0])) == "ResultsFrame: no runs"
    assert repr(ResultsFrame.of(results().iloc[:1])).endswith(
        "1 run, 5 of 8 columns: .full() (or %reef results --all-columns) shows every column"
    )


def test_the_html_table_keeps_cells_on_one_line_with_six_significant_digits():
    html = ResultsFrame.of(results())._repr_html_()
    assert html.startswith('<div class="reef-results-frame"') and 'class="dataframe reef-results"' in html
    assert '<td style="white-space:nowrap">12.3457</td>' in html
    assert '<td style="white-space:nowrap">–</td>' in html  # a missing value
    assert "metric.time_ms [ms]" in html and "2 runs, 5 of 8 columns" in html
    assert ResultsFrame.of(results().iloc[:0])._repr_html_() == "<div>no runs</div>"
