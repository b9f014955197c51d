"""`reefnb.explore` in a real JupyterLab, driven through Debian's Chromium with Playwright.

The notebook draws the explorer of 12 runs; the test drags a brush over part of the chart and reads
back, through a cell it executes, that the kernel's ``explorer.selected`` holds exactly the runs in
the brushed range; then a click on one point selects that run and ``explorer.compare()`` renders.
Screenshots go to $REEF_TEST_ARTIFACTS (else tests/artifacts/, git-ignored).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from test_lab import CHROMIUM, CHROMIUM_ARGS, TOKEN, lab  # noqa: F401  (lab: the fixture that starts jupyter lab)

SETUP = """import pandas as pd
import reefnb
frame = pd.DataFrame({"run_id": [f"run{i:02d}" for i in range(12)], "status": "ok",
                      "metric.time_ms": [float(i + 1) for i in range(12)],
                      "metric.abs_error": [0.2 / (i + 1) + 0.01 * (i % 3) for i in range(12)],
                      "param.method": ["random", "stratified"] * 6})
explorer = reefnb.explore(frame, objectives={"time_ms": "min", "abs_error": "min"}, color="param.method")
explorer"""
READ_BACK = 'print("SELECTED=" + ",".join(sorted(explorer.selected["run_id"])))'


def run_cell(page, index: int) -> None:
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def read_selected(page, index: int, previous: str | None = None) -> list[str]:
    """Run the read-back cell until its output differs from ``previous`` (the widget's messages are asynchronous)."""
    output = page.locator(".jp-NotebookPanel .jp-Cell").nth(index).locator(".jp-OutputArea-output")
    for _ in range(20):
        run_cell(page, index)
        page.wait_for_timeout(500)
        text = output.first.inner_text() if output.count() else ""
        found = re.search(r"SELECTED=(\S*)", text)
        if found and found.group(1) != previous:
            return [run for run in found.group(1).split(",") if run]
    pytest.fail(f"the kernel's selection did not change (still {previous!r})")


def point_centres(marks) -> list[tuple[float, float]]:
    """The chart's points on the page, left to right."""
    return sorted((box["x"] + box["width"] / 2, box["y"] + box["height"] / 2) for box in (marks.nth(index).bounding_box() for index in range(marks.count())))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install -y chromium)")
def test_brushing_the_chart_in_jupyterlab_selects_those_runs_in_the_kernel(lab):  # noqa: F811
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("anywidget", reason="anywidget is not installed (it is a dependency of reefnb: reinstall it)")
    url, root = lab
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(READ_BACK), nbformat.v4.new_code_cell("explorer.compare()")]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "explore.ipynb")
    artifacts = Path(os.environ.get("REEF_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.set_default_timeout(90_000)
        try:
            page.goto(f"{url}/lab/tree/explore.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=300_000)  # the kernel is up (a fresh 3.10 venv took over 90 s once)
            run_cell(page, 0)
            marks = page.locator(".jp-OutputArea-output .vega-embed svg g.mark-symbol.role-mark path")
            page.wait_for_function("document.querySelectorAll('.vega-embed svg g.mark-symbol.role-mark path').length === 12", timeout=120_000)
            centres = point_centres(marks)
            xs = [x for x, _ in centres]  # time_ms is 1..12, so the x order is the run order
            top, bottom = min(y for _, y in centres) - 5, max(y for _, y in centres) + 5  # inside the plot (5% padding)
            start, end = (xs[2] + xs[3]) / 2, (xs[6] + xs[7]) / 2  # between runs 2 and 3, and between 6 and 7
            page.mouse.move(start, top)
            page.mouse.down()
            page.mouse.move(end, bottom, steps=12)
            page.mouse.up()
            page.locator(".vega-embed svg .brush_brush, .vega-embed svg g.mark-rect.role-mark path").first.wait_for()
            page.screenshot(path=str(artifacts / "explore-brush.png"))
            brushed = read_selected(page, 1, previous="")
            assert brushed == ["run03", "run04", "run05", "run06"]

            marks.first.scroll_into_view_if_needed()
            page.mouse.click(*point_centres(marks)[9])  # run09 (measured again: running a cell may have scrolled the page)
            clicked = read_selected(page, 1, previous=",".join(brushed))
            assert clicked == ["run09"]
            run_cell(page, 2)
            comparison = page.locator(".jp-NotebookPanel .jp-Cell").nth(2).locator(".reef-compare")
            comparison.wait_for()
            assert "run09" in comparison.inner_text() and "time_ms" in comparison.inner_text()
            page.screenshot(path=str(artifacts / "explore-compare.png"), full_page=True)
        finally:
            if not (artifacts / "explore-brush.png").exists():
                page.screenshot(path=str(artifacts / "explore-brush.png"))
            print(f"screenshots: {artifacts / 'explore-brush.png'} {artifacts / 'explore-compare.png'}")
            browser.close()
    assert errors == []
    outside = [address for address in requests if not address.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))]
    assert outside == [], json.dumps(outside[:5])
