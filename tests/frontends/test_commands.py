"""The command layer (reefnb.frontends.commands): verbs take typed options and return plain data, and each rule
the front ends share is decided there once; here a rule is checked through the layer and through the
renderers that show it (the ``reef`` command, the ``%reef`` magic, the JupyterLab server's endpoints)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas
import pytest
from helpers.cli import call
from helpers.solutions import write_solution

import reefnb
from reefnb import ReefError
from reefnb.frontends import commands
from reefnb.frontends.arguments import options_from
from reefnb.frontends.rendering import display_columns, format_number, record_text, run_view
from reefnb.frontends.terminal import run_verb
from reefnb.frontends.verbs import build_parser
from reefnb.runs.spec import RunSpec, SweepSpec


def record(run_id: str = "r1", status: str = "failed") -> dict:
    """A run record as the store keeps it (no kernel needed)."""
    return {
        "run_id": run_id,
        "solution": {"name": "demo", "version": "0.1.0", "path": "/nowhere/demo"},
        "workflow": "run",
        "status": status,
        "duration_s": 1.5,
        "started": "2026-01-01T00:00:00+00:00",
        "parameters": {"samples": 10, "method": "random"},
        "metrics": {
            "time_ms": {"value": 1.0 / 3, "unit": "ms"},
            "points": {"value": 10, "unit": None},
            "loss": {"special": "nan"},
        },
        "error": {"name": "ValueError", "message": "boom", "cell_index": 2} if status != "ok" else None,
        "notebook": {"path": "main.ipynb", "output_path": "/nowhere/demo/runs/r1/main.ipynb"},
    }


HEAVY = ("pandas", "numpy", "IPython", "papermill", "nbformat", "jsonschema", "packaging", "tornado", "ipywidgets")


def test_reef_help_loads_no_core_module():
    """`reef --help` answers from the verb table alone (every verb's parser, its call and its text, over the command
    layer): no stage a verb runs loads, nor any heavy library, until a verb is parsed. The only modules below the
    front ends it loads are plain data: the exceptions, units, the run spec the run verb builds, the kernel part."""
    script = (
        "import sys\nfrom reefnb.frontends.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(name for name in sys.modules if name.startswith('reefnb') or name.split('.')[0] in "
        f"{HEAVY!r}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert "reefnb.frontends.verbs.running" in loaded  # the table was built
    below = {name for name in loaded if not name.startswith(("reefnb.frontends", "reefnb.common"))}
    assert below <= {"reefnb", "reefnb.runs", "reefnb.runs.spec", "reefnb.kernel", "reefnb.kernel.recording"}, below


def test_options_come_from_the_parsed_arguments_by_name():
    args = build_parser().parse_args(["run", "sol", "-p", "samples", "5", "--timeout", "9", "--no-telemetry"])
    spec = RunSpec.from_arguments(args, parameters=dict(args.parameter))
    assert spec == RunSpec(solution="sol", parameters={"samples": "5"}, timeout=9.0, telemetry=False)
    assert commands.changed_fields(spec) == {
        "solution": "sol",
        "parameters": {"samples": "5"},
        "timeout": 9.0,
        "telemetry": False,
    }
    args = build_parser().parse_args(["sweep", "sol", "--env", "a", "b", "-j", "2", "--timeout", "9"])
    sweep = SweepSpec.from_arguments(args, grid={"samples": [1, 2]})
    assert sweep.run == RunSpec(solution="sol", timeout=9.0, trace_files=False)  # a sweep records no files read
    assert (sweep.grid, sweep.environments, sweep.execution.jobs) == ({"samples": [1, 2]}, ("a", "b"), 2)
    args = build_parser().parse_args(["pareto", "--min", "a", "b", "--max", "c"])
    assert options_from(commands.ParetoOptions, args) == commands.ParetoOptions(minimise=["a", "b"], maximise=["c"])


def test_the_resume_rule_is_checked_before_anything_runs():
    with pytest.raises(ReefError, match="takes its solution and parameters from that run: give neither"):
        commands.run(RunSpec(solution="x"), resume="r1")
    with pytest.raises(ReefError, match=r"give a SOLUTION \(or --resume RUN_ID\)"):
        commands.run(RunSpec())
    code, _, err = call("run", "x", "--resume", "r1")
    assert code == 2 and "give neither" in err


def test_the_sweep_grid_from_a_file_and_the_command_line(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("samples: [1, 2]\nmethod: [random]\n")
    assert commands.sweep_grid(grid, [["method", "a", "b"]]) == {"samples": [1, 2], "method": ["a", "b"]}
    assert commands.sweep_grid(None, []) is None
    grid.write_text("samples: 3\n")
    with pytest.raises(ReefError, match="/samples: expected a non-empty list of values"):
        commands.sweep_grid(grid)
    with pytest.raises(ReefError, match="-p samples needs at least one value"):
        commands.sweep_grid(None, [["samples"]])


def test_pip_options_make_existing_folders_absolute(tmp_path, monkeypatch):
    (tmp_path / "wheels").mkdir()
    monkeypatch.chdir(tmp_path)
    assert commands.pip_options(["wheels", "https://example.org/simple"], no_index=True) == [
        "--find-links",
        str(tmp_path / "wheels"),
        "--find-links",
        "https://example.org/simple",
        "--no-index",
    ]
    assert commands.pip_options() == []


def test_a_notebook_belongs_to_the_solution_whose_workflow_runs_it(hello, tmp_path):
    found = commands.notebook_solution(hello / "main.ipynb")
    assert (
        found.solution.name == "hello-sweep"
        and found.workflow == "run"
        and found.notebook == (hello / "main.ipynb").resolve()
    )
    alone = commands.notebook_solution(
        hello / "main.ipynb", within=tmp_path / "elsewhere"
    )  # its manifest is out of bounds
    assert alone.solution.manifest_path is None and alone.workflow == "run"


def test_the_manifest_defaults_win_in_the_schema_for_the_cli_the_magic_and_the_server(tmp_path):
    manifest = {
        "name": "defaults",
        "version": "0.1.0",
        "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"rate": 0.25}}},
    }
    folder = write_solution(tmp_path / "defaults", manifest, "rate: float = 0.5  # how fast\nsteps: int = 3")
    found = commands.parameters(folder)
    assert isinstance(found, commands.Parameters) and isinstance(found.schema, dict)
    assert found.schema["properties"]["rate"]["default"] == 0.25 and found.schema["properties"]["steps"]["default"] == 3
    assert commands.parameters(folder / "main.ipynb").schema == found.schema  # a notebook: its solution's workflow
    code, out, _ = call("params", str(folder), "--json")
    assert code == 0 and json.loads(out)["properties"]["rate"]["default"] == 0.25
    code, out, _ = call("params", str(folder / "main.ipynb"))
    assert code == 0 and "= 0.25" in out
    from reefnb.frontends.magics import run_magic

    form = run_magic(f"params {folder}")
    assert form.inputs["rate"].value == 0.25 and form.workflow == "run"
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
    from reefnb.frontends import server

    described = server.describe(tmp_path, server.resolve_target(tmp_path, "defaults/main.ipynb"))
    assert described["parameters"] == found.schema


def test_a_run_record_reads_the_same_in_every_front_end():
    text = record_text(record())
    assert text.splitlines()[:3] == [
        "r1  demo@0.1.0  run  failed  1.50 s",
        "  parameters: samples=10 method='random'",
        "  error: ValueError: boom (cell 2)",
    ]
    assert "    time_ms  0.333333 ms" in text and "    loss     nan" in text
    assert (
        record_text(record(), short=True)
        == "r1  demo@0.1.0  run  failed  1.50 s  samples=10 method='random'  ValueError: boom (cell 2)"
    )
    view = run_view(record())
    assert [(metric.name, metric.text, metric.unit) for metric in view.metrics] == [
        ("time_ms", "0.333333", "ms"),
        ("points", "10", ""),
        ("loss", "nan", ""),
    ]
    from reefnb.frontends.widgets import run_summary

    assert run_summary(record())["text/plain"] == text  # the magic's plain form is the command's text
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
    from reefnb.frontends import server

    summary = server.run_summary(server.Path("/nowhere"), record())
    assert summary["error"] == "ValueError: boom" and summary["metrics"]["time_ms"] == {"value": 1.0 / 3, "unit": "ms"}
    assert format_number(1.0 / 3) == "0.333333" and format_number(7) == "7"


def test_a_run_that_refused_metrics_over_its_budget_says_how_many_in_the_text_and_the_html():
    refused = {**record(status="ok"), "metrics_refused": 3}
    line = (
        "metrics refused: 3 record calls over the run's metric budget (REEF_MAX_METRICS, REEF_MAX_METRIC_BYTES); "
        "the metrics recorded before them were kept"
    )
    text = record_text(refused)
    assert text.splitlines()[5:7] == ["    loss     nan", f"  {line}"]  # right after the metrics
    assert "metrics refused" not in record_text(record(status="ok"))
    from reefnb.frontends.widgets import run_summary

    summary = run_summary(refused)
    assert (
        summary["text/plain"] == text
        and "reef-warning" in summary["text/html"]
        and "metric budget (REEF_MAX_METRICS" in summary["text/html"]
    )
    assert "metric budget" not in run_summary(record(status="ok"))["text/html"]


def test_results_columns_for_the_terminal_and_the_notebook():
    frame = pandas.DataFrame(
        {
            "run_id": ["a"],
            "solution": ["s"],
            "workflow": ["run"],
            "status": ["failed"],
            "param.n": [1],
            "metric.t": [2.0],
            "duration_s": [1.0],
            "env.os": ["Linux"],
            "error": ["ValueError: x"],
        }
    )
    assert display_columns(frame, errors=True) == ["run_id", "status", "param.n", "metric.t", "error"]
    assert display_columns(frame, fields=("run_id", "solution", "workflow", "status"), after=["duration_s"]) == [
        "run_id",
        "solution",
        "workflow",
        "status",
        "param.n",
        "metric.t",
        "duration_s",
    ]
    assert display_columns(frame, ["t", "n", "nope"]) == ["run_id", "status", "metric.t", "param.n"]
    with pytest.raises(ReefError, match="--columns: no column 'nope'"):
        display_columns(frame, ["nope"], strict=True)


def test_frontier_runs_are_the_ok_runs_with_the_default_objectives(hello):
    from helpers.records import sweep_record as stored

    reefnb.default_store().add_many(
        [
            stored(0, "random", 100, 2.0, 0.1, "laptop"),
            stored(1, "random", 100, 1.0, 0.2, "laptop"),
            stored(2, "random", 100, 0.5, 0.5, "laptop", status="failed"),
        ]
    )
    found = commands.frontier_runs(str(hello))
    assert list(found.frame["run_id"]) == [stored(0, "", 0, 0, 0, "")["run_id"], stored(1, "", 0, 0, 0, "")["run_id"]]
    assert found.objectives == {
        "metric.abs_error": "min",
        "metric.time_ms": "min",
    }  # the manifest's metrics with a goal
    named = commands.frontier_runs("hello-sweep", commands.named_objectives(["time_ms"], ["points"]))
    assert named.objectives == {"metric.time_ms": "min", "metric.points": "max"} and named.declared == named.objectives
    with pytest.raises(ReefError, match="no ok runs recorded for nothing: no frontier"):
        commands.frontier_runs("nothing")
    result = commands.pareto(commands.ParetoOptions(solution=str(hello)))
    assert result.as_dict()["runs"] == 2 and result.plot is None
    code, out, _ = call("pareto", "--solution", str(hello), "--json")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(result.as_dict()))


def test_a_package_folder_is_refused_without_trust_in_the_panel_the_cli_and_the_server(reef_home):
    """The trust check: a solution imported from elsewhere installs only what its lock pins and hashes."""
    manifest = {
        "name": "probe",
        "version": "1.0.0",
        "requires": {"packages": ["reef-probe-absent==1.0"]},
        "workflows": {"run": {"notebook": "main.ipynb"}},
    }
    folder = write_solution(reef_home / "solutions" / "probe-1.0.0", manifest)  # where packages are imported
    preview = commands.preview_init(commands.InitRequest(source=folder, native=True))
    assert preview.foreign and "has no sha256" in preview.refusal and "--trust" in preview.refusal
    assert [row["name"] for row in preview.rows] == ["reef-probe-absent"]
    assert commands.preview_init(commands.InitRequest(source=folder, native=True, trust=True)).refusal is None
    from reefnb.frontends.widgets import DependencyPanel

    panel = DependencyPanel(preview, lambda progress: {})
    assert panel.button.disabled and "has no sha256" in panel.status.value
    code, _, err = call("init", str(folder), "--native")
    assert code == 2 and "has no sha256" in err
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
    from reefnb.frontends import server

    target = server.resolve_target(reef_home / "solutions", "probe-1.0.0/main.ipynb")
    with pytest.raises(ReefError, match="has no sha256"):
        server.install(reef_home / "solutions", target, {})


def test_the_server_imports_no_widgets():
    pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install 'reefnb[lab]')")
    script = (
        "import sys\nimport reefnb.frontends.server\n"
        "print(any(name.startswith(('ipywidgets', 'reefnb.frontends.widgets')) for name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_the_terminal_renders_what_the_layer_returns(hello):
    out = io.StringIO()
    code = run_verb(build_parser().parse_args(["validate", str(hello)]), out)
    assert code == 0 and f"valid ({commands.validate(hello).name}@0.1.0" in out.getvalue()
    out = io.StringIO()
    assert run_verb(build_parser().parse_args(["validate", str(hello), "--json"]), out) == 0
    assert json.loads(out.getvalue())["name"] == "hello-sweep"
