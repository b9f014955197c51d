"""The %reef magic on a real IPython shell: notebook output, widget state, declarations, errors."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import nbformat
import pandas
import pytest
from helpers.solutions import write_solution
from helpers.wheels import make_wheel
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from ipywidgets import widget_serialization

import reefnb
from reefnb.frontends.widgets import DependencyPanel, SweepProgressWidget
from reefnb.provision.install import LOCK_NAME
from reefnb.runs.sweeps import SweepProgress


@pytest.fixture
def shell():
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "reefnb")
    yield ipython
    ipython.run_line_magic("unload_ext", "reefnb")
    for name in ("__session__", "notebook_path"):
        ipython.user_ns.pop(name, None)


@pytest.fixture
def jupyter_dirs(tmp_path, monkeypatch):
    """Kernelspecs that reef registers go to a private Jupyter data folder."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-data"))


def reef(shell, line: str):
    """Run ``%reef line`` as a cell does; return (value, captured output)."""
    with capture_output() as captured:
        value = shell.run_line_magic("reef", line)
    return value, captured


def html(captured) -> str:
    return "\n".join(output.data.get("text/html", "") for output in captured.outputs)


def plain(captured) -> str:
    return "\n".join(output.data.get("text/plain", "") for output in captured.outputs)


def displayed_widgets(captured) -> list:
    """The widget objects a cell displayed, found by their model ids."""
    found = []
    for output in captured.outputs:
        view = output.data.get("application/vnd.jupyter.widget-view+json")
        if view:
            found.append(widget_serialization["from_json"]("IPY_MODEL_" + view["model_id"], None))
    return found


def test_load_and_unload_the_extension(shell):
    assert "reef" in shell.magics_manager.magics["line"]
    shell.run_line_magic("unload_ext", "reefnb")
    assert "reef" not in shell.magics_manager.magics["line"]
    shell.run_line_magic("load_ext", "reefnb")
    assert "reef" in shell.magics_manager.magics["line"]


def test_help_is_shown_and_the_kernel_keeps_running(shell):
    value, captured = reef(shell, "--help")
    assert value is None and "usage: reef" in captured.stdout and "require" in captured.stdout
    value, captured = reef(shell, "run --help")
    assert value is None and "usage: reef run" in captured.stdout and "--parameter" in captured.stdout
    _, captured = reef(shell, "")
    assert "usage: reef" in captured.stdout
    _, captured = reef(shell, "--version")
    assert captured.stdout.strip() == f"reefnb {reefnb.__version__}"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("bogus", "invalid choice: 'bogus'"),
        ("run", "reef run: give a SOLUTION (or --resume RUN_ID)"),
        ("run x --no-such-option", "unrecognized arguments: --no-such-option"),
        ("run 'unclosed", "No closing quotation"),
        ("validate /no/such/folder", "/no/such/folder: /: no such solution folder"),
    ],
)
def test_mistakes_are_a_short_red_message(shell, line, expected):
    value, captured = reef(shell, line)
    assert value is None
    assert 'class="reef-message reef-error"' in html(captured)
    assert expected in html(captured).replace("&#x27;", "'") and expected in plain(captured)
    assert "Traceback" not in captured.stdout + captured.stderr


def test_validate_and_invalid_manifest_problems(shell, hello):
    _, captured = reef(shell, f"validate {hello}")
    assert "reef-ok" in html(captured) and "valid (hello-sweep@0.1.0, workflows: run, benchmark)" in plain(captured)
    data = json.loads((hello / "solution.json").read_text())
    data["version"] = "one"
    data["workflows"]["run"]["parameters"]["batch"] = 2
    (hello / "solution.json").write_text(json.dumps(data))
    _, captured = reef(shell, f"validate {hello}")
    assert "reef-error" in html(captured)
    assert "/version: 'one' is not a semantic version" in plain(captured)
    assert "/workflows/run/parameters/batch" in plain(captured)


