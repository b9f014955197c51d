"""Run telemetry: what the machine did while a run executed (CPU, memory, threads, disk I/O, energy, GPU).

While a run executes, a thread of the process that runs it samples the kernel's whole process tree
(the kernel and everything it started, as ``reefnb.runs.processes`` tracks them, orphans included) every
``interval`` seconds (default 0.2) with psutil, and the host (CPU utilisation and frequency, load).
Energy comes from Linux RAPL (``/sys/class/powercap/intel-rapl:*/energy_uj``: package zones and
their DRAM subzones, the counters' wrap-around at ``max_energy_range_uj`` handled) when readable; the
GPU's utilisation, memory and power from ``nvidia-smi`` when it is on PATH. What cannot be measured
is null in the summary, with the reason beside it (``energy_unavailable``, ``gpu_unavailable``).

Scopes: CPU, memory, threads and disk are the run's own processes; energy (RAPL) and the GPU are
the whole host's and the whole device's (other work on the machine counts too).

The summary goes into the run record as ``system``; the time series is written beside the executed
notebook as ``telemetry.csv`` (one row a sample).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from reefnb.runs import processes
from reefnb.solution.columns import SYSTEM_METRICS

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.2
MIN_INTERVAL_S = 0.01
DISCOVERY_S = 1.0  # new descendants are looked for at most this often (a scan of every process: ~10 ms here)
POWERCAP_ROOT = "/sys/class/powercap"
POWERCAP_ROOT_VARIABLE = "REEF_POWERCAP_ROOT"  # another powercap tree (tests write one)
SERIES_FILE = "telemetry.csv"
MB = 1024 * 1024

SERIES_COLUMNS = [
    "t_s",
    "processes",
    "threads",
    "rss_mb",
    "cpu_seconds",
    "cpu_percent",
    "read_mb",
    "write_mb",
    "host_cpu_percent",
    "host_cpu_mhz",
    "load_1m",
    "energy_joules",
    "gpu_utilization_percent",
    "gpu_memory_mb",
    "gpu_power_w",
    "gpu_energy_joules",
]


@dataclass(frozen=True)
class TelemetryOptions:
    """Whether to sample, how often, and where RAPL's powercap tree is (None: ``$REEF_POWERCAP_ROOT`` or sysfs)."""

    enabled: bool = True
    interval_s: float = DEFAULT_INTERVAL_S
    powercap_root: str | None = None


def telemetry_options(
    setting: Any = None, enabled: bool | None = None, interval_s: float | None = None
) -> TelemetryOptions:
    """Options from a manifest's ``telemetry`` setting (true/false or ``{"enabled", "interval_ms"}``), then the
    caller's ``enabled`` (``--no-telemetry``) and ``interval_s``, later wins."""
    options = TelemetryOptions()
    if isinstance(setting, bool):
        options = TelemetryOptions(enabled=setting)
    elif isinstance(setting, dict):
        interval = setting.get("interval_ms")
        options = TelemetryOptions(
            enabled=setting.get("enabled", True), interval_s=interval / 1000 if interval else DEFAULT_INTERVAL_S
        )
    if enabled is not None:
        options = TelemetryOptions(enabled=enabled, interval_s=options.interval_s, powercap_root=options.powercap_root)
    if interval_s is not None:
        options = TelemetryOptions(enabled=options.enabled, interval_s=interval_s, powercap_root=options.powercap_root)
    return options


# --- RAPL ---------------------------------------------------------------------------------------


@dataclass
class RaplZone:
    name: str
    path: Path  # the zone's folder
    max_range_uj: int
    last_uj: int = 0
    joules: float = 0.0

    def update(self, now_uj: int) -> None:
        """Add the energy since the last reading; a counter that went back wrapped at ``max_range_uj``."""
        delta = now_uj - self.last_uj
        if delta < 0:
            delta += self.max_range_uj
        self.joules += delta / 1e6
        self.last_uj = now_uj


