"""Run telemetry (reefnb.runs.telemetry): the run's process tree sampled on real kernels; RAPL on a powercap tree the
test writes (this machine has no /sys/class/powercap); the GPU through a fake nvidia-smi on PATH (there is no GPU
here: the fake prints what nvidia-smi's CSV query prints, which is all reef reads)."""

from __future__ import annotations

import csv
import os
import stat
import sys
from pathlib import Path

import jsonschema
import psutil
import pytest
from helpers.cli import call
from helpers.servers import wait_until
from helpers.solutions import write_solution

import reefnb
from reefnb.runs import telemetry
from reefnb.runs.telemetry import GpuMonitor, RaplReader, Sampler, TelemetryOptions

RECORD_SCHEMA = reefnb.schema("run-record")
MANIFEST = {"name": "busy", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}

# 400 MB allocated and touched (every page written), held while it is sampled
ALLOCATE = """
import time
block = bytearray(megabytes * 1024 * 1024)
for offset in range(0, len(block), 4096):
    block[offset] = 1
time.sleep(hold)
del block
"""
# one core busy for 2 s of CPU time (measured by the process itself, so a loaded machine only makes it longer)
SPIN = """
import time
start = time.process_time()
while time.process_time() - start < spin:
    pass
"""
# a child process of the kernel that holds 300 MB and spins 1.5 s of CPU
CHILD = """
import subprocess, sys
code = ("import time\\nb = bytearray(300 * 1024 * 1024)\\nfor i in range(0, len(b), 4096): b[i] = 1\\n"
        "s = time.process_time()\\nwhile time.process_time() - s < 1.5: pass\\ntime.sleep(0.6)")
subprocess.run([sys.executable, "-c", code], check=True)
"""


def test_a_run_records_peak_memory_and_cpu_of_its_kernel(tmp_path):
    folder = write_solution(tmp_path / "busy", MANIFEST, "megabytes = 400\nhold = 0.8\nspin = 2.0", ALLOCATE, SPIN)
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    jsonschema.Draft202012Validator(RECORD_SCHEMA).validate(record)
    system = record["system"]
    assert system["peak_rss_mb"] >= 400
    assert system["cpu_seconds"] >= 1.6
    assert system["samples"] >= 5  # 200 ms over a run of more than 2.8 s
    assert 0 < system["cpu_percent_mean"]
    # nothing here to measure energy or a GPU with: null, and why
    assert system["energy_joules"] is None and "intel-rapl" in system["energy_unavailable"]
    assert system["gpu_peak_memory_mb"] is None and system["gpu_energy_joules"] is None
    assert "nvidia-smi" in system["gpu_unavailable"]
    series = Path(record["notebook"]["output_path"]).parent / "telemetry.csv"
    rows = list(csv.DictReader(series.open()))
    assert len(rows) == system["samples"]
    assert max(float(row["rss_mb"]) for row in rows) >= 400
    assert float(rows[-1]["cpu_seconds"]) == pytest.approx(system["cpu_seconds"], abs=0.01)
    assert reefnb.default_store().get(record["run_id"])["system"] == system
    frame = reefnb.results()
    assert frame.loc[0, "sys.peak_rss_mb"] == system["peak_rss_mb"]
    assert frame.loc[0, "sys.cpu_seconds"] == system["cpu_seconds"]
    assert "sys.energy_joules" not in frame.columns  # null in every row: no column, as for metrics
    assert frame.attrs["units"]["sys.peak_rss_mb"] == "MB"
    assert reefnb.results(where="sys.cpu_seconds >= 1.6")["run_id"].tolist() == [record["run_id"]]


def test_a_child_process_memory_and_cpu_count(tmp_path):
    folder = write_solution(tmp_path / "busy", MANIFEST, "x = 1", CHILD)
    record = reefnb.run(folder)
    assert record["status"] == "ok", record["error"]
    system = record["system"]
    assert system["processes"] >= 2
    assert system["cpu_seconds"] >= 1.2  # the child's 1.5 s, sampled up to its last 200 ms
    assert system["peak_rss_mb"] >= 300  # the kernel alone holds far less


def test_no_telemetry_switch_and_manifest_setting(tmp_path):
    folder = write_solution(tmp_path / "quiet", {**MANIFEST, "telemetry": False}, "x = 1", "y = x + 1")
    record = reefnb.run(folder)
    assert "system" not in record
    assert not (Path(record["notebook"]["output_path"]).parent / "telemetry.csv").exists()
    other = write_solution(
        tmp_path / "often", {**MANIFEST, "telemetry": {"interval_ms": 50}}, "x = 1", "import time; time.sleep(0.6)"
    )
    record = reefnb.run(other)
    assert record["system"]["interval_s"] == 0.05 and record["system"]["samples"] >= 6
    code, out, err = call("run", str(other), "--no-telemetry")
    assert code == 0, err
    assert "peak RSS" not in out
    code, out, err = call("run", str(other))
    assert code == 0, err
    assert "peak RSS" in out and "energy n/a" in out


