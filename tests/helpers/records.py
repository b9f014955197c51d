"""Run records made by hand, valid against run-record.schema.json: for stores, frames, registries and dashboards."""

from __future__ import annotations

import reefnb


def make_record(
    run_id: str,
    solution: str = "demo",
    status: str = "ok",
    started: str = "2026-01-01T00:00:00+00:00",
    parameters: dict | None = None,
    metrics: dict | None = None,
) -> dict:
    """A run record as the executor writes one (valid against run-record.schema.json)."""
    return {
        "record_version": 1,
        "run_id": run_id,
        "solution": {"name": solution, "version": "0.1.0", "path": f"/solutions/{solution}"},
        "workflow": "run",
        "notebook": {
            "path": "main.ipynb",
            "sha256": "ab" * 32,
            "output_path": f"/solutions/{solution}/runs/{run_id}.ipynb",
        },
        "parameters": {"samples": 1000, "method": "random"} if parameters is None else parameters,
        "metrics": {"loss": {"value": 0.5, "unit": None, "cell_index": 2}, "time_ms": {"value": 12.5, "unit": "ms"}}
        if metrics is None
        else metrics,
        "status": status,
        "error": None
        if status == "ok"
        else {"name": "ValueError", "message": "boom", "cell_index": 3, "execution_count": 3},
        "started": started,
        "ended": started.replace("00:00+", "00:02+", 1),
        "duration_s": 2.0,
        "environment": {
            "name": None,
            "kernel": "python3",
            "hostname": "box",
            "os": {"platform": "Linux-6.1-x86_64", "system": "Linux"},
            "cpu": {"model": "Test CPU", "count": 8},
            "memory_bytes": 16 * 2**30,
            "python": {"version": "3.11.7", "implementation": "CPython"},
            "packages": {"numpy": "2.0.0"},
        },
        "provenance": {"reefnb_version": reefnb.__version__, "git": None, "command": "reef run"},
    }


def sweep_record(
    index: int, method: str, samples: int, time_ms: float, abs_error: float, environment: str, status: str = "ok"
) -> dict:
    """A benchmark run record of hello-sweep (its method, samples and metrics given), in one environment."""
    run_id = f"20260101T0000{index:02d}Z-{index:08x}"
    return {
        "record_version": 1,
        "run_id": run_id,
        "solution": {"name": "hello-sweep", "version": "0.1.0", "path": "/solutions/hello-sweep"},
        "workflow": "benchmark",
        "notebook": {"path": "main.ipynb", "sha256": "ab" * 32, "output_path": f"/runs/{run_id}.ipynb"},
        "parameters": {"samples": samples, "method": method},
        "metrics": {
            "time_ms": {"value": time_ms, "unit": "ms"},
            "abs_error": {"value": abs_error, "unit": None},
            "points": {"value": samples, "unit": "points"},
        },
        "status": status,
        "error": None
        if status == "ok"
        else {"name": "ValueError", "message": "boom", "cell_index": 3, "execution_count": 3},
        "started": f"2026-01-01T00:00:{index:02d}+00:00",
        "ended": f"2026-01-01T00:00:{index:02d}+00:00",
        "duration_s": 1.0,
        "environment": {
            "name": environment,
            "kernel": "python3",
            "hostname": "box",
            "os": {"platform": "Linux"},
            "cpu": {"model": "Test CPU", "count": 8},
            "memory_bytes": 2**34,
            "python": {"version": "3.11.7"},
        },
        "provenance": {"reefnb_version": reefnb.__version__, "git": None, "command": "reef benchmark"},
    }


FLAGSHIP_DEFAULTS = {
    "model": "ssd-mobilenet-tiny-w100-128",
    "backend": "tflite",
    "dataset": "synthetic-50",
    "scenario": "SingleStream",
    "loadgen_profile": "short",
}


def flagship_records(folder, count: int = 6) -> list[dict]:
    """Runs of the flagship as its notebook records them (metrics with units); the first one is the
    point of the expectation w100-tflite-accuracy (the run workflow's defaults, mode=accuracy), the fourth
    (tflite, mode=both) satisfies it too."""
    records = []
    for index in range(count):
        backend = ("tflite", "tflite-int8", "tf")[index % 3]
        parameters = {**FLAGSHIP_DEFAULTS, "backend": backend, "mode": "accuracy" if index == 0 else "both"}
        metrics = {
            "mAP": {"value": 0.5631 - 0.01 * index, "unit": None},
            "AP50": {"value": 0.65 + 0.03 * index, "unit": None},
            "AP75": {"value": 0.7 + 0.02 * index, "unit": None},
            "latency_p90_ms": {"value": 4.0 + index, "unit": "ms"},
        }
        record = make_record(
            f"20260101T00000{index}Z-fa{index:06x}",
            solution="obj-detection-coco-tf",
            parameters=parameters,
            metrics=metrics,
        )
        record["solution"].update({"version": "0.1.0", "path": str(folder)})
        records.append(record)
    return records


def monthly_records(
    count: int, prefix: str = "aa", month: str = "2026-03", solution: str = "hello-sweep"
) -> list[dict]:
    """``count`` ok runs of ``solution`` started on the first of ``month``, ids prefixed by ``prefix``."""
    records = []
    for index in range(count):
        record = make_record(
            f"{month.replace('-', '')}01T000000Z-{prefix}{index:06x}",
            solution=solution,
            started=f"{month}-01T00:00:00+00:00",
            parameters={"samples": index, "method": "random"},
            metrics={"abs_error": {"value": 1.0 / (index + 1), "unit": None}},
        )
        records.append(record)
    return records
