"""Stored script injection: values other people chose (parameter names and values, metric names and units, file
names, environment and solution names: recorded here or pulled from a registry) in every HTML page reef writes,
opened in headless Chromium. Nothing may run (no ``window.__pwned``, no event handler in the page, no script but
the page's own) and every value is shown as the text it is; the charts still draw under the pages' policy.

The pages are built in process from one store of hostile records and opened in one browser, so the file costs a
browser start and the Vega bundle's parse per page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import reefnb
from reefnb.analysis.dashboard import build_dashboard
from reefnb.analysis.outputs import compare_notebooks, differences_html
from reefnb.analysis.plots import pareto_chart, save_chart
from reefnb.analysis.reproduce import report_html
from reefnb.runs.store import default_store

# Each one sets window.__pwned if it ever runs; the number says which.
CLOSE_SCRIPT = "</Script ><Script>window.__pwned=1</Script >"
IMAGE = "<img src=x onerror=window.__pwned=2>"
LINES = "a\u2028b\u2029c</script\u2028><script>window.__pwned=3</script>"
CDATA = "]]><script>window.__pwned=4</script>"
COMMENT = "<!--<script>window.__pwned=5</script>"
ATTRIBUTE = '" onmouseover="window.__pwned=6" x=\''
SVG = "<svg/onload=window.__pwned=7>"
EXPRESSION = 'x"]);window.__pwned=8;//'
HOSTILE = [CLOSE_SCRIPT, IMAGE, LINES, CDATA, COMMENT, ATTRIBUTE, SVG, EXPRESSION]


FILE_NAMES = (CLOSE_SCRIPT, ATTRIBUTE, "javascript:window.__pwned=9")


def record(index: int, time_ms: float, error: float, solution: Path = Path("/solutions/hostile")) -> dict:
    """A run of a solution in the folder ``solution`` whose every text is hostile: parameter names and values,
    metric names, units and values, attached file names and media types, the environment, the solution's name."""
    run_id = f"20260101T0000{index:02d}Z-{index:08x}"
    return {
        "record_version": 1,
        "run_id": run_id,
        "solution": {"name": CLOSE_SCRIPT, "version": COMMENT, "path": str(solution)},
        "workflow": "run",
        "notebook": {
            "path": "main.ipynb",
            "sha256": "ab" * 32,
            "output_path": str(solution / "runs" / run_id / f"{run_id}.ipynb"),
        },
        "parameters": {IMAGE: HOSTILE[index % len(HOSTILE)], "dataset": SVG, "method": ATTRIBUTE},
        "metrics": {
            CLOSE_SCRIPT: {"value": time_ms, "unit": LINES, "goal": "min"},
            EXPRESSION: {"value": error, "unit": IMAGE, "goal": "min"},
            CDATA: {"value": COMMENT, "unit": None},
        },
        "files": [{"name": name, "size": 10, "sha256": "cd" * 32, "media_type": IMAGE} for name in FILE_NAMES],
        "status": "ok",
        "error": None,
        "started": f"2026-01-01T00:00:{index:02d}+00:00",
        "ended": f"2026-01-01T00:00:{index:02d}+00:00",
        "duration_s": 1.0,
        "environment": {
            "name": LINES if index % 2 else SVG,
            "kernel": "python3",
            "hostname": "box",
            "os": {"platform": "Linux"},
            "cpu": {"model": IMAGE, "count": 8},
            "memory_bytes": 2**34,
            "python": {"version": "3.11.7"},
        },
        "provenance": {"reefnb_version": reefnb.__version__, "git": None, "command": "reef run"},
    }


