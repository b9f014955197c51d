"""The Reef sidebar in a real JupyterLab, driven through Debian's Chromium with Playwright.

`jupyter lab` starts on 127.0.0.1 with a token in a temporary folder, with the extension as this
environment installed it (`make setup` builds extension/ and links it into .venv). The test opens a
notebook, opens the Reef sidebar, sees its requirements and runs, runs with a parameter through the
dialog, exports, finds the package on disk, and opens the dashboard. The screenshots are kept in
$REEF_TEST_ARTIFACTS (else tests/artifacts/, git-ignored); the test prints where.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
from helpers.browser import ARTIFACTS, TOKEN, running_lab
from helpers.solutions import HELLO

import reefnb


@pytest.fixture
def lab(tmp_path, reef_home):
    """A `jupyter lab` on 127.0.0.1 serving a copy of hello-sweep, with one run recorded; yields (url, root)."""
    root = tmp_path / "root"
    shutil.copytree(HELLO, root / "hello-sweep", ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json"))
    reefnb.run(root / "hello-sweep", parameters={"samples": 1000})
    with running_lab(root, tmp_path, reef_home) as url:
        with urllib.request.urlopen(
            f"{url}/reef/api/notebook?path=hello-sweep/main.ipynb&token={TOKEN}", timeout=30
        ) as answer:
            assert json.load(answer)["solution"]["name"] == "hello-sweep"  # the server extension is enabled
        yield url, root


def test_reef_sidebar_runs_with_a_parameter_and_exports(lab, tmp_path, browser):
    url, root = lab
    errors: list[str] = []
    artifacts = ARTIFACTS  # kept after the run (git-ignored)
    screenshot = artifacts / "reef-sidebar.png"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{url}/lab/tree/hello-sweep/main.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)

        page.click(".jp-SideBar.jp-mod-right [data-id='reef-sidebar']")  # open the Reef sidebar
        sidebar = page.locator("#reef-sidebar")
        sidebar.locator(".reef-solution-name", has_text="hello-sweep@0.1.0").wait_for()
        numpy = sidebar.locator(".reef-requirements tr[data-name='numpy']")
        numpy.wait_for()
        assert numpy.get_attribute("data-status") in ("found", "missing")
        assert sidebar.locator(".reef-requirements button[data-command='reef:install']").count() == 1
        runs = sidebar.locator(".reef-runs tr[data-run]")
        runs.first.wait_for()
        assert runs.count() == 1 and "samples=1000" in runs.first.inner_text()

        sidebar.locator("button[data-command='reef:run-with-parameters']").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input[name='samples']").fill("4321")
        dialog.locator("select[name='method']").select_option("stratified")
        dialog.locator("button.jp-mod-accept").click()
        page.wait_for_function(
            "document.querySelectorAll('#reef-sidebar .reef-runs tr[data-run]').length === 2", timeout=120_000
        )
        newest = runs.first
        assert newest.get_attribute("data-status") == "ok", newest.inner_text()
        assert "samples=4321" in newest.inner_text() and "method=stratified" in newest.inner_text()
        assert "abs_error=" in newest.inner_text()

        sidebar.locator("button[data-command='reef:export']").click()
        link = sidebar.locator(".reef-exported a")
        link.wait_for(timeout=60_000)
        package = root / link.inner_text()
        assert "/files/" in link.get_attribute("href") and "download=1" in link.get_attribute("href")
        page.get_by_text("wrote hello-sweep/hello-sweep-0.1.0.reef.zip").first.wait_for()  # the notification
        page.screenshot(path=str(screenshot))

        sidebar.locator("button[data-command='reef:open-dashboard']").click()
        dashboard = page.frame_locator(".jp-MainAreaWidget iframe[sandbox]")
        dashboard.locator("svg .mark-symbol path").first.wait_for(timeout=90_000)
        page.screenshot(path=str(artifacts / "reef-dashboard.png"))
    finally:
        if not screenshot.exists():
            page.screenshot(path=str(screenshot))
        print(f"screenshots: {screenshot} {artifacts / 'reef-dashboard.png'}")
        page.close()
    assert package == root / "hello-sweep" / "hello-sweep-0.1.0.reef.zip" and package.is_file()
    imported = reefnb.import_package(package, tmp_path / "imported")
    records = [json.loads(path.read_text()) for path in (imported / "results").glob("*.json")]
    assert sorted(record["parameters"]["samples"] for record in records) == [1000, 4321]
    assert errors == []
