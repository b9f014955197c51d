"""reefnb.frontends.widgets.dependencies: `%reef init`'s panel, its "Install missing" button and what it shows after."""

from __future__ import annotations

import pytest
from helpers.solutions import write_solution

from reefnb.common.exceptions import ReefError
from reefnb.frontends import commands
from reefnb.frontends.widgets.dependencies import DependencyPanel

MANIFEST = {
    "name": "probe",
    "version": "1.0.0",
    "requires": {"packages": ["reef-probe-absent==1.0"]},
    "workflows": {"run": {"notebook": "main.ipynb"}},
}


@pytest.fixture
def preview(tmp_path):
    folder = write_solution(tmp_path / "probe", MANIFEST)
    return commands.preview_init(commands.InitRequest(source=folder, native=True))


def test_the_panel_lists_what_is_missing_and_offers_to_install(preview):
    panel = DependencyPanel(preview, lambda progress: {})
    assert not panel.button.disabled and panel.blocked is None
    assert "reef-probe-absent" in panel.table.value and "missing" in panel.table.value
    assert "reef-probe-absent" in panel.text() and panel._repr_mimebundle_()["text/plain"] == panel.text()


def test_install_reports_progress_then_what_was_installed(preview):
    def install(progress):
        progress("weights", 512, 1024)
        progress("weights", 1024, 1024)
        return {
            "packages": {"reef-probe-absent": "1.0"},
            "environment": {"path": "/envs/probe", "kernel": "reef-probe"},
        }

    panel = DependencyPanel(preview, install)
    assert panel.install() is preview.plan.solution and panel.lock["packages"]
    assert panel.progress_bars["weights"].bar_style == "success" and panel.progress_labels["weights"].value
    assert panel.rows[0]["status"] == "installed" and panel.rows[0]["found"] == "1.0"
    assert panel.button.description == "Installed" and panel.button.disabled
    assert "ready: probe@1.0.0 in /envs/probe (kernel reef-probe)" in panel.status.value


def test_a_failed_install_says_why_and_offers_a_retry(preview):
    def install(progress):
        raise ReefError("pip: no matching distribution for reef-probe-absent==1.0")

    panel = DependencyPanel(preview, install)
    with pytest.raises(ReefError):
        panel.install()
    assert panel.button.description == "Retry" and not panel.button.disabled
    assert "no matching distribution" in panel.status.value and panel.lock is None
