"""``reef reproduce``'s report as text for people: each experiment, its metrics and outputs, what differs from the
recorded run, the claims, and one line saying how much was compared.

``reefnb.analysis.reproduce`` returns the report (a dict, the JSON ``reef reproduce --json`` prints) and writes its HTML
page; the ``reef`` command prints these lines.
"""

from __future__ import annotations

from reefnb.analysis.reproduce import (
    MISSING,
    NOT_REPRODUCED,
    compared_text,
    failure_reasons,
    tolerance_summary,
    value_text,
)
from reefnb.frontends.rendering import telemetry_change_line


def report_lines(report: dict) -> list[str]:
    """The report for people: each experiment with its metrics and outputs, what differs from the recorded run
    beside any failure or difference, the claims, then one line that says how much was compared."""
    lines = [f"warning: {path}: read by the recorded run, missing here" for path in report.get("missing_files", [])]
    for experiment in report["experiments"]:
        lines += experiment_lines(experiment)
    for claim in report.get("claims", []):
        lines.append(f"claim {claim['id']}: {claim['verdict'].upper()}: {claim['statement']}")
        for name, verdict in claim["metrics"].items():
            lines.append(f"  {name}: {verdict}")
    if report.get("profile"):
        profile = report["profile"]
        planned = f", expected {profile['expected_minutes']} min" if profile.get("expected_minutes") else ""
        lines.append(f"profile {profile['name']}: {profile['elapsed_minutes']} min{planned}")
    lines.append(
        f"{report['solution']}: {report['verdict'].upper()} ({compared_text(report)}); report: {report['html_report']}"
    )
    return lines


def experiment_lines(experiment: dict) -> list[str]:
    """One experiment for people: its run and verdict, why it failed, its metrics and outputs, what differs."""
    parameters = " ".join(f"{key}={value!r}" for key, value in experiment["parameters"].items()) or "(defaults)"
    run = f"run {experiment['run_id']} {experiment['status']}"
    lines = [f"{experiment['workflow']} {parameters}: {run}: {experiment['verdict'].upper()}"]
    lines += [f"  {reason}" for reason in failure_reasons(experiment)]
    for name, metric in experiment["metrics"].items():
        text = f"  {name}: {metric['verdict']}"
        if metric["verdict"] != MISSING:
            text += f" (expected {value_text(metric['expected'])}, got {value_text(metric['got'])}"
            if metric["verdict"] == NOT_REPRODUCED and metric.get("relative_difference") is not None:
                text += f", relative difference {metric['relative_difference']:.3g}"
            text += f", tolerance {tolerance_summary(metric['tolerance'])})"
        lines.append(text)
    lines += output_lines(experiment.get("outputs"))
    lines += difference_lines(experiment)
    if experiment.get("files"):
        lines.append(attached_files_line(experiment["files"]))
    if experiment.get("telemetry_differences"):
        lines.append(f"  telemetry (original -> here): {telemetry_change_line(experiment['telemetry_differences'])}")
    return lines


def output_lines(outputs: dict | None) -> list[str]:
    """The outputs compared, and each difference (cell, kind, the first thing that differs)."""
    if outputs is None:
        return ["  outputs: not compared (no recorded notebook to compare with)"]
    different = len(outputs["differences"])
    lines = [
        f"  outputs: {outputs['compared']} compared, {outputs['volatile']} volatile ignored, {different} different"
    ]
    for difference in outputs["differences"][:_SHOWN_DIFFERENCES]:
        lines.append(f"  output differs: {difference['first']}")
    if len(outputs["differences"]) > _SHOWN_DIFFERENCES:
        lines.append(f"  ... and {len(outputs['differences']) - _SHOWN_DIFFERENCES} more (see the report)")
    return lines


_SHOWN_DIFFERENCES = 5


def difference_lines(experiment: dict) -> list[str]:
    """What differs from the recorded run: its inputs (code cells, files, parameters) and its environment."""
    lines = []
    inputs = experiment.get("input_differences") or {}
    if inputs.get("code_cells"):
        cells = inputs["code_cells"]
        named = f"code cell{'s' if len(cells) != 1 else ''} {', '.join(map(str, cells))}"
        lines.append(f"  input: {named} changed since the recorded run")
    if inputs.get("notebook"):
        lines.append(f"  input: the notebook: {inputs['notebook']}")
    for path, change in (inputs.get("files") or {}).items():
        lines.append(f"  input: {path}: {change} (read by the recorded run)")
    for name, (before, after) in (inputs.get("parameters") or {}).items():
        lines.append(f"  input: parameter {name}: {before!r} recorded, {after!r} here")
    differences = experiment.get("environment_differences")
    if differences is not None and not differences:
        lines.append("  environment: the same as the recorded run's (kernel, python, platform, packages)")
    for key, change in (differences or {}).items():
        if isinstance(change, dict):
            shown = ", ".join(f"{name} {before} -> {after}" for name, (before, after) in list(change.items())[:8])
            more = f" (and {len(change) - 8} more)" if len(change) > 8 else ""
            lines.append(f"  environment {key} differs: {shown}{more}")
        else:
            lines.append(f"  environment {key} differs: {change[0]} -> {change[1]}")
    return lines


def attached_files_line(comparison: dict) -> str:
    return (
        "  attached files: "
        + ", ".join(f"{len(names)} {kind}" for kind, names in comparison.items() if names)
        + "".join(f"\n    {kind}: {', '.join(names)}" for kind, names in comparison.items() if names and kind != "same")
    )