def notebook(shown: str) -> dict:
    """A notebook of one cell that showed ``shown`` (as HTML and as text)."""
    output = {"output_type": "display_data", "data": {"text/html": shown, "text/plain": shown}, "metadata": {}}
    cell = {
        "cell_type": "code",
        "id": "c1",
        "source": CLOSE_SCRIPT,
        "metadata": {},
        "outputs": [output],
        "execution_count": 1,
    }
    return {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def reproduce_report() -> dict:
    """A reproduce report as ``reef reproduce`` writes it, every text in it hostile, outputs that differ included."""
    recorded, reproduced = notebook(IMAGE), notebook(SVG)
    outputs = compare_notebooks(recorded, reproduced)
    outputs["html"] = differences_html(outputs, recorded, reproduced)
    return {
        "solution": CLOSE_SCRIPT,
        "verdict": "not reproduced",
        "counts": {"reproduced": 0, "not reproduced": 1, "missing": 0, "informational": 0},
        "tolerance_scale": 1.0,
        "source": IMAGE,
        "badges": [SVG],
        "claims": [
            {
                "id": CDATA,
                "statement": COMMENT,
                "where": LINES,
                "verdict": "not reproduced",
                "metrics": {EXPRESSION: "not reproduced"},
            }
        ],
        "experiments": [
            {
                "id": ATTRIBUTE,
                "workflow": CLOSE_SCRIPT,
                "parameters": {IMAGE: SVG},
                "run_id": CDATA,
                "status": "failed",
                "verdict": "not reproduced",
                "why": [COMMENT],
                "error": {"name": "ValueError", "message": IMAGE, "traceback": CLOSE_SCRIPT},
                "metrics": {
                    LINES: {
                        "expected": 1.0,
                        "got": 2.0,
                        "unit": SVG,
                        "tolerance": {"abs": 0.1},
                        "verdict": "not reproduced",
                    }
                },
                "outputs": outputs,
                "input_differences": {"files": {CLOSE_SCRIPT: IMAGE}, "parameters": {SVG: [COMMENT, CDATA]}},
                "environment_differences": {},
                "telemetry_differences": {},
            }
        ],
        "report": EXPRESSION,
    }


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The dashboard, a chart saved as HTML (``reef pareto --plot x.html``) and the reproduce report, of hostile
    runs in a store of their own."""
    folder = tmp_path_factory.mktemp("html-injection")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REEF_HOME", str(folder / "reef-home"))
        records = [record(index, 10.0 + index, 1.0 / (index + 1), folder / "solution") for index in range(8)]
        for name in FILE_NAMES:  # the files are here: the dashboard links them
            attached = Path(records[0]["notebook"]["output_path"]).parent / "files" / name
            attached.parent.mkdir(parents=True, exist_ok=True)
            attached.write_text("evidence")
        default_store().add_many(records)
        frame = reefnb.results()
        dashboard = build_dashboard(frame, folder / "solution" / "dashboard.html")
        objectives = {f"metric.{CLOSE_SCRIPT}": "min", f"metric.{EXPRESSION}": "min"}
        chart = save_chart(
            pareto_chart(frame, *objectives, directions=objectives, color="env.name"), folder / "chart.html"
        )
    report = folder / "report.html"
    report.write_text(report_html(reproduce_report()), encoding="utf-8")
    notebook_views = folder / "notebook-views.html"
    notebook_views.write_text(
        f"<!DOCTYPE html><meta charset=utf-8><body>{notebook_fragments(frame)}</body>", encoding="utf-8"
    )
    return {"dashboard": dashboard, "chart": chart, "report": report, "notebook views": notebook_views}


def notebook_fragments(frame) -> str:
    """What ``%reef`` shows in a notebook (a run's summary, the results frame, two runs compared, a message), one
    after another: HTML fragments in JupyterLab's page, so no policy of reef's holds there, only escaping."""
    from reefnb.frontends.results_view import ResultsFrame
    from reefnb.frontends.widgets import Comparison, message_html, run_summary

    hostile = record(1, 1.0, 1.0)
    compared = frame.set_index("run_id").head(2).T.astype(str)
    return "\n".join(
        [
            run_summary(
                {**hostile, "status": "failed", "error": {"name": IMAGE, "message": CLOSE_SCRIPT, "cell_index": 0}}
            )["text/html"],
            ResultsFrame.of(frame)._repr_html_(),
            Comparison(
                compared, dict(zip(compared.columns, [ATTRIBUTE, "javascript:window.__pwned=12"], strict=True))
            )._repr_html_(),
            message_html(HOSTILE, "warning"),
        ]
    )


# Markup that got into the page anyway (as a bug elsewhere would put it there): the policy must refuse an inline
# event handler and a script it does not know. The image fails to load (an empty data: URL); its error listener,
# added by this test's own code, says when the handler would have run.
INJECTED = """async () => {
    const holder = document.createElement('div');
    holder.innerHTML = '<img src="data:," onerror="window.__pwned = 10">';
    const image = holder.firstChild;
    const failed = new Promise((resolve) => image.addEventListener('error', resolve));
    document.body.append(holder);
    await failed;
    const script = document.createElement('script');
    script.textContent = 'window.__pwned = window.__pwned || 11';
    document.body.append(script);
    return window.__pwned === undefined ? null : window.__pwned;
}"""


def opened(browser, path: Path, wait_for: str | None = None) -> dict:
    """Open ``path`` offline; what ran (``window.__pwned``), the page's text, its scripts and event handlers,
    the script errors and the policy's refusals (each a console error)."""
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        if wait_for:  # the charts drawn, or a value's script run (then the rest does not matter)
            page.wait_for_function(
                f"() => window.__pwned !== undefined || document.querySelector({wait_for!r})", timeout=30_000
            )
            if page.evaluate("window.__pwned === undefined"):
                page.locator(wait_for).first.hover()  # the tooltip shows the point's values
                page.wait_for_selector("#vg-tooltip-element.visible", timeout=10_000)
        found = page.evaluate(
            """() => ({
                pwned: window.__pwned === undefined ? null : window.__pwned,
                text: document.body.innerText,
                tooltip: (document.getElementById('vg-tooltip-element') || {}).innerText || '',
                scripts: [...document.scripts].map((script) => script.type || 'classic'),
                handlers: [...document.querySelectorAll('*')].flatMap((element) =>
                    [...element.attributes]
                        .filter((attribute) => attribute.name.startsWith('on'))
                        .map((attribute) => attribute.name)),
                links: [...document.links].map((link) => link.protocol),
                marks: document.querySelectorAll('.mark-symbol path').length,
            })"""
        )
        found["errors"] = list(errors)
        found["injected"] = page.evaluate(INJECTED)
        found["refused"] = [error for error in errors[len(found["errors"]) :] if "Content Security Policy" in error]
        return found
    finally:
        context.close()


def test_embedded_json_has_nothing_that_can_end_a_script_element():
    from reefnb.common.pages import embedded_json

    text = embedded_json({"name": HOSTILE, "nan": float("nan")})
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert '"nan":null' in text


def test_the_dashboard_runs_nothing_from_its_data_and_shows_it_as_text(pages, browser):
    found = opened(browser, pages["dashboard"], wait_for="#chart0 .mark-symbol path")
    assert found["pwned"] is None
    assert found["injected"] is None and len(found["refused"]) == 2  # the policy refused the handler and the script
    assert found["scripts"] == ["application/json", "classic", "classic"]  # the specs, the Vega libraries, the drawing
    assert found["handlers"] == [] and found["links"] == ["file:"] * len(
        FILE_NAMES
    )  # the attached files, each a relative link
    assert found["marks"] >= 8 and found["errors"] == []  # the charts draw under the policy
    for value in HOSTILE:
        assert value in found["text"], value
    assert CLOSE_SCRIPT in found["tooltip"] or IMAGE in found["tooltip"]


def test_a_chart_saved_as_html_runs_nothing_from_its_data(pages, browser):
    found = opened(browser, pages["chart"], wait_for="#chart0 .mark-symbol path")
    assert found["pwned"] is None and found["injected"] is None and len(found["refused"]) == 2
    assert found["handlers"] == [] and found["errors"] == []
    assert found["marks"] >= 8


def test_the_reproduce_report_runs_nothing_and_allows_no_script(pages, browser):
    page = pages["report"].read_text(encoding="utf-8")
    assert "script-src 'none'" in page
    found = opened(browser, pages["report"])
    assert found["pwned"] is None and found["scripts"] == [] and found["handlers"] == []
    assert found["injected"] is None and len(found["refused"]) == 2
    for value in (CLOSE_SCRIPT, IMAGE, SVG, COMMENT, CDATA):
        assert value in found["text"], value


def test_what_the_magic_shows_in_a_notebook_runs_nothing(pages, browser):
    found = opened(browser, pages["notebook views"])
    assert found["pwned"] is None and found["scripts"] == [] and found["handlers"] == []
    assert "javascript:" not in found["links"]  # a link to a run's notebook is a relative path, whatever it spells
    for value in HOSTILE:
        assert value in found["text"], value