def test_a_bad_manifest_telemetry_setting_is_one_line(tmp_path):
    folder = write_solution(tmp_path / "bad", {**MANIFEST, "telemetry": {"interval_ms": "fast"}}, "x = 1")
    code, out, err = call("validate", str(folder))
    assert code == 2
    assert "/telemetry" in err and len(err.strip().splitlines()) == 1


# --- RAPL on a powercap tree written by the test --------------------------------------------------


def _zone(root: Path, name: str, label: str, energy: int, max_range: int = 262143328850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


def test_rapl_sums_packages_and_dram_and_handles_a_counter_wrap(tmp_path):
    root = tmp_path / "powercap"
    package = _zone(root, "intel-rapl:0", "package-0", 999_000_000, max_range=1_000_000_000)
    _zone(root, "intel-rapl:0:0", "core", 5_000_000)  # inside the package: not added again
    dram = _zone(root, "intel-rapl:0:1", "dram", 10_000_000)
    _zone(root, "intel-rapl:1", "psys", 7_000_000)  # the whole platform, packages included: not added
    reader = RaplReader(root)
    assert sorted(zone.name for zone in reader.zones) == ["dram", "package-0"]
    assert reader.update() == 0
    (package / "energy_uj").write_text("3000000\n")  # wrapped: 1 J to the top, then 3 J
    (dram / "energy_uj").write_text("12500000\n")
    assert reader.update() == pytest.approx(4.0 + 2.5)
    (package / "energy_uj").write_text("4000000\n")
    assert reader.update() == pytest.approx(7.5)


def test_rapl_absent_or_unreadable_says_why(tmp_path):
    assert RaplReader(tmp_path / "none").zones == []
    assert "no RAPL energy counters" in RaplReader(tmp_path / "none").reason
    root = tmp_path / "powercap"
    zone = _zone(root, "intel-rapl:0", "package-0", 1)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # unreadable as a file, whoever runs the test (root reads a mode-000 file)
    reader = RaplReader(root)
    assert reader.zones == [] and "energy_uj" in reader.reason


def test_a_run_measures_energy_from_the_configured_powercap_tree(tmp_path, monkeypatch):
    root = tmp_path / "powercap"
    package = _zone(root, "intel-rapl:0", "package-0", 100)
    monkeypatch.setenv(telemetry.POWERCAP_ROOT_VARIABLE, str(root))
    sampler = Sampler(os.getpid(), TelemetryOptions(interval_s=0.02))
    (package / "energy_uj").write_text(f"{100 + 2_500_000}\n")
    summary = sampler.stop(tmp_path)  # its last sample reads the counters
    assert summary["energy_joules"] == pytest.approx(2.5)
    assert "energy_unavailable" not in summary


# --- the GPU through a fake nvidia-smi ----------------------------------------------------------

FAKE_NVIDIA_SMI = """#!{python}
import sys, time
args = " ".join(sys.argv[1:])
assert "--query-gpu=index,utilization.gpu,memory.used,power.draw" in args, args
assert "--format=csv,noheader,nounits" in args, args
memory = 1000
for step in range(1000):
    print(f"0, 50, {{memory + 100 * min(step, 5)}}, 100.0", flush=True)
    print(f"1, 10, 500, [N/A]", flush=True)
    time.sleep(0.02)
"""


def _fake_nvidia_smi(folder: Path, text: str) -> None:
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(text.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_gpu_memory_and_energy_from_nvidia_smi(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path / "bin", FAKE_NVIDIA_SMI)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    sampler = Sampler(os.getpid(), TelemetryOptions(interval_s=0.02))
    wait_until(  # the fake's memory at its highest, and 0.3 s of its 100 W
        lambda: sampler.gpu.peak_memory_mb == 2000 and (sampler.gpu.sample()["gpu_energy_joules"] or 0) >= 30,
        what="nvidia-smi's readings",
    )
    summary = sampler.stop(tmp_path)
    assert summary["gpu_peak_memory_mb"] == 2000  # 1500 on GPU 0 at its highest, 500 on GPU 1
    # 100 W on GPU 0 over the time it reported; GPU 1 has no power reading
    assert 100 * 0.2 <= summary["gpu_energy_joules"] <= 100 * 0.8
    assert "gpu_unavailable" not in summary
    rows = list(csv.DictReader((tmp_path / "telemetry.csv").open()))
    assert any(row["gpu_memory_mb"] for row in rows)


def test_nvidia_smi_without_a_driver_says_why(tmp_path, monkeypatch):
    failing = (
        "#!{python}\nprint('NVIDIA-SMI has failed because it could not communicate with the NVIDIA "
        "driver.')\nraise SystemExit(9)\n"
    )
    _fake_nvidia_smi(tmp_path / "bin", failing)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monitor = GpuMonitor(0.05)
    wait_until(lambda: monitor._process.poll() is not None, what="the failing nvidia-smi to exit")  # it said why
    monitor.stop()
    assert monitor.peak_memory_mb is None
    assert "could not communicate with the NVIDIA driver" in monitor.reason


def test_a_process_ended_between_samples_keeps_its_cpu(tmp_path):
    child = psutil.Popen(
        [
            sys.executable,
            "-c",
            "import time\ns = time.process_time()\nwhile time.process_time() - s < 0.5: pass\ntime.sleep(0.5)",
        ]
    )
    try:
        sampler = Sampler(os.getpid(), TelemetryOptions(interval_s=0.05))
        child.wait()
        summary = sampler.stop()
    finally:
        child.kill() if child.is_running() else None
    assert summary["cpu_seconds"] >= 0.3  # what the child had used at its last sample


# --- where telemetry is shown: reproduce, dashboard, export ----------------------------------------

TIMED = """
import time, reefnb
begin, cpu = time.perf_counter(), time.process_time()
while time.process_time() - cpu < spin:
    pass
reefnb.record("time_ms", (time.perf_counter() - begin) * 1000, unit="ms")
reefnb.record("answer", 42)
"""


def test_reproduce_shows_telemetry_beside_a_timing_that_moved(tmp_path, capsys):
    import json

    from reefnb.frontends.cli import main

    manifest = {
        **MANIFEST,
        "metrics": [{"name": "time_ms", "unit": "ms", "goal": "min"}, {"name": "answer"}],
        "expected": [
            {
                "parameters": {"spin": 0.3},
                "metrics": {"time_ms": {"value": 3.0, "tolerance": {"informational": True}}, "answer": {"value": 42}},
            }
        ],
    }
    folder = write_solution(tmp_path / "timed", manifest, "spin = 0.1", TIMED)
    original = reefnb.run(folder, parameters={"spin": 0.3}, store=False)
    original["system"] = {
        **original["system"],
        "cpu_seconds": 0.1,
        "peak_rss_mb": 1.0,
    }  # the original machine: less CPU, less memory
    (folder / "results").mkdir()
    (folder / "results" / f"{original['run_id']}.json").write_text(json.dumps(original))
    code = main(["reproduce", str(folder), "--report", str(tmp_path / "report.json")])
    out = capsys.readouterr().out
    assert code == 0, (
        out
    )  # a timing is informational: it moved (3 ms expected, ~300 ms here) without failing the reproduction
    assert "telemetry (original -> here): peak_rss_mb 1 -> " in out and "cpu_seconds 0.1 -> " in out
    changes = json.loads((tmp_path / "report.json").read_text())["experiments"][0]["telemetry_differences"]
    assert changes["cpu_seconds"]["original"] == 0.1 and changes["cpu_seconds"]["here"] >= 0.2
    assert changes["cpu_seconds"]["ratio"] >= 2
    assert "what the machine did in the original run and here" in (tmp_path / "report.html").read_text()


def test_dashboard_shows_each_runs_series_and_a_per_environment_summary(tmp_path):
    from reefnb.analysis.dashboard import dashboard_html

    folder = write_solution(
        tmp_path / "timed",
        {
            **MANIFEST,
            "metrics": [{"name": "time_ms", "unit": "ms", "goal": "min"}],
            "dashboard": {"x": "time_ms", "y": "sys.peak_rss_mb"},
        },
        "spin = 0.1",
        TIMED,
    )
    runs = [reefnb.run(folder, parameters={"spin": spin}) for spin in (0.1, 0.4)]
    frame = reefnb.results()
    solution = reefnb.load_solution(folder)
    from reefnb.analysis.dashboard import default_objectives, environment_summary

    assert default_objectives(solution, frame) == {"metric.time_ms": "min", "sys.peak_rss_mb": "min"}
    summary = environment_summary(frame, {}, {})
    assert summary.loc[0, "median cpu_seconds"].endswith(" s") and summary.loc[0, "median peak_rss_mb"].endswith(" MB")
    page = dashboard_html(frame, solution=solution)
    assert "What the machine did (telemetry)" in page and "telemetry_run" in page
    assert all(run["run_id"] in page for run in runs)
    assert "median cpu_seconds" in page


def test_export_packs_each_runs_series(tmp_path):
    import zipfile

    from reefnb.sharing.package import export_package

    folder = write_solution(
        tmp_path / "timed", {**MANIFEST, "metrics": [{"name": "time_ms", "unit": "ms"}]}, "spin = 0.1", TIMED
    )
    record = reefnb.run(folder)
    summary = export_package(folder, tmp_path / "timed.reef.zip")
    name = f"results/{record['run_id']}.telemetry.csv"
    assert name in summary["members"]
    with zipfile.ZipFile(tmp_path / "timed.reef.zip") as archive:
        rows = list(csv.DictReader(archive.read(name).decode().splitlines()))
    assert len(rows) == record["system"]["samples"]
