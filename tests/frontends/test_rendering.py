"""reefnb.frontends.rendering: the words every front end uses for a run's telemetry and attached files."""

from __future__ import annotations

import hashlib

from reefnb.frontends.rendering import (
    attachment_lines,
    file_details,
    file_line,
    record_text,
    refused_line,
    system_summary,
    telemetry_change_line,
)


def test_system_summary_is_one_line_with_what_was_measured():
    system = {
        "peak_rss_mb": 412.3,
        "cpu_seconds": 2.13,
        "cpu_percent_mean": 98.0,
        "read_mb": 1,
        "write_mb": 0.5,
        "samples": 12,
    }
    assert system_summary(system) == (
        "peak RSS 412 MB, CPU 2.13 s (98%), read 1 MB, write 0.5 MB, energy n/a, 12 samples"
    )
    gpu = {**system, "energy_joules": 1500.0, "gpu_peak_memory_mb": 2048, "gpu_energy_joules": 80.5}
    assert "energy 1500 J" in system_summary(gpu) and "GPU peak 2048 MB, 80.5 J" in system_summary(gpu)
    assert system_summary(None) == "" and system_summary({"peak_rss_mb": "?"}).startswith("peak RSS ? MB")


def test_telemetry_change_line_gives_the_ratio_when_known():
    changes = {
        "cpu_seconds": {"original": 2.1, "here": 4.3, "unit": "s", "ratio": 2.05},
        "samples": {"original": 0, "here": 3, "unit": "", "ratio": None},
    }
    assert telemetry_change_line(changes) == "cpu_seconds 2.1 -> 4.3 s (x2.05), samples 0 -> 3"


def test_attached_files_of_a_record(tmp_path):
    output = tmp_path / "runs" / "r1" / "out.ipynb"
    (output.parent / "files").mkdir(parents=True)
    content = b"hello\n"
    entry = {"name": "logs/a.txt", "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    record = {
        "run_id": "r1",
        "notebook": {"output_path": str(output)},
        "files": [entry],
        "files_refused": [{"name": "big.bin", "reason": "over the limit"}],
    }
    assert file_details(entry) == f"6 B  text/plain  sha256 {entry['sha256'][:12]}"
    assert file_line(entry) == f"logs/a.txt  {file_details(entry)}"
    assert refused_line(record["files_refused"][0]) == "not kept: big.bin: over the limit"
    assert attachment_lines(record) == [
        f"  files: {output.parent / 'files'}",
        f"    {file_line(entry)}",
        "  not kept: big.bin: over the limit",
    ]
    assert attachment_lines({**record, "notebook": {"output_path": "out.ipynb"}})[0] == "  files: (not on this machine)"
    assert attachment_lines({}) == []
    text = record_text({**record, "status": "ok", "solution": {"name": "s", "version": "1"}, "system": {"samples": 2}})
    assert "  system: peak RSS ? MB" in text and f"    {file_line(entry)}" in text
