"""Chromium for pages, and JupyterLab for the sidebar and widgets: the one place that launches a browser.

The fixtures (conftest registers them for the whole suite): ``browser``, one headless Chromium per test module,
and ``chromium``, which launches a test's own with more arguments; both skip the test where Chromium or Playwright is
missing. ``running_lab`` starts ``jupyter lab`` on 127.0.0.1 with ``TOKEN``; ``in_theme`` switches its theme.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from helpers.servers import free_port, stop_process, wait_until
from helpers.solutions import REPO

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NO_CHROMIUM = "no chromium on this machine (apt-get install -y chromium)"
TOKEN = "reef-test-token"
THEME_COLOUR = {"JupyterLab Light": "white", "JupyterLab Dark": "#111"}  # --jp-layout-color0 once the theme is on
ARTIFACTS = Path(os.environ.get("REEF_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))  # screenshots (git-ignored)


def page_error(error) -> str:
    """A ``pageerror`` event's error as its message and the stack it was thrown in: what a test keeps of it."""
    return f"{error.message}\n{error.stack or ''}".strip()


def unexpected_page_errors(errors: list[str]) -> list[str]:
    """``errors`` (``page_error``'s) without JupyterLab's widget manager's error on a notebook with no kernel.

    @jupyter-widgets/jupyterlab-manager (jupyterlab_widgets 3.0) reads ``sessionContext.session.kernel.id`` of every
    notebook once its session context is ready, which throws for a notebook without a kernel (a run view, any "No
    Kernel" notebook); it is left out only when the stack says it was thrown there, so reef's own code never is."""
    return [
        error
        for error in errors
        if not (
            error.startswith("Cannot read properties of null (reading 'kernel')")
            and "@jupyter-widgets/jupyterlab-manager" in error
        )
    ]


@contextlib.contextmanager
def _launched(*arguments: str):
    """Playwright's sync API and a headless Chromium with ``arguments`` after CHROMIUM_ARGS, closed after: the suite's
    one launch of Chromium. Skips the test where Chromium or Playwright is missing."""
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *arguments])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's pages. Playwright's event loop runs until the module ends: a later test
    of the module cannot call ``asyncio.run`` nor take ``chromium`` (a test's own Chromium, closed when it ends)."""
    with _launched() as launched:
        yield launched


@pytest.fixture
def chromium():
    """``launch(*arguments)``: this test's own headless Chromium with ``arguments`` after CHROMIUM_ARGS (a fake
    camera, say), closed when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda *arguments: stack.enter_context(_launched(*arguments))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_lab(root: Path, tmp_path: Path, reef_home: Path, *options: str):
    """`jupyter lab` serving ``root`` on 127.0.0.1 with its settings in ``tmp_path``; yields its URL, ends it after."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install 'reefnb[lab]')")
    if not (REPO / "reefnb" / "labextension" / "package.json").is_file():
        pytest.fail(
            "the JupyterLab extension is not built: run `make setup` (it builds extension/ into reefnb/labextension)"
        )
    settings = tmp_path / "jupyter"
    environment = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(settings / "config"),
        "JUPYTER_DATA_DIR": str(settings / "data"),
        "JUPYTER_RUNTIME_DIR": str(settings / "runtime"),
        "IPYTHONDIR": str(settings / "ipython"),
        "REEF_HOME": str(reef_home),
    }
    notification_settings = settings / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    notification_settings.mkdir(parents=True)
    (notification_settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )  # no news prompt
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *options,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = tmp_path / "jupyter-lab.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(lambda: server.poll() is not None or _answers(url), timeout=90, every=0.3, what="jupyter lab")
        except AssertionError:
            server.poll()
        if server.returncode is not None or not _answers(url):
            pytest.fail(f"jupyter lab did not start: {log_path.read_text(errors='replace')[-2000:]}")
        yield url
    finally:
        stop_process(server, grace=20)


def in_theme(page, label: str) -> None:
    """Switch the JupyterLab of ``page`` to the theme ``label`` and wait until the page is drawn in it."""
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{label}'}})")
    colour = (
        f"getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim() === '{THEME_COLOUR[label]}'"
    )
    page.wait_for_function(f"() => document.body.dataset.jpThemeName === '{label}' && {colour}", polling=100)
    page.evaluate("() => new Promise(painted => requestAnimationFrame(() => requestAnimationFrame(painted)))")