class RaplReader:
    """The host's energy counters under a powercap tree; ``reason``
    says why there is no reading when ``zones`` is empty."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get(POWERCAP_ROOT_VARIABLE) or POWERCAP_ROOT)
        self.zones: list[RaplZone] = []
        self.reason: str | None = None
        try:
            self._open()
        except OSError as error:
            self.zones, self.reason = [], _os_reason(error)

    def _open(self) -> None:
        found = sorted(self.root.glob("intel-rapl:*")) if self.root.is_dir() else []
        chosen = []
        for folder in found:
            depth = folder.name.count(":")
            name = _read_text(folder / "name") or folder.name
            # packages (top level, not the platform-wide psys zone, which contains them) and DRAM (outside them)
            if (depth == 1 and name != "psys") or (depth == 2 and name == "dram"):
                chosen.append((folder, name))
        if not chosen:
            self.reason = f"no RAPL energy counters under {self.root} (intel-rapl:* zones)"
            return
        for folder, name in chosen:
            max_range = int((folder / "max_energy_range_uj").read_text().strip())
            zone = RaplZone(name=name, path=folder, max_range_uj=max_range)
            zone.last_uj = int((folder / "energy_uj").read_text().strip())
            self.zones.append(zone)

    def update(self) -> float | None:
        """Read every counter; the joules since the reader was opened (None without counters)."""
        if not self.zones:
            return None
        try:
            for zone in self.zones:
                zone.update(int((zone.path / "energy_uj").read_text().strip()))
        except (OSError, ValueError) as error:
            self.reason = f"RAPL stopped answering: {error}"
            log.debug("%s", self.reason)
        return sum(zone.joules for zone in self.zones)


def _os_reason(error: OSError) -> str:
    where = error.filename or "RAPL"
    if isinstance(error, PermissionError):
        return f"{where}: permission denied (RAPL counters are readable by root only since Linux 5.10)"
    return f"{where}: {error.strerror or error}"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


# --- GPU (nvidia-smi) ---------------------------------------------------------------------------


GPU_QUERY = "index,utilization.gpu,memory.used,power.draw"
MAX_GPUS = 64  # GPU indexes a report may name: more is no nvidia-smi
MAX_LINE_CHARS = 4096  # a reading is a short line
MAX_OTHER_OUTPUT_BYTES = 1024 * 1024  # what is not a reading (a driver's error says a line)


class GpuMonitor:
    """``nvidia-smi`` reporting every interval in the background (one process, not one per sample).

    ``reason`` says why there is no GPU reading. Memory is the devices' memory in use (all processes);
    energy is power integrated between reports.
    """

    def __init__(self, interval_s: float):
        self.reason: str | None = None
        self.latest: dict[str, tuple[float, float, float | None]] = {}  # GPU index -> utilisation %, memory MB, power W
        self.energy: dict[str, float] = {}
        self.peak_memory_mb: float | None = None
        self._last_power: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        command = shutil.which("nvidia-smi")
        if command is None:
            self.reason = "no GPU: nvidia-smi not found on PATH"
            return
        try:
            self._process = subprocess.Popen(
                [
                    command,
                    f"--query-gpu={GPU_QUERY}",
                    "--format=csv,noheader,nounits",
                    f"-lms={max(1, round(interval_s * 1000))}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
        except OSError as error:
            self.reason = f"no GPU: nvidia-smi did not start: {error.strerror or error}"
            return
        self._other: list[str] = []
        self._thread = threading.Thread(target=self._read, name="reef-gpu-telemetry", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """Readings as they come, a line at a time; what is not a reading is kept to say why (a few lines), and
        past ``MAX_OTHER_OUTPUT_BYTES`` of it (or a line longer than ``MAX_LINE_CHARS``) nvidia-smi is stopped."""
        other = 0
        while line := self._process.stdout.readline(MAX_LINE_CHARS):
            if not self._reading(line):
                other += len(line)
                if len(self._other) < 10:
                    self._other.append(line.strip()[:200])
                if other > MAX_OTHER_OUTPUT_BYTES or (len(line) == MAX_LINE_CHARS and not line.endswith("\n")):
                    self._other.insert(
                        0, f"it said more than {MAX_OTHER_OUTPUT_BYTES // 1024} KiB that is no reading: stopped there"
                    )
                    log.warning("nvidia-smi: %s", self._other[0])
                    self._process.kill()
                    return

    def _reading(self, line: str) -> bool:
        """Note the line as a reading of one GPU (at most ``MAX_GPUS`` of them); False when it is none."""
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 4 or (parts[0] not in self.latest and len(self.latest) >= MAX_GPUS):
            return False
        try:
            index, utilisation, memory = parts[0], _number(parts[1]), _number(parts[2])
        except ValueError:
            return False
        self._note(index, utilisation, memory, _number(parts[3], None), time.monotonic())
        return True

    def _note(self, index: str, utilisation: float, memory: float, power: float | None, now: float) -> None:
        with self._lock:
            self.latest[index] = (utilisation, memory, power)
            total = sum(values[1] for values in self.latest.values())
            self.peak_memory_mb = total if self.peak_memory_mb is None else max(self.peak_memory_mb, total)
            if power is not None:
                before = self._last_power.get(index)
                if before is not None:  # trapezoids between reports
                    self.energy[index] = self.energy.get(index, 0.0) + (before[1] + power) / 2 * (now - before[0])
                self._last_power[index] = (now, power)

    def sample(self) -> dict[str, float | None]:
        with self._lock:
            if not self.latest:
                return {
                    "gpu_utilization_percent": None,
                    "gpu_memory_mb": None,
                    "gpu_power_w": None,
                    "gpu_energy_joules": None,
                }
            values = list(self.latest.values())
            powers = [value[2] for value in values if value[2] is not None]
            return {
                "gpu_utilization_percent": sum(value[0] for value in values) / len(values),
                "gpu_memory_mb": sum(value[1] for value in values),
                "gpu_power_w": sum(powers) if powers else None,
                "gpu_energy_joules": sum(self.energy.values()) if self.energy else None,
            }

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._thread.join(timeout=5)
        if not self.latest:
            said = next((line for line in self._other if line), "")
            self.reason = f"no GPU reading from nvidia-smi{': ' + said[:200] if said else ''}"


def _number(text: str, default: Any = ...) -> float | None:
    try:
        return float(text)
    except ValueError:
        if default is ...:
            raise
        return default  # '[N/A]', '[Not Supported]'


# --- the process tree ---------------------------------------------------------------------------


@dataclass
class _Counted:
    """One process of the run: its CPU and I/O when first seen (not the run's) and when last seen."""

    process: psutil.Process
    cpu_start: float
    read_start: int
    write_start: int
    cpu: float = 0.0
    read: int = 0
    write: int = 0
    peak_rss: int = 0


def _cpu_seconds(times) -> float:
    return times.user + times.system


def _io(process: psutil.Process) -> tuple[int, int]:
    try:
        counters = process.io_counters()
        return counters.read_bytes, counters.write_bytes
    except (psutil.Error, AttributeError, NotImplementedError):  # not permitted, or no such counters here
        return 0, 0


def _peak_rss(pid: int) -> int:
    """The process's own high-water mark (Linux VmHWM), which catches a peak between two samples."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class _Series:
    rows: list[dict] = field(default_factory=list)
    peak_rss: int = 0


class Sampler:
    """Samples a kernel's process tree and the host from a thread until :meth:`stop`.

    The kernel's CPU time and I/O from before the sampler started (its start-up) are not the run's;
    a process that starts later counts from zero. A process that ends between samples keeps what it had
    at its last sample.
    """

    def __init__(self, pid: int, options: TelemetryOptions | None = None):
        self.pid = pid
        self.options = options or TelemetryOptions()
        self.interval = max(MIN_INTERVAL_S, float(self.options.interval_s))
        self.counted: dict[tuple[int, float], _Counted] = {}
        self.series = _Series()
        self.rapl = RaplReader(self.options.powercap_root)
        self.gpu = GpuMonitor(self.interval)
        self.tracker = processes.tracked(pid)
        try:
            self.root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self.root = None
        psutil.cpu_percent(None)  # the host's utilisation is measured from here
        self.started = time.monotonic()
        self._sample_time = 0.0
        self._known: list[psutil.Process] | None = None
        self._discovered = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reef-telemetry", daemon=True)
        self._scan(baseline=True)  # what the processes used before the run's first cell is not the run's
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # telemetry never stops a run
                log.debug("telemetry sample failed", exc_info=True)

    def _members(self) -> list[psutil.Process]:
        if self.root is None:
            return []
        now = time.monotonic()
        if self._known is not None and now - self._discovered < DISCOVERY_S:
            return self._known  # the processes found last time (those gone are skipped by _scan)
        self._discovered = now
        members = {self.root.pid: self.root}
        if self.tracker is not None:
            self.tracker.note()
            members.update(self.tracker.seen)
        else:
            try:
                members.update((child.pid, child) for child in self.root.children(recursive=True))
            except psutil.Error:
                pass
        self._known = list(members.values())
        return self._known

    def _scan(self, baseline: bool = False) -> tuple[int, int, int]:
        """Update every live process of the tree; how many there are, their threads and their memory now."""
        alive = threads = rss = 0
        for process in self._members():
            try:
                with process.oneshot():
                    key = (process.pid, process.create_time())
                    cpu = _cpu_seconds(process.cpu_times())
                    memory = process.memory_info().rss
                    count = process.num_threads()
                    read, write = _io(process)
            except psutil.Error:  # gone, or a zombie: keeps its last sample
                continue
            counted = self.counted.get(key)
            if counted is None:
                counted = self.counted[key] = _Counted(
                    process, cpu if baseline else 0.0, read if baseline else 0, write if baseline else 0
                )
            counted.cpu, counted.read, counted.write = cpu, read, write
            counted.peak_rss = max(counted.peak_rss, memory)
            alive, threads, rss = alive + 1, threads + count, rss + memory
        self.series.peak_rss = max(self.series.peak_rss, rss)
        return alive, threads, rss

    def totals(self) -> tuple[float, int, int]:
        """CPU seconds, bytes read and bytes written by the run's processes so far."""
        cpu = sum(max(0.0, c.cpu - c.cpu_start) for c in self.counted.values())
        read = sum(max(0, c.read - c.read_start) for c in self.counted.values())
        write = sum(max(0, c.write - c.write_start) for c in self.counted.values())
        return cpu, read, write

    def sample(self) -> dict:
        """Take one sample now (the thread does this every interval) and keep it in the series."""
        begun = time.perf_counter()
        alive, threads, rss = self._scan()
        cpu, read, write = self.totals()
        now = time.monotonic() - self.started
        previous = self.series.rows[-1] if self.series.rows else {"t_s": 0.0, "cpu_seconds": 0.0}
        elapsed = now - previous["t_s"]
        row = {
            "t_s": round(now, 3),
            "processes": alive,
            "threads": threads,
            "rss_mb": round(rss / MB, 2),
            "cpu_seconds": round(cpu, 3),
            "cpu_percent": round(100 * (cpu - previous["cpu_seconds"]) / elapsed, 1) if elapsed > 0 else None,
            "read_mb": round(read / MB, 3),
            "write_mb": round(write / MB, 3),
            "host_cpu_percent": psutil.cpu_percent(None),
            "host_cpu_mhz": _cpu_mhz(),
            "load_1m": _load(),
            "energy_joules": _rounded(self.rapl.update(), 3),
            **{name: _rounded(value, 2) for name, value in self.gpu.sample().items()},
        }
        self.series.rows.append(row)
        self._sample_time += time.perf_counter() - begun
        return row

    def stop(self, folder: str | Path | None = None) -> dict:
        """Stop sampling (one last sample first), write the series into ``folder``, and return the summary."""
        self._stop.set()
        self._thread.join()
        self._known = None  # look for descendants once more
        try:
            final = self.sample()
        except Exception:
            log.debug("last telemetry sample failed", exc_info=True)
            final = self.series.rows[-1] if self.series.rows else {}
        peaks = [_peak_rss(c.process.pid) for c in self.counted.values() if _alive(c.process)]
        self.gpu.stop()
        summary = self.summary(final, max(peaks, default=0))
        if folder is not None:
            try:
                write_series(Path(folder) / SERIES_FILE, self.series.rows)
            except OSError as error:
                log.warning(
                    "%s: cannot write the run's telemetry: %s", Path(folder) / SERIES_FILE, error.strerror or error
                )
                summary.pop("series")
        return summary

    def summary(self, final: dict, single_peak: int = 0) -> dict:
        cpu, read, write = self.totals()
        elapsed = final.get("t_s") or (time.monotonic() - self.started)
        gpu = self.gpu.sample()
        summary = {
            # the tree's sampled peak, or one process's own high-water mark if that is higher (a peak between samples)
            "peak_rss_mb": round(max(self.series.peak_rss, single_peak) / MB, 1),
            "cpu_seconds": round(cpu, 3),
            "cpu_percent_mean": round(100 * cpu / elapsed, 1) if elapsed else None,
            "read_mb": round(read / MB, 3),
            "write_mb": round(write / MB, 3),
            "energy_joules": _rounded(final.get("energy_joules"), 3) if self.rapl.zones else None,
            "gpu_peak_memory_mb": _rounded(self.gpu.peak_memory_mb, 1),
            "gpu_energy_joules": _rounded(gpu["gpu_energy_joules"], 3),
            "samples": len(self.series.rows),
            "interval_s": self.interval,
            "processes": len(self.counted),
            "sampling_seconds": round(self._sample_time, 4),
            "series": SERIES_FILE,
        }
        if summary["energy_joules"] is None:
            summary["energy_unavailable"] = self.rapl.reason or "RAPL gave no reading"
        if summary["gpu_peak_memory_mb"] is None:
            summary["gpu_unavailable"] = self.gpu.reason or "no GPU reading"
        return summary


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running()
    except psutil.Error:
        return False


def _cpu_mhz() -> float | None:
    try:
        frequency = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError):
        return None
    return round(frequency.current, 1) if frequency and frequency.current else None


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def start(pid: int | None, options: TelemetryOptions | None = None) -> Sampler | None:
    """A sampler of kernel ``pid``'s tree, or None when telemetry is off or there is no pid to follow."""
    options = options or TelemetryOptions()
    if not options.enabled or pid is None:
        return None
    try:
        return Sampler(pid, options)
    except Exception:  # telemetry never stops a run
        log.warning("run telemetry could not start", exc_info=True)
        return None


