"""The Reef sidebar on the flagship after a benchmark, in a real JupyterLab through Debian's Chromium (issue 31, items
1 and 5): requirements checked where the solution runs ("checked against kernel python3"), one badge per state
(missing, skipped for another platform, on demand), what Install would change above the button that says the same,
"Run with parameters" only for a notebook with parameters, an invalid value that says why Run is disabled, the
requirements again after ``%reef require`` into the open notebook (not saved), text that wraps between words.

One JupyterLab and one Chromium for the module; the benchmark is one point of the flagship's ``benchmark`` grid
(TFLite fp32 of the small detector) on the kernel its notebook names, recorded before the server starts. Screenshots
of the sidebar, light and dark, go to $REEF_TEST_ARTIFACTS (else tests/artifacts/).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.browser import CHROMIUM, CHROMIUM_ARGS, TOKEN, running_lab
from helpers.solutions import REPO, write_notebook

from reefnb.frontends import commands
from reefnb.runs.spec import SweepSpec

FLAGSHIP = REPO / "solutions" / "obj-detection-coco-tf"
THEME_COLOUR = {"JupyterLab Light": "white", "JupyterLab Dark": "#111"}  # --jp-layout-color0 of each theme
PAGE_ERRORS: list[str] = []  # uncaught errors of the page, all tests of the module
ARTIFACTS = Path(os.environ.get("REEF_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the flagship, after one benchmark run, and a notebook of no solution; yields (url, root)."""
    tmp_path = tmp_path_factory.mktemp("lab-sidebar")
    root, reef_home = tmp_path / "root", tmp_path / "reef-home"
    shutil.copytree(
        FLAGSHIP,
        root / "flagship",
        ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json", "__pycache__"),
    )
    write_notebook(root / "plain" / "notes.ipynb", None, "%load_ext reefnb", "%reef require reef-no-such-package")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REEF_HOME", str(reef_home))
        grid = {"model": ["ssd-mobilenet-tiny-w050-96"], "backend": ["tflite"]}
        spec = SweepSpec.from_options(solution=root / "flagship", workflow="benchmark", grid=grid, jobs=1)
        [record] = commands.sweep(spec)
        assert record["status"] == "ok" and record["environment"]["kernel"] == "python3", record.get("error")
        with running_lab(root, tmp_path, reef_home, "--LabApp.expose_app_in_browser=True") as url:
            yield url, root


@pytest.fixture(scope="module")
def page(lab):
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install -y chromium)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)))
        page.set_default_timeout(90_000)
        yield page
        browser.close()


