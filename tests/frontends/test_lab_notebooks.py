"""Every notebook in notebooks/, run top to bottom in a real JupyterLab through Debian's Chromium, as a new user would.

`jupyter lab` serves a copy of notebooks/ and solutions/ (so `../solutions/hello-sweep` resolves as in the
repository) with the Reef extension this environment installed. For each notebook the test runs all cells
and asserts, in the browser's own notebook model and page: no cell holds an error or a stderr output (no
papermill "Passed unknown parameter" alarm either), every widget rendered (no "Error displaying widget"),
and, for declare-dependencies.ipynb, that `%reef require` without --notebook changed the open notebook's
model (metadata.reef) before any save, with the file on disk untouched until JupyterLab saves it.
Screenshots, light and dark theme, go to $REEF_TEST_ARTIFACTS (else tests/artifacts/, git-ignored):
lab-<notebook>-light.png and lab-<notebook>-dark.png.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.browser import ARTIFACTS, TOKEN, in_theme, running_lab
from helpers.solutions import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# The cell each screenshot starts from (the part of the notebook a reader looks for), by notebook.
SHOWN_CELL = {"quickstart.ipynb": 7, "python-quickstart.ipynb": 9, "declare-dependencies.ipynb": 19}

# In the page: the current notebook panel and its model (window.jupyterapp: --LabApp.expose_app_in_browser).
_PANEL = "window.jupyterapp.shell.currentWidget"
_FINISHED = f"""() => {{
  const panel = {_PANEL};
  if (!panel || !panel.model || !panel.sessionContext.session?.kernel) return false;
  const cells = Array.from(panel.model.cells).filter(cell => cell.type === 'code');
  return panel.sessionContext.session.kernel.status === 'idle' && cells.every(cell => cell.executionCount !== null);
}}"""
_OUTPUTS = f"""() => Array.from({_PANEL}.model.cells).filter(cell => cell.type === 'code').map(cell => ({{
  source: cell.sharedModel.getSource(), tags: cell.getMetadata('tags') || [], outputs: cell.outputs.toJSON()
}}))"""
# Widget outputs in the model, and widget views rendered in the page.
_VIEWS = f"""Array.from({_PANEL}.model.cells).flatMap(cell => cell.type === 'code' ? cell.outputs.toJSON() : [])
  .filter(output => output.data && output.data['application/vnd.jupyter.widget-view+json']).length"""
_RENDERED = f"{_PANEL}.node.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets').length"
# --jp-layout-color0 in each theme's stylesheet: the page has the theme once its body has that colour.


@pytest.fixture
def lab_root(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(
        REPO / "solutions", root / "solutions", ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json")
    )
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    return root


def test_every_notebook_runs_clean_in_jupyterlab(lab_root, tmp_path, reef_home, browser):
    artifacts = ARTIFACTS
    problems: dict[str, list] = {}
    with running_lab(lab_root, tmp_path, reef_home, "--LabApp.expose_app_in_browser=True") as url:
        for notebook in NOTEBOOKS:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(60_000)
            page_errors: list[str] = []
            page.on("pageerror", lambda error, errors=page_errors: errors.append(str(error)))
            try:
                problems[notebook.name] = run_notebook(page, url, lab_root, notebook.name, artifacts) + page_errors
            finally:
                page.close()
    print("screenshots:", *sorted(str(path) for path in artifacts.glob("lab-*.png")))
    assert problems == {notebook.name: [] for notebook in NOTEBOOKS}


def run_notebook(page, url: str, root: Path, name: str, artifacts: Path) -> list:
    """Open ``notebooks/NAME`` in JupyterLab, run all its cells, screenshot it; the problems found."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # optional: the test skips without it

    page.goto(
        f"{url}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}?reset&token={TOKEN}"
    )  # a workspace of its own
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    # The first kernel of a fresh venv compiles what it imports (PYTHONDONTWRITEBYTECODE): once it took over 120 s
    # on a loaded 2-core CI machine. Polled every 250 ms, not per animation frame.
    page.wait_for_function(
        f"() => {_PANEL}?.sessionContext?.session?.kernel?.status === 'idle'", timeout=300_000, polling=250
    )
    print(f"{name}: kernel idle, running all cells", flush=True)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(_FINISHED, timeout=600_000, polling=250)
    print(f"{name}: every cell ran", flush=True)

    problems = []
    for cell in page.evaluate(_OUTPUTS):
        for output in cell["outputs"]:
            if output["output_type"] == "error" or (
                output["output_type"] == "stream" and output.get("name") == "stderr"
            ):
                problems.append({"cell": cell["source"], "output": output})
            html = (output.get("data") or {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            if "reef-message reef-error" in html and "reef-error-expected" not in cell["tags"]:
                problems.append({"cell": cell["source"], "red message": html})
    notebook_node = page.locator(".jp-NotebookPanel:visible")
    try:  # widget views render after their models arrive: until every one has (a view that never does is counted below)
        page.wait_for_function(
            f"() => ({_RENDERED}) >= ({_VIEWS}) && !{_PANEL}.node.textContent.includes('Loading widget...')",
            timeout=30_000,
            polling=100,
        )
    except PlaywrightTimeoutError:
        pass
    for text in ("Error displaying widget", "Loading widget..."):
        if notebook_node.get_by_text(text).count():
            problems.append(f"{text} ({notebook_node.get_by_text(text).count()}x)")
    views = page.evaluate(f"() => {_VIEWS}")
    rendered = page.evaluate(f"() => {_RENDERED}")
    if rendered < views:
        problems.append(f"{views} widget outputs, {rendered} rendered")
    if name == "declare-dependencies.ipynb":
        problems += check_declaration_in_model(page, root / "notebooks" / name)
    screenshots(page, name, artifacts)
    page.evaluate(f"() => {_PANEL}.sessionContext.shutdown()")  # the next notebook has the machine to itself
    return problems


def check_declaration_in_model(page, path: Path) -> list:
    """`%reef require nbformat>=5` (no --notebook) went to the browser's model, not the file; a save writes it."""
    declared = page.evaluate(f"() => {_PANEL}.model.getMetadata('reef') ?? null")
    dirty = page.evaluate(f"() => {_PANEL}.model.dirty")
    on_disk = json.loads(path.read_text())["metadata"].get("reef")
    problems = []
    if declared != {"requires": {"packages": ["nbformat>=5"]}}:
        problems.append(f"the model's metadata.reef: {declared!r}")
    if not dirty or on_disk is not None:
        problems.append(f"before any save: dirty={dirty}, on disk: {on_disk!r}")
    if not page.get_by_text("(the open notebook: saved with it)").count():
        problems.append("the declaring cell does not say where the declaration went")
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(f"() => !{_PANEL}.model.dirty")
    if page.locator(".jp-Dialog").count():  # "File Changed" would mean reef rewrote the file under the editor
        problems.append(f"a dialog on save: {page.locator('.jp-Dialog').inner_text()}")
    saved = json.loads(path.read_text())["metadata"].get("reef")
    if saved != {"requires": {"packages": ["nbformat>=5"]}}:
        problems.append(f"saved metadata.reef: {saved!r}")
    return problems


def screenshots(page, name: str, artifacts: Path) -> None:
    """The notebook from its SHOWN_CELL, in the light theme and then the dark one."""
    stem = Path(name).stem
    page.evaluate(f"""() => {{
      const panel = {_PANEL};
      panel.content.activeCellIndex = {SHOWN_CELL.get(name, 0)};
      panel.content.activeCell.node.scrollIntoView({{block: 'start'}});
    }}""")
    for theme, label in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
        in_theme(page, label)
        page.screenshot(path=str(artifacts / f"lab-{stem}-{theme}.png"))