def test_run_shows_a_summary_and_returns_the_run_as_a_frame(shell, hello):
    shell.user_ns["samples"] = 400
    with capture_output() as captured:
        frame = shell.run_cell(f"%reef run {hello} -p samples $samples -p method stratified").result
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 1
    row = frame.iloc[0]
    assert row["status"] == "ok" and row["param.samples"] == 400 and row["param.method"] == "stratified"
    assert row["metric.points"] == 400  # a 20 x 20 grid
    assert frame.attrs["units"]["metric.time_ms"] == "ms"
    summary = html(captured)
    assert "reef-badge reef-ok" in summary and row["run_id"] in summary and "time_ms" in summary

    _, captured = reef(shell, f"run {hello} -p samples lots")
    assert "reef-error" in html(captured) and "samples" in plain(captured)


def test_a_failed_run_is_shown_with_its_error(shell, tmp_path):
    folder = write_solution(
        tmp_path / "broken",
        {"name": "broken", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "x = 1",
        "raise ValueError('bad input data')",
    )
    frame, captured = reef(shell, f"run {folder}")
    assert frame.iloc[0]["status"] == "failed"
    assert "reef-badge reef-failed" in html(captured) and "ValueError: bad input data (cell 1)" in plain(captured)


def test_run_summary_lists_the_attached_files_linked_from_the_kernels_folder(shell, tmp_path, monkeypatch):
    from reefnb.frontends.rendering import file_details, file_line

    cell = (
        "import reefnb\n(reefnb.run_folder() / 'summary log.txt').write_text('VALID\\n')\n"
        "reefnb.attach(reefnb.run_folder() / 'summary log.txt', name='performance/summary log.txt')\n"
        "(reefnb.run_folder() / 'big.log').write_text('x' * 100)\nreefnb.attach(reefnb.run_folder() / 'big.log')"
    )
    folder = write_solution(
        tmp_path / "evidence",
        {"name": "evidence", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}},
        "x = 1",
        cell,
    )
    monkeypatch.chdir(tmp_path)  # the kernel's folder: links are relative to it, as JupyterLab resolves them
    monkeypatch.setenv("REEF_MAX_ATTACHED", "50")  # big.log is over it: listed as not kept
    frame, captured = reef(shell, "run evidence")
    run_id = frame.iloc[0]["run_id"]
    record = reefnb.default_store().get(run_id)
    entry = record["files"][0]
    assert entry["media_type"] == "text/plain" and record["files_refused"][0]["name"] == "big.log"
    summary = html(captured)
    href = f"evidence/runs/{run_id}/files/performance/summary%20log.txt"
    assert f'<a href="{href}" target="_blank">performance/summary log.txt</a>' in summary
    assert (tmp_path / href.replace("%20", " ")).read_text() == "VALID\n"
    assert (
        file_details(entry) in summary and "not kept: big.log: 100 bytes: over the REEF_MAX_ATTACHED limit" in summary
    )
    text = plain(captured).splitlines()
    assert f"  files: {folder.resolve() / 'runs' / run_id / 'files'}" in text and f"    {file_line(entry)}" in text


def test_sweep_progress_widget_follows_the_sweep():
    widget = SweepProgressWidget("sweep demo")
    widget.update(SweepProgress(total=6, done=0, ok=0, failed=0, running=0, skipped=2, elapsed_s=0.0, eta_s=None))
    assert (widget.bar.value, widget.bar.max, widget.bar.bar_style) == (2, 6, "info")
    assert widget.label.value == "2/6 done · 0 failed · 0 running · 2 skipped (recorded before)"
    record = {
        "run_id": "r1",
        "status": "failed",
        "parameters": {"samples": 10},
        "metrics": {},
        "error": {"name": "ValueError", "message": "boom"},
    }
    widget.update(
        SweepProgress(total=6, done=1, ok=0, failed=1, running=2, skipped=2, elapsed_s=3.0, eta_s=12.0, last=record)
    )
    assert (widget.bar.value, widget.bar.bar_style) == (3, "danger")
    assert widget.label.value == "3/6 done · 1 failed · 2 running · 2 skipped (recorded before) · ETA 12 s"
    assert "r1" in widget.last.value and "reef-failed" in widget.last.value and "ValueError: boom" in widget.last.value
    widget.update(SweepProgress(total=6, done=4, ok=3, failed=1, running=0, skipped=2, elapsed_s=75.0, eta_s=0.0))
    assert widget.bar.value == 6 and widget.label.value.endswith("took 1 min 15 s")


