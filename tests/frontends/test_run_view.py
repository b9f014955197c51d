"""The run view: a run's executed notebook in a real JupyterLab opens as that run (issue 31, item 4).

One `jupyter lab` for the module (tests/frontends/test_lab.py's ``running_lab``) serves a copy of hello-sweep whose
run is made through the server (``POST reef/api/runs``, as the sidebar's Run does). The endpoint tests ask that
server over HTTP: ``GET reef/api/run`` (by the notebook's path or the run id) answers the run's parameters,
metrics, files, telemetry and where it ran; what is not a run's notebook is refused in one line; saving over the
executed notebook is refused (a copy saves). The browser test (Debian's Chromium, Playwright) opens the run by
the URL ``/lab?reef-run=RUN_ID``: the tab is named by the run id, no kernel starts, the cells are read-only, and the
sidebar shows the run, not the solution's requirements, runs or export; "Rerun with these parameters" records a
new run with the same parameters, and a relative link to its notebook (as ``.compare()`` writes) opens it the same
way. Screenshots, light and dark, go to $REEF_TEST_ARTIFACTS (else tests/artifacts/): run-view-light.png,
run-view-dark.png.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request

import pytest
from helpers.browser import ARTIFACTS, TOKEN, in_theme, page_error, running_lab, unexpected_page_errors
from helpers.solutions import HELLO


def ask(url: str, method: str, endpoint: str, body: dict | None = None, **query: str) -> tuple[int, dict]:
    """``METHOD url/ENDPOINT?QUERY`` with the token: (status, JSON answer), 4xx answers included."""
    address = f"{url}/{endpoint}?{urllib.parse.urlencode({**query, 'token': TOKEN})}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(address, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(url, root, run): a `jupyter lab` serving a copy of hello-sweep, and the summary of one run made through it."""
    folder = tmp_path_factory.mktemp("run-view")
    root = folder / "root"
    shutil.copytree(HELLO, root / "hello-sweep", ignore=shutil.ignore_patterns("runs", "*.reef.zip", "reef.lock.json"))
    with running_lab(root, folder, folder / "reef-home", "--LabApp.expose_app_in_browser=True") as url:
        status, run = ask(
            url, "POST", "reef/api/runs", {"path": "hello-sweep/main.ipynb", "parameters": {"samples": 1000}}
        )
        assert status == 200 and run["status"] == "ok", run
        yield url, root, run


def test_the_run_page_of_an_executed_notebook(lab):
    url, root, run = lab
    notebook = f"hello-sweep/runs/{run['run_id']}/main.ipynb"
    assert run["output"] == notebook and (root / notebook).is_file()
    status, page = ask(url, "GET", "reef/api/run", path=notebook)
    assert status == 200, page
    assert page["run_id"] == run["run_id"] and page["notebook"] == notebook and page["status"] == "ok"
    assert page["solution"] == {"name": "hello-sweep", "version": "0.1.0", "folder": "hello-sweep"}
    assert page["workflow"] == "run" and page["source"] == "hello-sweep/main.ipynb" and page["rerun"] is None
    assert page["parameters"] == run["parameters"] and page["parameters"]["samples"] == 1000
    assert page["metrics"]["time_ms"]["unit"] == "ms" and page["metrics"]["points"] == {"value": 1000, "unit": "points"}
    assert page["environment"].startswith("kernel python3 · CPython 3.")
    telemetry = {row["name"]: row for row in page["telemetry"]}
    assert telemetry["peak_rss_mb"]["unit"] == "MB" and telemetry["peak_rss_mb"]["value"] > 0
    assert telemetry["samples"]["value"] >= 1
    if "energy_joules" not in telemetry:  # not measured here: the row says why
        assert telemetry["energy"]["value"] is None and telemetry["energy"]["description"]
    assert page["telemetry_series"] == f"hello-sweep/runs/{run['run_id']}/telemetry.csv"
    status, by_id = ask(url, "GET", "reef/api/run", run_id=run["run_id"])
    assert status == 200 and by_id == page


def test_what_is_not_a_runs_notebook_is_refused_in_one_line(lab):
    url, root, run = lab
    stranger = (
        root / "hello-sweep" / "runs" / "20200101T000000Z-0000abcd" / "main.ipynb"
    )  # a run's name, another run's content
    stranger.parent.mkdir()
    shutil.copy(root / run["output"], stranger)
    refused = {
        ("path", "hello-sweep/main.ipynb"): (
            404,
            "hello-sweep/main.ipynb: not a run's executed notebook (SOLUTION/runs/RUN_ID/NAME.ipynb)",
        ),
        ("path", stranger.relative_to(root).as_posix()): (
            404,
            "its metadata.reef.run_id is not 20200101T000000Z-0000abcd",
        ),
        ("path", "../secret.ipynb"): (403, "../secret.ipynb: outside the server's root: refused"),
        ("run_id", "20200101T000000Z-0000abcd"): (404, "run 20200101T000000Z-0000abcd: not recorded in "),
        ("run_id", "a/b"): (400, "'run_id' must be a run's id, as `reef results` shows it"),
    }
    for (argument, value), (expected, message) in refused.items():
        status, answer = ask(url, "GET", "reef/api/run", **{argument: value})
        assert status == expected and message in answer["message"] and "\n" not in answer["message"], (
            argument,
            value,
            answer,
        )
    shutil.rmtree(stranger.parent)


