"""`reefnb.explore` in a real JupyterLab, driven through Debian's Chromium with Playwright.

One `jupyter lab` and one Chromium serve the module. The first test draws the explorer of 12 runs, drags a brush
over part of the chart and reads back, through a cell it executes, that the kernel's ``explorer.selected`` holds
exactly the runs in the brushed range; then a click on one point selects that run and ``explorer.compare()``
renders. The second opens the explorer of 12 recorded runs of hello-sweep beside JupyterLab's file browser, with its
output 700 px wide and then 600 px, in the light theme and the dark one: the controls wrap instead of
overflowing (no toggle stacked, "log y" whole, every filter in view), the chart takes the output's width, nothing
scrolls but a table inside its own box; the tables show each column once, defaulted parameters as their default
and whole numbers as ints; ``.compare()`` of 4 runs has headers that do not overlap, each a link to the run's
executed notebook. Screenshots go to $REEF_TEST_ARTIFACTS (else tests/artifacts/): explore-brush.png,
explore-compare.png, explore-700-light.png, explore-700-dark.png, explore-compare-4-light.png,
explore-compare-4-dark.png.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from helpers.browser import ARTIFACTS, TOKEN, in_theme, page_error, running_lab, unexpected_page_errors
from helpers.records import sweep_record
from helpers.solutions import HELLO, write_notebook

pytest.importorskip("anywidget", reason="anywidget is not installed (it is a dependency of reefnb: reinstall it)")

SETUP = """import pandas as pd
import reefnb
frame = pd.DataFrame({"run_id": [f"run{i:02d}" for i in range(12)], "status": "ok",
                      "metric.time_ms": [float(i + 1) for i in range(12)],
                      "metric.abs_error": [0.2 / (i + 1) + 0.01 * (i % 3) for i in range(12)],
                      "param.method": ["random", "stratified"] * 6})