def test_sweep_end_to_end_then_results_and_json(shell, hello):
    frame, captured = reef(shell, f"sweep {hello} -p samples 100 200 -p method random --jobs 1")
    assert list(frame["param.samples"]) == [100, 200] and (frame["status"] == "ok").all()
    [widget] = displayed_widgets(captured)
    assert isinstance(widget, SweepProgressWidget)
    assert (widget.bar.value, widget.bar.max, widget.bar.bar_style) == (2, 2, "success")
    assert widget.label.value.startswith("2/2 done · 0 failed · 0 running · took")
    assert widget.progress.ok == 2 and widget.progress.last["parameters"]["samples"] == 200
    assert "2 runs: 2 ok, 0 not ok" in plain(captured)

    # Again: both points were recorded ok, so nothing runs.
    again, captured = reef(shell, f"sweep {hello} -p samples 100 200 -p method random --jobs 1")
    assert list(again["run_id"]) == list(frame["run_id"]) and "2 recorded before" in plain(captured)

    grid = hello / "grid.json"
    grid.write_text(json.dumps({"samples": [100], "method": ["random", "stratified"]}))
    from_file, captured = reef(shell, f"sweep {hello} --grid {grid} --jobs 1")
    assert list(from_file["param.method"]) == ["random", "stratified"] and "1 recorded before" in plain(captured)
    grid.write_text(json.dumps({"samples": 100}))
    _, captured = reef(shell, f"sweep {hello} --grid {grid}")
    assert "/samples: expected a non-empty list of values" in plain(captured) and "reef-error" in html(captured)

    results, _ = reef(shell, f"results --solution {hello}")
    assert (
        set(results["run_id"]) == set(frame["run_id"]) | set(from_file["run_id"])
        and "metric.abs_error" in results.columns
    )
    records, _ = reef(shell, "results --solution hello-sweep --json")
    assert {record["run_id"] for record in records} == set(results["run_id"])
    empty, captured = reef(shell, "results --solution nothing-here")
    assert empty.empty and "no runs recorded for nothing-here" in plain(captured)
    _, captured = reef(shell, "results --format csv")
    assert captured.stdout.startswith("run_id,solution,version")