def write_series(path: Path, rows: list[dict]) -> None:
    """The samples as CSV (a column per SERIES_COLUMNS, empty for a value not measured)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SERIES_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_series(path: str | Path):
    """A run's telemetry series (``runs/RUN_ID/telemetry.csv``) as a DataFrame."""
    import pandas

    return pandas.read_csv(path)


def series_path(record: dict) -> Path | None:
    """Where a run's telemetry series is (None when the record has none or the file is gone)."""
    system = record.get("system") or {}
    output = (record.get("notebook") or {}).get("output_path")
    if not system.get("series") or not output:
        return None
    path = Path(output).parent / system["series"]
    return path if path.is_file() else None


def system_columns(system: Any) -> dict[str, Any]:
    """The ``sys.*`` columns of the results frame from a record's ``system`` summary."""
    system = system if isinstance(system, dict) else {}
    return {
        f"sys.{name}": system.get(name)
        for name in SYSTEM_METRICS
        if isinstance(system.get(name), (int, float)) and not isinstance(system.get(name), bool)
    }


def system_units() -> dict[str, str]:
    """Results-frame column -> unit of the ``sys.*`` columns."""
    return {f"sys.{name}": spec["unit"] for name, spec in SYSTEM_METRICS.items() if spec["unit"]}


def goal(column: str) -> str | None:
    """The goal (min/max) of a ``sys.*`` column, None for another column."""
    return SYSTEM_METRICS.get(column.removeprefix("sys."), {}).get("goal") if column.startswith("sys.") else None