explorer = reefnb.explore(frame, objectives={"time_ms": "min", "abs_error": "min"}, color="param.method")
explorer"""
READ_BACK = 'print("SELECTED=" + ",".join(sorted(explorer.selected["run_id"])))'
RECORDED = "import reefnb\nexplorer = reefnb.explore('hello-sweep')\nexplorer"
COMPARE = "explorer.compare(explorer.frame['run_id'].head(4))"

# What the page shows of the explorer's layout, measured in the browser: the output's width, what reaches past its
# right edge (a table's cells apart: they scroll inside their box), what scrolls, the toggles' rows and clipping,
# the checkboxes' labels, the filters, the chart's width and the tables' headers.
LAYOUT = """() => {
  const explorer = document.querySelector('.reef-explorer');
  const output = explorer.closest('.jp-OutputArea-output');
  const right = output.getBoundingClientRect().right;
  const clipped = el => el.scrollWidth > el.clientWidth + 1;
  const outside = Array.from(explorer.querySelectorAll('*'))
    .filter(el => !el.closest('.reef-table-box table') && el.getBoundingClientRect().width > 0
      && el.getBoundingClientRect().right > right + 1)
    .map(el => el.tagName + '.' + String(el.className.baseVal ?? el.className).split(' ').slice(-1)[0]);
  const scrolling = [output, ...explorer.querySelectorAll('*')]
    .filter(el => clipped(el) && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)
      && !el.classList.contains('reef-table-box'))
    .map(el => String(el.className));
  const toggles = Array.from(explorer.querySelectorAll('.widget-toggle-buttons')).map(group => {
    const buttons = Array.from(group.querySelectorAll('button'));
    return {rows: new Set(buttons.map(b => Math.round(b.getBoundingClientRect().top))).size,
            clipped: buttons.filter(clipped).length};
  });
  const checkboxes = Array.from(explorer.querySelectorAll('.widget-checkbox')).map(box => ({
    text: box.innerText.trim(), inside: box.getBoundingClientRect().right <= right + 1, clipped: clipped(box)}));
  const filters = Array.from(explorer.querySelectorAll('.widget-select-multiple')).map(filter => ({
    name: filter.querySelector('label').innerText,
    options: Array.from(filter.querySelectorAll('option')).map(o => o.innerText),
    inside: filter.getBoundingClientRect().right <= right + 1 && filter.getBoundingClientRect().height > 0}));
  const table = explorer.querySelector('.reef-frontier');
  return {width: output.clientWidth, outside, scrolling, toggles, checkboxes, filters,
          chart: explorer.querySelector('.vega-embed svg').getBoundingClientRect().width,
          headers: Array.from(table.querySelectorAll('th')).map(th => th.innerText.replace(/\\s+/g, '')),
          rows: Array.from(table.querySelectorAll('tbody tr'))
            .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))};
}"""
COMPARED = """() => {
  const table = document.querySelector('.reef-compare table');
  const heads = Array.from(table.querySelectorAll('thead th')).slice(1).map(th => th.getBoundingClientRect());
  const overlaps = heads.slice(1).filter((box, index) => box.left < heads[index].right - 0.5).length;
  const clipped = Array.from(table.querySelectorAll('th, td'))
    .filter(cell => cell.scrollWidth > cell.clientWidth + 1).length;
  const links = Array.from(table.querySelectorAll('thead a'))
    .map(a => [a.innerText.replace(/\\s+/g, ''), a.getAttribute('href')]);
  const rows = Object.fromEntries(Array.from(table.querySelectorAll('tbody tr')).map(tr => [
    tr.querySelector('th').innerText,
    Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim())]));
  const edge = table.closest('.jp-OutputArea-output').getBoundingClientRect().right;
  return {overlaps, clipped, links, rows, fits: table.getBoundingClientRect().right <= edge + 1};
}"""


def recorded_runs(root: Path, home: Path) -> list[str]:
    """12 ok runs of hello-sweep in its copy under ``root``, recorded in the store under ``home``: three sample sizes,
    two methods, two environments, a seed given to three of them (the others ran with the notebook's default, 0),
    each with an executed notebook where reef keeps it
    (runs/RUN_ID/main.ipynb). The records as the dashboard's tests'."""
    from reefnb.runs.store import Store

    records = []
    for index in range(12):
        method, samples, environment = (
            "stratified" if index % 2 else "random",
            [1000, 20000, 100000][index % 3],
            "laptop" if index % 2 else "server",
        )
        entry = sweep_record(index, method, samples, 1.0 + index, 0.2 / (index + 1) + 0.01 * (index % 3), environment)
        output = root / "hello-sweep" / "runs" / entry["run_id"] / "main.ipynb"
        output.parent.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), output)
        entry["notebook"]["output_path"], entry["solution"]["path"], entry["workflow"] = (
            str(output),
            str(root / "hello-sweep"),
            "run",
        )
        entry["parameters"].update({"seed": 7} if index % 4 == 1 else {})
        entry["environment"]["packages"] = {"numpy": "2.4.6" if index % 2 else "2.3.0", "pandas": "3.1.1"}
        records.append(entry)
    Store(home / "results.sqlite").add_many(records)
    return [entry["run_id"] for entry in records]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One `jupyter lab` for the module, serving a copy of hello-sweep with 12 recorded runs and the two notebooks;
    yields (url, root, run ids)."""
    base = tmp_path_factory.mktemp("explore-lab")
    root, home = base / "root", base / "reef-home"
    shutil.copytree(HELLO, root / "hello-sweep", ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json"))
    runs = recorded_runs(root, home)
    write_notebook(root / "explore.ipynb", None, SETUP, READ_BACK, "explorer.compare()")
    write_notebook(root / "recorded.ipynb", None, RECORDED, COMPARE)
    with running_lab(root, base, home, "--LabApp.expose_app_in_browser=True") as url:
        yield url, root, runs


@pytest.fixture
def page(browser):
    """A page that records the page's errors and every address it asks for (nothing may leave 127.0.0.1)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    page.errors, page.requests = [], []
    page.on("pageerror", lambda error: page.errors.append(page_error(error)))
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    page.close()
    outside = [
        address
        for address in page.requests
        if not address.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
    ]
    errors = unexpected_page_errors(page.errors)  # the last test opens a run view: a notebook with no kernel
    assert errors == [] and outside == [], json.dumps({"errors": errors, "outside": outside[:5]})


def open_notebook(page, url: str, name: str) -> None:
    page.goto(
        f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}?token={TOKEN}"
    )  # a workspace each: only this notebook open
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(
        timeout=300_000
    )  # the kernel is up (a fresh 3.10 venv took over 90 s once)


def run_cell(page, index: int) -> None:
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def read_selected(page, index: int, previous: str | None = None) -> list[str]:
    """Run the read-back cell until its output differs from ``previous`` (the widget's messages are asynchronous)."""
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(index)
    output = cell.locator(".jp-OutputArea-output")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        before = cell.locator(".jp-InputArea-prompt").inner_text()
        run_cell(page, index)
        page.wait_for_function(  # this run is done: its prompt has a new number, not [*]
            "([cell, before]) => { const prompt = cell.querySelector('.jp-InputArea-prompt').textContent;"
            " return prompt !== before && !prompt.includes('*'); }",
            arg=[cell.element_handle(), before],
        )
        text = output.first.inner_text() if output.count() else ""
        found = re.search(r"SELECTED=(\S*)", text)
        if found and found.group(1) != previous:
            return [run for run in found.group(1).split(",") if run]
    pytest.fail(f"the kernel's selection did not change (still {previous!r})")


def point_centres(marks) -> list[tuple[float, float]]:
    """The chart's points on the page, left to right."""
    return sorted(
        (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for box in (marks.nth(index).bounding_box() for index in range(marks.count()))
    )


def output_width(page, width: int) -> dict:
    """Resize the page so that the explorer's output is ``width`` px wide; its layout once the chart has followed."""
    measured = page.evaluate(
        "() => document.querySelector('.reef-explorer').closest('.jp-OutputArea-output').clientWidth"
    )
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"] + width - measured, "height": viewport["height"]})
    page.wait_for_function(
        f"""() => {{ const output = document.querySelector('.reef-explorer').closest('.jp-OutputArea-output');
        const chart = document.querySelector('.reef-explorer .vega-embed svg').getBoundingClientRect().width;
        return output.clientWidth === {width} && Math.abs(chart - {width}) < 2; }}""",
        polling=100,
    )
    return page.evaluate(LAYOUT)


def test_brushing_the_chart_in_jupyterlab_selects_those_runs_in_the_kernel(lab, page):
    url, _, _ = lab
    open_notebook(page, url, "explore.ipynb")
    run_cell(page, 0)
    marks = page.locator(".jp-OutputArea-output .vega-embed svg g.mark-symbol.role-mark path")
    page.wait_for_function(
        "document.querySelectorAll('.vega-embed svg g.mark-symbol.role-mark path').length === 12", timeout=120_000
    )
    centres = point_centres(marks)
    xs = [x for x, _ in centres]  # time_ms is 1..12, so the x order is the run order
    top, bottom = min(y for _, y in centres) - 5, max(y for _, y in centres) + 5  # inside the plot (5% padding)
    start, end = (xs[2] + xs[3]) / 2, (xs[6] + xs[7]) / 2  # between runs 2 and 3, and between 6 and 7
    page.mouse.move(start, top)
    page.mouse.down()
    page.mouse.move(end, bottom, steps=12)
    page.mouse.up()
    page.locator(".vega-embed svg .brush_brush, .vega-embed svg g.mark-rect.role-mark path").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "explore-brush.png"))
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
    page.screenshot(path=str(ARTIFACTS / "explore-compare.png"), full_page=True)


def test_the_explorer_and_compare_fit_a_notebook_beside_the_sidebar_in_both_themes(lab, page):
    url, _, runs = lab
    open_notebook(page, url, "recorded.ipynb")
    assert page.locator(".jp-FileBrowser").is_visible()  # the left sidebar is open beside the notebook
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".reef-explorer .vega-embed svg g.mark-symbol path", timeout=120_000)
    page.wait_for_selector(".reef-compare")
    layouts = {}
    for theme, label in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
        in_theme(page, label)
        for width in (700, 600):
            layouts[theme, width] = output_width(page, width)
            if width == 700:
                page.evaluate(
                    "() => document.querySelector('.jp-NotebookPanel .jp-Cell').scrollIntoView({block: 'start'})"
                )
                page.screenshot(path=str(ARTIFACTS / f"explore-700-{theme}.png"))
    for (theme, width), layout in layouts.items():
        where = f"{theme}, {width} px: {json.dumps(layout)[:1500]}"
        assert layout["width"] == width and abs(layout["chart"] - width) < 2, (
            where
        )  # the chart takes the output's width
        assert layout["outside"] == [] and layout["scrolling"] == [], (
            where
        )  # nothing past the edge, no second scrollbar
        assert layout["toggles"] == [{"rows": 1, "clipped": 0}] * 2, where  # min and max side by side, whole
        assert [box["text"] for box in layout["checkboxes"]] == ["log x", "log y"], where
        assert all(box["inside"] and not box["clipped"] for box in layout["checkboxes"]), where
        assert all(filter_["inside"] for filter_ in layout["filters"]), where
    layout = layouts["light", 700]
    assert {filter_["name"]: filter_["options"] for filter_ in layout["filters"]} == {
        "method": ["random", "stratified"],
        "samples": ["1000", "20000", "100000"],  # in numeric order
        "seed": ["0", "7"],  # the runs given no seed ran with the notebook's default, 0
        "env.name": ["laptop", "server"],
    }
    headers = layout["headers"]
    assert headers == [
        "run_id",
        "env.name",
        "param.method",
        "param.samples",
        "param.seed",
        "metric.time_ms[ms]",
        "metric.abs_error",
    ]
    seeds = {row[0]: row[headers.index("param.seed")] for row in layout["rows"]}
    assert seeds and set(seeds.values()) <= {"0", "7"} and seeds.get(runs[1], "7") == "7"

    comparison = page.locator(".reef-compare")
    comparison.scroll_into_view_if_needed()
    for theme, label in (("dark", "JupyterLab Dark"), ("light", "JupyterLab Light")):
        in_theme(page, label)
        compared = page.evaluate(COMPARED)
        assert compared["overlaps"] == 0 and compared["clipped"] == 0 and compared["fits"], json.dumps(compared)
        comparison.screenshot(path=str(ARTIFACTS / f"explore-compare-4-{theme}.png"))
    # Each run id links to its executed notebook (JupyterLab turns the relative link into the file's address and opens
    # it in the app: as a run view where the Reef extension has one, else as the notebook).
    assert [(run, href.split("?")[0]) for run, href in compared["links"]] == [
        (run, f"{url}/files/hello-sweep/runs/{run}/main.ipynb") for run in runs[:4]
    ]
    comparison.locator("thead a").nth(1).click()
    opened = f"""() => Array.from(window.jupyterapp.shell.widgets('main')).some(widget =>
        widget.title.label.includes('{runs[1]}')
        || (widget.context && widget.context.path === 'hello-sweep/runs/{runs[1]}/main.ipynb'))"""
    page.wait_for_function(opened, polling=200)
    assert compared["rows"]["param.seed"] == ["0", "7", "0", "0"] and compared["rows"]["param.samples"] == [
        "1000",
        "20000",
        "100000",
        "1000",
    ]