def test_saving_over_a_runs_notebook_is_refused_and_a_copy_saves(lab):
    url, root, run = lab
    path = root / run["output"]
    before = path.read_bytes()
    model = {"type": "notebook", "format": "json", "content": json.loads(before)}
    model["content"]["cells"][0]["source"] = "edited"
    status, answer = ask(url, "PUT", f"api/contents/{run['output']}", model)
    assert status == 403 and "kept as the run left it: not saved" in answer["message"], answer
    assert path.read_bytes() == before
    status, answer = ask(url, "PUT", "api/contents/hello-sweep/edited-copy.ipynb", model)
    assert status == 201 and (root / "hello-sweep" / "edited-copy.ipynb").is_file()
    (root / "hello-sweep" / "edited-copy.ipynb").unlink()


def test_a_run_opens_as_the_run_and_reruns_with_its_parameters(lab, browser):
    url, root, run = lab
    run_id = run["run_id"]
    artifacts = ARTIFACTS
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1300, "height": 820})
    page.on("pageerror", lambda error: errors.append(page_error(error)))
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{url}/lab?reef-run={run_id}&reset&token={TOKEN}")  # the router runs reef:open-run
        panel = page.locator(".jp-NotebookPanel.reef-run-notebook")
        panel.locator(".jp-Cell").first.wait_for(timeout=90_000)
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        assert tab.inner_text() == f"run {run_id}"
        assert panel.locator(".reef-run-label").inner_text() == f"run {run_id} · read-only, no kernel"
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.content.widgets.every(cell => cell.readOnly)"
        )
        assert (
            page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty") is False
        )  # nothing to save

        page.click(".jp-SideBar.jp-mod-right [data-id='reef-sidebar']")
        sidebar = page.locator("#reef-sidebar")
        view = sidebar.locator(f".reef-run-page[data-run='{run_id}']")
        view.wait_for()
        assert view.locator(".reef-run-parameters tr[data-name='samples'] .reef-run-value").inner_text() == "1000"
        assert view.locator(".reef-run-metrics tr[data-name='time_ms'] .reef-run-value").inner_text().endswith(" ms")
        assert (
            view.locator(".reef-run-telemetry tr[data-name='peak_rss_mb'] .reef-run-value").inner_text().endswith(" MB")
        )
        assert view.locator(".reef-run-files a", has_text="executed notebook").count() == 1
        text = sidebar.inner_text()
        for offer in (
            "Export as solution",
            "No runs recorded yet",
            "this notebook alone",
            "Run with parameters",
            "Requirements",
        ):
            assert offer not in text, offer
        assert ask(url, "GET", "api/kernels")[1] == [] and ask(url, "GET", "api/sessions")[1] == []  # no kernel started

        for theme, label in (("light", "JupyterLab Light"), ("dark", "JupyterLab Dark")):
            in_theme(page, label)
            page.screenshot(path=str(artifacts / f"run-view-{theme}.png"))

        view.locator("button[data-command='reef:rerun']").click()
        again = view.locator(".reef-rerun a.reef-run-link")
        again.wait_for(timeout=120_000)
        new_id = again.get_attribute("data-run")
        assert new_id != run_id and view.locator(".reef-rerun").get_attribute("data-status") == "ok"
        status, runs = ask(url, "GET", "reef/api/runs", path="hello-sweep/main.ipynb")
        assert [(item["run_id"], item["parameters"]) for item in runs["runs"]] == [
            (new_id, run["parameters"]),
            (run_id, run["parameters"]),
        ]
        # A relative link to a run's notebook (what .compare() writes) opens its run view, here from a Markdown page.
        (root / "hello-sweep" / "links.md").write_text(f"[the new run](runs/{new_id}/main.ipynb)\n")
        page.evaluate(
            "() => window.jupyterapp.commands.execute('docmanager:open', {path: 'hello-sweep/links.md', "
            "factory: 'Markdown Preview'})"
        )
        page.locator(".jp-RenderedMarkdown a", has_text="the new run").click()
        tab.filter(has_text=f"run {new_id}").wait_for()
        sidebar.locator(f".reef-run-page[data-run='{new_id}']").wait_for()
        assert page.locator(".jp-NotebookPanel.reef-run-notebook").count() == 2
        assert ask(url, "GET", "api/sessions")[1] == []
    except Exception:
        page.screenshot(path=str(artifacts / "run-view-failure.png"))
        print("sidebar:", page.locator("#reef-sidebar").inner_text())
        raise
    finally:
        page.close()
    print("screenshots:", artifacts / "run-view-light.png", artifacts / "run-view-dark.png")
    assert unexpected_page_errors(errors) == []  # JupyterLab's widget manager throws on a notebook with no kernel
    assert sorted(path.name for path in (root / run["output"]).parent.glob("*.ipynb")) == [
        "main.ipynb"
    ]  # the tab's name is no rename