def open_in_sidebar(page, url: str, path: str):
    page.goto(f"{url}/lab/tree/{path}?token={TOKEN}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    sidebar = page.locator("#reef-sidebar")
    if not sidebar.is_visible():
        page.click(".jp-SideBar.jp-mod-right [data-id='reef-sidebar']")
    sidebar.locator(".reef-path", has_text=path).wait_for()  # this notebook's (the workspace may restore another first)
    sidebar.locator(".reef-checked").wait_for()
    return sidebar


def in_theme(page, label: str) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{label}'}})")
    colour = (
        f"getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim() === '{THEME_COLOUR[label]}'"
    )
    page.wait_for_function(f"() => document.body.dataset.jpThemeName === '{label}' && {colour}", polling=100)
    page.evaluate("() => new Promise(painted => requestAnimationFrame(() => requestAnimationFrame(painted)))")


def test_the_flagship_sidebar_after_a_benchmark_says_where_it_runs(lab, page):
    url, _ = lab
    sidebar = open_in_sidebar(page, url, "flagship/benchmark.ipynb")
    checked = sidebar.locator(".reef-checked")
    # The development kernel has every package: found there, nothing orange for what is not this platform's or fetched later.
    assert (
        checked.inner_text().startswith("checked against kernel python3: ")
        and checked.get_attribute("data-place") == "kernel python3"
    )
    assert "1 skipped (for another platform), 3 fetched on demand" in checked.inner_text()
    rows = sidebar.locator(".reef-requirements tr")
    status = {
        rows.nth(index).get_attribute("data-name"): rows.nth(index).get_attribute("data-status")
        for index in range(rows.count())
    }
    assert (
        status["numpy"] == status["tensorflow-cpu"] == status["synthetic-50"] == "found"
    )  # generated by the benchmark's run
    assert status["tensorflow"] == "skipped" and status["ssd-mobilenet-v1-coco"] == "on demand"
    colours = page.evaluate(
        """() => Object.fromEntries(['skipped', 'on-demand', 'missing', 'found'].map(word => {
             const badge = document.querySelector(`#reef-sidebar .reef-status-${word}`);
             return [word, badge ? getComputedStyle(badge).backgroundColor : null];
           }))"""
    )
    assert len({colours["skipped"], colours["on-demand"], colours["missing"]}) == 3, (
        colours
    )  # three states, three colours
    for index in range(rows.count()):  # every row not found says why
        if rows.nth(index).get_attribute("data-status") != "found":
            assert len(rows.nth(index).locator(".reef-line").all()) >= 2, rows.nth(index).inner_text()
    # What the button would change, before it does, in the button's own words.
    button = sidebar.locator(".reef-requirements button[data-command='reef:install']")
    label = button.inner_text()
    assert label in ("Install missing", "Make its own environment")
    changes = sidebar.locator(".reef-changes").inner_text()
    assert changes.startswith(f"{label} would:") and "make environment obj-detection-coco-tf" in changes
    assert "instead of kernel python3: points recorded on kernel python3 run again there" in changes
    runs = sidebar.locator(".reef-runs tr[data-run]")
    assert (
        runs.count() == 1
        and runs.first.get_attribute("data-status") == "ok"
        and "backend=tflite" in runs.first.inner_text()
    )
    # Text wraps between words (a long word, a path, breaks where it must): nothing breaks every word mid-way.
    assert page.evaluate(
        "() => [...document.querySelectorAll('#reef-sidebar *')].every(node => getComputedStyle(node).wordBreak !== 'break-all')"
    )
    overflowing = page.evaluate(
        """() => { const side = document.querySelector('#reef-sidebar');
                  return [...side.querySelectorAll('table, .reef-changes, .reef-checked')]
                    .filter(node => node.getBoundingClientRect().right > side.getBoundingClientRect().right + 1).map(node => node.className); }"""
    )
    assert overflowing == []  # tables and notes fit the sidebar's width
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for theme, label_of_theme in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
        in_theme(page, label_of_theme)
        sidebar.screenshot(path=str(ARTIFACTS / f"sidebar-flagship-after-benchmark-{theme}.png"))
    in_theme(page, "JupyterLab Light")
    assert PAGE_ERRORS == []


def test_an_invalid_value_says_why_run_is_disabled(lab, page):
    url, _ = lab
    sidebar = open_in_sidebar(page, url, "flagship/benchmark.ipynb")
    sidebar.locator("button[data-command='reef:run-with-parameters']", has_text="Run with parameters…").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input[name='threads']").fill("999")  # at most 64
    accept = dialog.locator("button.jp-mod-accept")
    page.wait_for_function("() => document.querySelector('.jp-Dialog button.jp-mod-accept').disabled")
    problem = dialog.locator(".reef-parameter-error[data-parameter='threads']")
    assert "64" in problem.inner_text(), problem.inner_text()
    assert (
        dialog.locator(".reef-parameters-blocked")
        .inner_text()
        .startswith("Run is disabled until every value is valid (threads: ")
    )
    dialog.locator("input[name='threads']").fill("2")
    page.wait_for_function("() => !document.querySelector('.jp-Dialog button.jp-mod-accept').disabled")
    assert (
        problem.inner_text() == ""
        and not dialog.locator(".reef-parameters-blocked").is_visible()
        and accept.is_enabled()
    )
    dialog.locator("button.jp-mod-reject").click()


def test_a_notebook_without_parameters_and_a_declaration_into_it(lab, page):
    url, root = lab
    sidebar = open_in_sidebar(page, url, "plain/notes.ipynb")
    assert sidebar.locator(".reef-requirements .reef-note", has_text="Nothing required.").count() == 1
    actions = sidebar.locator(".reef-actions button")
    assert "Run with parameters…" not in actions.all_inner_texts() and "Run" in actions.all_inner_texts()
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=300_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    row = sidebar.locator(".reef-requirements tr[data-name='reef-no-such-package']")
    row.wait_for(timeout=120_000)  # the sidebar checked again, with the editor's metadata
    assert row.get_attribute("data-status") == "missing" and "not installed" in row.inner_text()
    assert (
        "reef" not in json.loads((root / "plain" / "notes.ipynb").read_text())["metadata"]
    )  # not saved: the sidebar sent the model's
    assert PAGE_ERRORS == []
