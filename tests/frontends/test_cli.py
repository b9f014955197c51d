"""The reef command end to end: run, sweep, benchmark, results, errors and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas
from helpers.cli import call
from helpers.solutions import write_solution

import reefnb
from reefnb.frontends.cli import build_parser

REEF = str(Path(sys.executable).parent / "reef")


def reef(*args: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run([REEF, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300)


def test_run_prints_ok_run_and_results_json_holds_it(hello):
    done = reef("run", str(hello), "-p", "samples", "3000", "-p", "method", "stratified")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # kernel chatter goes to the run's kernel.log, not the terminal
    lines = done.stdout.splitlines()
    run_id, _, _, status = lines[0].split()[:4]
    assert status == "ok"
    assert "samples=3000 method='stratified'" in done.stdout
    printed = {line.split()[0]: line.split()[1] for line in lines if line.startswith("    ")}
    assert printed["points"] == "2916"  # 54 x 54 strata
    code, out, _ = call(
        "results", "--format", "json"
    )  # in this process: the console script's run is what this test is about
    assert code == 0
    [record] = json.loads(out)
    assert record["run_id"] == run_id
    assert record["parameters"] == {"samples": 3000, "method": "stratified"}
    assert {name: f"{metric['value']:.6g}" for name, metric in record["metrics"].items()} == printed
    assert (Path(record["notebook"]["output_path"])).parent.name == run_id
    assert (hello / "runs" / run_id / "kernel.log").exists()


def test_run_json_is_the_record(hello):
    done = reef("run", str(hello), "--json", "-p", "samples", "100")
    assert done.returncode == 0
    record = json.loads(done.stdout)
    assert record["status"] == "ok" and record["parameters"]["samples"] == 100
    assert reefnb.Store().get(record["run_id"])["metrics"] == record["metrics"]


def test_failing_notebook_exits_1_with_failed_record(tmp_path):
    manifest = {"name": "fails", "version": "1.0.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    folder = write_solution(tmp_path / "fails", manifest, "x = 1", "raise RuntimeError('no GPU found')")
    done = reef("run", str(folder))
    assert done.returncode == 1
    assert "failed" in done.stdout and "RuntimeError: no GPU found (cell 1)" in done.stdout
    assert "Traceback" not in done.stderr
    [record] = json.loads(call("results", "--format", "json", "--solution", "fails")[1])
    assert record["status"] == "failed" and record["error"]["name"] == "RuntimeError"


def test_user_errors_are_one_line_and_exit_2(hello, tmp_path):
    cases = [
        (["run", str(hello), "-p", "nope", "1"], "unknown parameter 'nope'"),
        (["run", str(hello), "-p", "samples", "lots"], "parameter 'samples' expects int, got 'lots'"),
        (["run", str(hello), "-w", "validate"], "no workflow 'validate' (this solution has: benchmark, run)"),
        (["run", str(hello), "-f", str(tmp_path / "missing.json")], "missing.json: cannot read parameter file"),
        (["run", str(tmp_path / "nowhere")], "nowhere: /: no such solution folder or solution.json"),
        (["run", str(hello), "--kernel", "no-such-kernel"], "kernel 'no-such-kernel' not found"),
        (["run", str(hello), "--timeout", "-1"], "argument --timeout: '-1': give a number of seconds above 0"),
        (["run", str(tmp_path)], "solution.json: /: file not found"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ]
    for args, message in cases:
        code, out, err = call(*args)
        assert code == 2, (args, out, err)
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (hello / "runs").exists()


def test_sweep_runs_the_grid_and_benchmark_the_manifest_grid(hello):
    code, out, err = call("sweep", str(hello), "-p", "samples", "100", "400", "-p", "method", "random", "stratified")
    assert code == 0, err
    assert "4 runs, 4 ok, 0 not ok" in out
    frame = reefnb.results()
    assert sorted(zip(frame["param.samples"], frame["param.method"], strict=True)) == [
        (100, "random"),
        (100, "stratified"),
        (400, "random"),
        (400, "stratified"),
    ]
    code, out, err = call("benchmark", str(hello))
    assert code == 0, err
    assert "6 runs, 6 ok" in out
    benchmark = reefnb.results(solution="hello-sweep").query("workflow == 'benchmark'")
    assert len(benchmark) == 6
    stratified = benchmark[benchmark["param.method"] == "stratified"].set_index("param.samples")
    assert stratified.loc[100000, "metric.points"] == 316 * 316


def test_sweep_goes_on_after_a_failure_unless_fail_fast(tmp_path):
    manifest = {"name": "picky", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    folder = write_solution(
        tmp_path / "picky", manifest, "n = 1", "assert n != 2, 'two is bad'\nimport reefnb\nreefnb.record('n', n)"
    )
    code, out, _ = call("sweep", str(folder), "-p", "n", "1", "2", "3")
    assert code == 1 and "3 runs, 2 ok, 1 not ok" in out
    code, out, _ = call("sweep", str(folder), "--fail-fast", "--jobs", "1", "--rerun", "-p", "n", "2", "3")
    assert code == 1 and "1 runs, 0 ok, 1 not ok" in out
    code, out, _ = call("sweep", str(folder), "-p", "n", "1", "3")  # both recorded ok already: nothing runs
    assert code == 0 and "2 runs, 2 ok, 0 not ok, 2 skipped" in out
    assert len(reefnb.results(solution="picky")) == 4


def test_results_formats(hello):
    assert call("results")[1].strip() == "no runs recorded"
    reefnb.run(hello, parameters={"samples": 50})
    code, table, _ = call("results", "--solution", str(hello))
    assert code == 0 and "metric.time_ms [ms]" in table and "param.samples" in table
    csv = call("results", "--format", "csv")[1]
    frame = pandas.read_csv(io.StringIO(csv))
    assert frame.loc[0, "param.samples"] == 50 and frame.loc[0, "status"] == "ok"
    markdown = call("results", "--format", "markdown")[1]
    assert markdown.startswith("| run_id") and "hello-sweep" in markdown
    assert json.loads(call("results", "--json")[1])[0]["parameters"]["samples"] == 50


def test_every_verb_offers_json():
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    for name, sub in verbs.items():
        assert any("--json" in action.option_strings for action in sub._actions), name


def test_python_api_results_frame(hello):
    record = reefnb.run(hello, parameters={"samples": 200, "method": "stratified"})
    frame = reefnb.results()
    row = frame.iloc[0]
    assert row["run_id"] == record["run_id"] and row["status"] == "ok"
    assert row["param.samples"] == 200 and row["metric.points"] == 196
    assert frame.attrs["units"]["metric.time_ms"] == "ms"
    assert row["env.kernel"] == "python3" and row["env.cpu_count"] >= 1


def test_detect_verb_prints_fingerprint_and_json(tmp_path):
    code, text, err = call("detect")
    assert code == 0, err
    assert text.startswith("OS:") and "CPU:" in text and "Memory:" in text
    code, out, _ = call("detect", "--json")
    fingerprint = json.loads(out)
    assert {"os", "cpu", "memory", "gpu", "python", "packages", "tools"} <= set(fingerprint)
    assert fingerprint["packages"]["pandas"] == pandas.__version__
    assert fingerprint["cpu"]["logical_cores"] == os.cpu_count()
    code, _, err = call("detect", "--env", "nope")
    assert code == 2 and "no environment 'nope'" in err


def test_results_table_shows_the_manifest_columns_or_the_chosen_ones(hello):
    import reefnb

    reefnb.run(hello, parameters={"samples": 2000})
    code, out, _ = call("results", "--solution", str(hello))
    header = out.splitlines()[0].split()
    assert (
        code == 0
        and header[:5] == ["run_id", "status", "param.method", "param.samples", "metric.abs_error"]
        and "metric.time_ms" in header
    )
    code, out, _ = call("results", "--solution", "hello-sweep", "--columns", "pi_estimate", "samples")
    assert code == 0 and out.splitlines()[0].split() == ["run_id", "status", "metric.pi_estimate", "param.samples"]
    code, _, err = call("results", "--solution", "hello-sweep", "--columns", "nope")
    assert code == 2 and "--columns: no column 'nope'" in err and "metric.pi_estimate" in err
    code, out, _ = call("results", "--solution", str(hello), "--all-columns")
    assert "env.python" in out.splitlines()[0]