def test_detect_shows_the_fingerprint_as_a_table(shell):
    _, captured = reef(shell, "detect")
    table = html(captured)
    assert table.startswith('<table class="reef-table"') and "<td" in table
    for topic in ("OS", "CPU", "Memory", "Environment", "Packages"):
        assert f">{topic}</td>" in table
    fingerprint, _ = reef(shell, "detect --json")
    assert {"os", "cpu", "memory"} <= set(fingerprint)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(folder):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_init_panel_installs_missing_artifacts_with_progress_bars(shell, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    payload = b"synthetic annotations\n" * 5000
    (served / "annotations.json").write_bytes(payload)
    server = serve(served)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/annotations.json"
        artifact = {"kind": "dataset", "url": url, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
        manifest = {
            "name": "data",
            "version": "0.1.0",
            "requires": {"python": ">=3.10", "packages": ["packaging"]},
            "artifacts": {"annotations": artifact},
            "workflows": {"run": {"notebook": "main.ipynb"}},
        }
        folder = write_solution(tmp_path / "data", manifest, "x = 1")

        panel, captured = reef(shell, f"init {folder} --native")
        assert isinstance(panel, DependencyPanel) and captured.outputs == []  # the cell's value shows it
        assert [(row["kind"], row["name"], row["status"]) for row in panel.rows] == [
            ("python", "python", "found"),
            ("package", "packaging", "found"),
            ("artifact", "annotations", "missing"),
        ]
        assert (
            panel.rows[2]["required"].startswith("sha256 " + artifact["sha256"][:12])
            and panel.rows[2]["reason"] == f"reef init downloads it: {url} (107.4 KiB)"
        )
        assert "reef-badge reef-missing" in panel.table.value and "reef-badge reef-found" in panel.table.value
        assert panel.button.description == "Install missing" and not panel.button.disabled
        assert (
            "Install missing would:" in panel.changes.value
            and "download or generate annotations" in panel.changes.value
        )  # said before it does it
        assert not (folder / LOCK_NAME).exists()
        text = panel._repr_mimebundle_()["text/plain"]  # where widgets do not render
        assert (
            text.startswith(f"data@0.1.0: checked against this python ({sys.executable}): 1 missing")
            and "annotations" in text
        )
        assert "Install missing would:\n  - download or generate annotations\n  - write reef.lock.json" in text

        panel.button.click()  # what a user does: the install runs in a thread
        solution = panel.wait(timeout=60)
        assert panel.error is None, panel.error
        assert isinstance(solution, reefnb.Solution) and solution.name == "data"
        assert panel.button.disabled and panel.button.description == "Installed"
        bar = panel.progress_bars["annotations"]
        assert (bar.value, bar.max, bar.bar_style) == (len(payload), len(payload), "success")
        assert panel.rows[2]["status"] == "fetched" and panel.rows[2]["found"] == "download"
        assert "reef-badge reef-fetched" in panel.table.value and "ready: data@0.1.0" in panel.status.value
        lock = json.loads((folder / LOCK_NAME).read_text())
        assert lock["artifacts"]["annotations"]["sha256"] == artifact["sha256"]
        assert panel.install() is solution  # already done: the same Solution, nothing runs again

        listed, captured = reef(shell, "ls")
        assert ">data</td>" in html(captured) and "(native)" in html(captured)
    finally:
        server.shutdown()


def test_init_panel_blocks_what_cannot_be_installed(shell, tmp_path):
    manifest = {
        "name": "needy",
        "version": "0.1.0",
        "requires": {"packages": ["reef-no-such-package"], "tools": [{"name": "git", "version": ">=999"}]},
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    folder = write_solution(tmp_path / "needy", manifest)
    panel, _ = reef(shell, f"init {folder} --native")
    assert {row["name"]: row["status"] for row in panel.rows} == {"reef-no-such-package": "missing", "git": "unmet"}
    assert "reef-badge reef-unmet" in panel.table.value
    assert panel.button.disabled and "cannot be met here: git:" in panel.status.value
    with pytest.raises(reefnb.ReefError, match="cannot be met here"):
        panel.install()

    manifest["requires"] = {"packages": ["packaging<1"]}
    (folder / "solution.json").write_text(json.dumps(manifest))
    panel, _ = reef(shell, f"init {folder} --native")
    assert panel.rows[0]["status"] == "conflict" and panel.button.disabled and "add --yes" in panel.status.value
    panel, _ = reef(shell, f"init {folder} --native --dry-run --yes")
    assert panel.button.disabled and "dry run" in panel.status.value

    # A download that fails shows its error in the panel and lets the user try again.
    closed = ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there now
    manifest["requires"] = {}
    manifest["artifacts"] = {"weights": {"kind": "model", "url": f"http://127.0.0.1:{port}/w.bin", "sha256": "0" * 64}}
    (folder / "solution.json").write_text(json.dumps(manifest))
    panel, _ = reef(shell, f"init {folder} --native")
    panel.button.click()
    assert panel.wait(timeout=60) is None
    assert isinstance(panel.error, reefnb.ReefError) and "weights" in str(panel.error)
    assert not panel.button.disabled and panel.button.description == "Retry"
    assert "reef-error" in panel.status.value and not (folder / LOCK_NAME).exists()


def test_init_dry_run_checks_where_the_solution_runs_with_one_word_per_state(shell, tmp_path, monkeypatch):
    """Issue 31, items 1 and 5: a relative file: artifact is read from the solution (not the kernel's folder), badges
    say missing, skipped (another platform's marker) and on demand apart, every row not found says why, and the
    button's words are those of the text above it."""
    blob = b"blob bytes"
    artifacts = {
        "blob": {"kind": "dataset", "url": "file:data/blob.bin", "sha256": hashlib.sha256(blob).hexdigest()},
        "big": {
            "kind": "dataset",
            "url": "https://data.example/big.bin",
            "sha256": "ab" * 32,
            "size": 10,
            "on_demand": True,
        },
    }
    packages = ["packaging", "reef-no-such-package", 'reef-elsewhere; platform_machine == "no-such-machine"']
    manifest = {
        "name": "local",
        "version": "0.1.0",
        "requires": {"packages": packages},
        "artifacts": artifacts,
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    folder = write_solution(tmp_path / "local", manifest)
    (folder / "data").mkdir()
    (folder / "data" / "blob.bin").write_bytes(blob)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the kernel's folder is not the solution's
    panel, _ = reef(shell, f"init {folder} --dry-run")
    rows = {row["name"]: row for row in panel.rows}
    assert {name: row["status"] for name, row in rows.items()} == {
        "packaging": "found",
        "reef-no-such-package": "missing",
        "reef-elsewhere": "skipped",
        "blob": "missing",
        "big": "on demand",
    }
    assert rows["blob"]["reason"] == f"reef init downloads it: {(folder / 'data' / 'blob.bin').as_uri()}"
    assert (
        rows["reef-elsewhere"]["reason"]
        == 'for another platform or python (platform_machine == "no-such-machine" is false here)'
    )
    assert all(row["reason"] for row in panel.rows if row["status"] != "found")
    table = panel.table.value
    assert all(f"reef-badge reef-{word}" in table for word in ("found", "missing", "skipped", "on-demand"))
    assert (
        "checked against kernel python3: 2 missing; 1 skipped (for another platform), 1 fetched on demand"
        in panel.header.value
    )
    assert panel.button.description == "Install missing" and "Install missing would:" in panel.changes.value
    assert panel.button.disabled and "dry run" in panel.status.value and not (folder / LOCK_NAME).exists()


def test_init_panel_makes_an_environment_from_a_wheel(shell, tmp_path, jupyter_dirs):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "reef-probe-pkg", "1.2.0", "VERSION = '1.2.0'\n")
    manifest = {
        "name": "probe",
        "version": "1.0.0",
        "requires": {"packages": ["reef-probe-pkg>=1.1"]},
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    folder = write_solution(tmp_path / "probe", manifest)
    panel, _ = reef(shell, f"init {folder} --find-links {wheels}")
    assert panel.plan.target == "env" and not panel.plan.exists
    # Checked where it runs now (the kernel its notebook names), and what Install would change, before it does.
    assert (
        "runs in <b>kernel python3</b>" in panel.header.value
        and "checked against kernel python3: 1 missing" in panel.header.value
    )
    assert panel.rows[0]["status"] == "missing" and panel.button.description == "Install missing"
    assert (
        "make environment probe (python " in panel.changes.value
        and "install reef-probe-pkg&gt;=1.1 into environment probe" in panel.changes.value
    )
    assert "instead of kernel python3" in panel.changes.value
    solution = panel.install()  # the button's work, here
    assert solution.name == "probe"
    # Checked again where it runs now: its own environment.
    assert (
        "runs in <b>environment probe</b>" in panel.header.value
        and "checked against environment probe: all found" in panel.header.value
    )
    assert panel.rows[0]["status"] == "found" and panel.rows[0]["found"] == "1.2.0"
    assert "(kernel reef-probe)" in panel.status.value
    _, captured = reef(shell, "env list")
    assert ">probe</td>" in html(captured) and "reef-probe" in html(captured)


def test_declarations_go_to_the_running_notebook_and_its_solution(shell, hello, monkeypatch):
    notebook = hello / "main.ipynb"
    _, captured = reef(shell, "require numpy")
    assert "cannot tell which notebook" in plain(captured) and "--notebook PATH" in plain(captured)

    shell.user_ns["__session__"] = str(notebook)  # what ipykernel sets from JupyterLab's JPY_SESSION_NAME
    _, captured = reef(shell, "require numpy>=1.20 reef-no-such-package")
    page = html(captured)
    assert "reef-badge reef-found" in page and "reef-badge reef-missing" in page
    assert 'class="reef-message reef-warning"' in page and "reef-no-such-package: not installed" in page
    assert "Reload Notebook from Disk" in page and f"metadata.reef of {notebook}" in page
    metadata = nbformat.read(notebook, as_version=4).metadata["reef"]
    assert metadata == {"requires": {"packages": ["numpy>=1.20", "reef-no-such-package"]}}

    reef(shell, "require numpy>=1.24")  # replaces, does not add
    _, captured = reef(shell, """require 'reef-gpu-only>=2; platform_machine == "no-such-machine"'""")
    assert "reef-badge reef-skipped" in html(captured) and "reef-warning" not in html(captured)
    reef(shell, "require --remove reef-gpu-only")
    _, captured = reef(shell, "tool gcc>=9 git")
    assert "reef-badge reef-found" in html(captured)  # git, at least
    _, captured = reef(
        shell, f"artifact digits https://data.example/digits.csv --sha256 {'ab' * 32} --size 10 --license CC0-1.0"
    )
    assert "reef-badge reef-missing" in html(captured)
    metadata = nbformat.read(notebook, as_version=4).metadata["reef"]
    assert metadata["requires"]["packages"] == ["numpy>=1.24", "reef-no-such-package"]
    assert metadata["requires"]["tools"] == [{"name": "gcc", "version": ">=9"}, {"name": "git"}]
    assert metadata["artifacts"]["digits"] == {
        "kind": "dataset",
        "url": "https://data.example/digits.csv",
        "sha256": "ab" * 32,
        "size": 10,
        "license": "CC0-1.0",
    }
    solution = reefnb.load_solution(hello)  # solution.json has them too, and is valid
    assert solution.data["requires"]["packages"] == ["numpy>=1.24", "reef-no-such-package"]
    assert solution.data["artifacts"]["digits"] == metadata["artifacts"]["digits"]

    _, captured = reef(shell, "tool fortran-9000")
    assert "reef-error" in html(captured) and "reef knows no tool 'fortran-9000'" in plain(captured)
    _, captured = reef(shell, "artifact digits https://x.example/d --sha256 nothex")
    assert "reef-error" in html(captured) and "is not a sha256" in plain(captured)

    # JupyterLab's environment variable, and an explicit --notebook with $variable expansion
    del shell.user_ns["__session__"]
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    reef(shell, "require packaging")
    monkeypatch.delenv("JPY_SESSION_NAME")
    other = hello / "copy.ipynb"
    other.write_bytes(notebook.read_bytes())
    shell.user_ns["notebook_path"] = str(other)
    with capture_output() as captured:
        result = shell.run_cell("%reef require --remove reef-no-such-package --notebook $notebook_path")
    assert result.success and "removed from" in plain(captured)
    assert nbformat.read(other, as_version=4).metadata["reef"]["requires"]["packages"] == ["numpy>=1.24", "packaging"]
    assert "Reload Notebook" not in html(captured)  # not the running notebook
    declared, _ = reef(shell, f"require numpy --notebook {other} --json")
    assert (
        declared["notebook"] == str(other)
        and declared["solution"] is None
        and declared["checks"][0]["status"] == "found"
    )


def test_init_panel_takes_a_package(shell, hello, tmp_path, reef_home):
    from reefnb.sharing.package import export_package

    reefnb.run(hello, parameters={"samples": 2000})
    package = export_package(hello, tmp_path / "hello.reef.zip")["package"]
    panel, _ = reef(shell, f"init {package} --native")
    assert panel.plan.solution.path == reef_home / "solutions" / "hello-sweep-0.1.0"
    numpy = next(row for row in panel.rows if row["name"] == "numpy")
    assert numpy["required"].startswith("==") and numpy["status"] == "found"  # pinned to the package's lock
    solution = panel.install()
    assert panel.error is None and solution.name == "hello-sweep"
    assert (reef_home / "solutions" / "hello-sweep-0.1.0" / LOCK_NAME).is_file()


# --- issue 21: what a researcher sees in JupyterLab ---


def test_typed_parameters_raise_no_papermill_alarm(shell, hello, caplog):
    """papermill cannot read annotated parameters and logs "Passed unknown parameter" for each: reef checked them,
    so none shows."""
    caplog.set_level(logging.WARNING)
    frame, captured = reef(shell, f"run {hello} -p samples 300 -p method stratified")
    assert frame.iloc[0]["status"] == "ok"
    said = [record.getMessage() for record in caplog.records] + [captured.stderr]
    assert not [line for line in said if "unknown parameter" in line], said


def test_run_sweep_and_results_show_the_compact_frame(shell, hello):
    from reefnb.frontends.results_view import ResultsFrame

    frame, _ = reef(shell, f"run {hello} -p samples 300")
    assert isinstance(frame, ResultsFrame)
    page = frame._repr_html_()
    # the manifest's dashboard columns, units in the headers; no times, no environment
    for header in ("run_id", "status", "param.method", "param.samples", "metric.abs_error", "metric.time_ms [ms]"):
        assert f">{header}</th>" in page
    assert (
        "started" not in page
        and "env.hostname" not in page
        and "<td>" not in page
        and page.count("white-space:nowrap") >= 12
    )
    assert frame.iloc[0]["run_id"] in page and f"1 run, 6 of {len(frame.columns)} columns: .full()" in page
    assert list(frame.compact().columns) == [
        "run_id",
        "status",
        "param.method",
        "param.samples",
        "metric.abs_error",
        "metric.time_ms [ms]",
    ]
    full = frame.full()
    assert (
        type(full) is pandas.DataFrame
        and full.shape == frame.shape
        and "env.python" in full.columns
        and full.attrs["units"]
    )
    assert full.shape[1] > 20
    assert type(frame[["run_id", "env.python"]]) is pandas.DataFrame  # a selection shows what it holds

    swept, _ = reef(shell, f"sweep {hello} -p samples 100 200 --jobs 1")
    assert isinstance(swept, ResultsFrame) and len(swept) == 2 and "2 runs, 6 of" in repr(swept)
    results, _ = reef(shell, f"results --solution {hello}")
    assert isinstance(results, ResultsFrame) and len(results) == 3 and len(results.compact().columns) == 6
    everything, _ = reef(shell, f"results --solution {hello} --all-columns")
    assert type(everything) is pandas.DataFrame and everything.shape == results.shape and "env.os" in everything
    chosen, _ = reef(shell, f"results --solution {hello} --columns abs_error --where 'param.samples < 150'")
    assert list(chosen.compact().columns) == ["run_id", "status", "metric.abs_error"] and len(chosen) == 1
    by_name, _ = reef(shell, "results --solution hello-sweep")  # no manifest: every parameter and metric
    assert "metric.pi_estimate" in by_name.compact().columns and "env.os" not in by_name.compact().columns


def test_magic_html_uses_jupyterlab_theme_variables(shell, hello):
    from reefnb.frontends.widgets import badge, message_html

    for level, variable in (
        ("error", "--jp-error-color1"),
        ("warning", "--jp-warn-color2"),
        ("ok", "--jp-success-color1"),
    ):
        box = message_html(["x"], level)
        assert f"var({variable}," in box and "color:var(--jp-content-font-color1" in box
    assert "var(--jp-success-color1" in badge("ok") and "color:var(--jp-content-font-color1" in badge("ok")
    _, captured = reef(shell, f"validate {hello}")
    _, more = reef(shell, f"run {hello} -p samples 100")
    page = html(captured) + html(more)
    assert not re.findall(r"(?:color|background):#", page), "a colour that ignores the theme"


class RecordedComm:
    """What ipykernel's comm would send to the front end (no front end exists here; the browser test has the real
    one)."""

    sent: list = []

    def __init__(self, target_name: str, data: dict) -> None:
        self.target_name, self.data = target_name, data
        self.handlers: dict = {}
        RecordedComm.sent.append(self)

    def on_msg(self, handler) -> None:
        self.handlers["msg"] = handler

    def on_close(self, handler) -> None:
        self.handlers["close"] = handler


def test_declarations_go_to_the_open_notebooks_model_in_jupyterlab(shell, hello, monkeypatch):
    import comm

    from reefnb.frontends.lab_editor import LabEditor, merge_patch
    from reefnb.frontends.magics import _declaration_refused, run_magic

    monkeypatch.setattr(comm, "create_comm", lambda target_name, data: RecordedComm(target_name, data))
    RecordedComm.sent = []
    notebook = hello / "main.ipynb"
    shell.user_ns["__session__"] = str(notebook)
    before = notebook.read_bytes()
    from_lab = {"cell": False}
    editor = LabEditor(str(notebook), lambda: from_lab["cell"], _declaration_refused)

    with (
        capture_output() as captured
    ):  # a cell that JupyterLab did not send (no cellId): the file, with the reload note
        run_magic("require packaging", shell, editor)
    assert "Reload Notebook from Disk" in html(captured) and not RecordedComm.sent
    assert nbformat.read(notebook, as_version=4).metadata["reef"] == {"requires": {"packages": ["packaging"]}}
    notebook.write_bytes(before)

    from_lab["cell"] = True
    with capture_output() as captured:
        run_magic("require numpy>=1.20", shell, editor)
    assert notebook.read_bytes() == before  # the file is JupyterLab's to save
    declared = RecordedComm.sent[-1]
    assert (declared.target_name, declared.data) == (
        "reef.notebook",
        {"kind": "declare", "path": str(notebook), "patch": {"requires": {"packages": ["numpy>=1.20"]}}},
    )
    assert "(the open notebook: saved with it)" in html(captured) and "Reload" not in html(captured)
    assert "numpy>=1.20" in reefnb.load_solution(hello).data["requires"]["packages"]  # solution.json is still written
    declared.handlers["msg"](
        {"content": {"data": {"kind": "applied", "ok": True, "path": "hello-sweep/main.ipynb"}}}
    )  # the extension's answer
    assert notebook.read_bytes() == before

    run_magic("tool git", shell, editor)  # from what the editor holds, not from the file
    assert RecordedComm.sent[-1].data["patch"] == {"requires": {"tools": [{"name": "git"}]}}
    run_magic("require --remove numpy", shell, editor)
    assert RecordedComm.sent[-1].data["patch"] == {"requires": {"packages": None}}
    assert notebook.read_bytes() == before

    # JupyterLab without the Reef extension closes the comm unanswered: the file is written then, and the cell's
    # output says so
    with capture_output() as captured:
        run_magic("require scipy", shell, editor)
        refused = RecordedComm.sent[-1]
        refused.handlers["close"]({"content": {"data": {}}})
    assert nbformat.read(notebook, as_version=4).metadata["reef"] == {
        "requires": {"tools": [{"name": "git"}], "packages": ["scipy"]}
    }
    [first, update] = captured.outputs
    assert (
        update.metadata == {}
        and "written to the file" in update.data["text/plain"]
        and "Reload Notebook from Disk" in update.data["text/html"]
    )
    assert editor.held(notebook) is None  # the file is the truth again

    old = {"requires": {"packages": ["a"], "tools": [{"name": "git"}]}, "artifacts": {"x": {"url": "u"}}}
    new = {"requires": {"packages": ["a", "b"]}, "artifacts": {"x": {"url": "v"}, "y": {}}}
    assert merge_patch(old, new) == {
        "requires": {"packages": ["a", "b"], "tools": None},
        "artifacts": {"x": {"url": "v"}, "y": {}},
    }