def series_chart(series, width: int = 520, height: int = 140):
    """Per-run telemetry over time (memory, CPU, energy when measured): a run chosen from a list shows its series."""
    import altair as alt

    runs = list(dict.fromkeys(series["run_id"]))
    chosen = alt.param(name="telemetry_run", value=runs[-1], bind=alt.binding_select(options=runs, name="run "))
    base = (
        alt.Chart(series)
        .transform_filter(alt.datum.run_id == chosen)
        .mark_line(interpolate="step-after")
        .encode(x=alt.X("t_s:Q", title="time (s)"))
        .properties(width=width, height=height)
    )
    panels = [
        ("rss_mb", "resident memory (MB)"),
        ("cpu_percent", "CPU (%, 100 = one core)"),
        ("energy_joules", "host energy (J)"),
        ("gpu_memory_mb", "GPU memory (MB)"),
    ]
    charts = [
        base.encode(y=alt.Y(f"{column}:Q", title=title), tooltip=["run_id", "t_s", column])
        for column, title in panels
        if column in series and series[column].notna().any()
    ]
    return alt.vconcat(*charts).add_params(chosen)


TIME_UNITS = ("ms", "s", "sec", "seconds", "us", "ns", "min")


def is_timing(name: str, unit: str | None) -> bool:
    """Whether a metric measures time (by its unit, else its name)."""
    return (
        (unit or "").lower() in TIME_UNITS
        if unit
        else "time" in name.lower() or name.lower().endswith(("_ms", "_s", "_us", "_seconds"))
    )


def differences(original: Any, current: Any) -> dict[str, dict]:
    """The ``system`` values of two runs side by side (name -> original, here, ratio), where both were measured:
    what to look at when a timing did not reproduce (another CPU load, memory pressure, I/O)."""
    original = original if isinstance(original, dict) else {}
    current = current if isinstance(current, dict) else {}
    found = {}
    for name, spec in SYSTEM_METRICS.items():
        before, after = original.get(name), current.get(name)
        if name == "samples" or not all(
            isinstance(value, (int, float)) and not isinstance(value, bool) for value in (before, after)
        ):
            continue
        found[name] = {
            "original": before,
            "here": after,
            "unit": spec["unit"],
            "ratio": round(after / before, 3) if before else None,
        }
    return found
