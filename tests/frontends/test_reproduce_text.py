"""reefnb.frontends.reproduce_text: `reef reproduce`'s report (the dict reefnb.analysis.reproduce returns) as lines."""

from __future__ import annotations

from reefnb.frontends.reproduce_text import attached_files_line, difference_lines, output_lines, report_lines


def _experiment(**changes) -> dict:
    experiment = {
        "workflow": "run",
        "parameters": {"samples": 100},
        "run_id": "r1",
        "status": "ok",
        "verdict": "not reproduced",
        "metrics": {
            "pi": {
                "verdict": "not reproduced",
                "expected": 3.14159,
                "got": 3.5,
                "relative_difference": 0.114,
                "tolerance": {"rel": 0.01},
            },
            "gone": {"verdict": "missing", "expected": 1, "got": None, "tolerance": {}},
        },
        "outputs": {"compared": 3, "volatile": 1, "differences": []},
    }
    return {**experiment, **changes}


def _report(experiments: list[dict]) -> dict:
    return {
        "solution": "hello-sweep@0.1.0",
        "verdict": "not reproduced",
        "experiments": experiments,
        "counts": {"reproduced": 0, "not reproduced": 1, "missing": 1, "informational": 0},
        "outputs": {"compared": 3, "volatile": 1, "different": 0},
        "claims": [{"id": "fast", "verdict": "supported", "statement": "it is fast", "metrics": {"pi": "ok"}}],
        "missing_files": ["data/in.csv"],
        "html_report": "/tmp/report.html",
    }


def test_report_lines_walk_the_experiments_then_the_claims_then_the_verdict():
    lines = report_lines(_report([_experiment()]))
    assert lines[0] == "warning: data/in.csv: read by the recorded run, missing here"
    assert lines[1] == "run samples=100: run r1 ok: NOT REPRODUCED"
    assert "  pi: not reproduced (expected 3.14159, got 3.5, relative difference 0.114, tolerance rel 0.01)" in lines
    assert "  gone: missing" in lines
    assert "  outputs: 3 compared, 1 volatile ignored, 0 different" in lines
    assert lines[-3:-1] == ["claim fast: SUPPORTED: it is fast", "  pi: ok"]
    assert lines[-1].startswith("hello-sweep@0.1.0: NOT REPRODUCED (2 metrics, 3 outputs compared, 1 volatile ignored")
    assert lines[-1].endswith("; report: /tmp/report.html")


def test_outputs_not_compared_and_many_differences_are_said_so():
    assert output_lines(None) == ["  outputs: not compared (no recorded notebook to compare with)"]
    many = {"compared": 9, "volatile": 0, "differences": [{"first": f"cell {n}"} for n in range(7)]}
    lines = output_lines(many)
    assert lines[1:6] == [f"  output differs: cell {n}" for n in range(5)]
    assert lines[-1] == "  ... and 2 more (see the report)"


def test_difference_lines_name_inputs_and_environment():
    experiment = _experiment(
        input_differences={"code_cells": [2], "parameters": {"samples": [100, 200]}},
        environment_differences={"packages": {"numpy": ["1.0", "2.0"]}, "python": ["3.10", "3.11"]},
    )
    assert difference_lines(experiment) == [
        "  input: code cell 2 changed since the recorded run",
        "  input: parameter samples: 100 recorded, 200 here",
        "  environment packages differs: numpy 1.0 -> 2.0",
        "  environment python differs: 3.10 -> 3.11",
    ]
    same = difference_lines(_experiment(environment_differences={}))
    assert same == ["  environment: the same as the recorded run's (kernel, python, platform, packages)"]


def test_attached_files_and_telemetry_changes_in_an_experiment():
    comparison = {"same": ["a.txt", "b.txt"], "different": ["c.txt"], "missing": [], "new": []}
    assert attached_files_line(comparison) == "  attached files: 2 same, 1 different\n    different: c.txt"
    changes = {"cpu_seconds": {"original": 2.1, "here": 4.3, "unit": "s", "ratio": 2.05}}
    lines = report_lines(_report([_experiment(files=comparison, telemetry_differences=changes)]))
    assert "  telemetry (original -> here): cpu_seconds 2.1 -> 4.3 s (x2.05)" in lines
    assert "  attached files: 2 same, 1 different\n    different: c.txt" in lines


def test_why_a_run_failed_is_indented_under_its_experiment():
    failed = _experiment(
        status="failed",
        verdict="missing",
        metrics={},
        error={"name": "ValueError", "message": "boom", "cell_index": 3, "cell_source": "x = f()"},
        missing_files=["data/in.csv"],
    )
    lines = report_lines(_report([failed]))
    assert lines[1:4] == [
        "run samples=100: run r1 failed: MISSING",
        "  failed: ValueError: boom in cell 3 (`x = f()`)",
        "  files the original run read, missing here: data/in.csv",
    ]
