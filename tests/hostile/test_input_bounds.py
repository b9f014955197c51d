"""Bounds on every input channel (issue 29, item 9 and the low items), tried as an attacker would.

A parameter file is a YAML bomb, a fifo, /dev/zero or a folder; a tool on PATH answers with hundreds of
megabytes; JSON carries NaN and Infinity where a number is checked against a bound; a notebook is
nbformat 3; a package is two zips joined; a package is given to ``reef run``. Each is refused in one
line naming the file (or handled, for the notebook) and nothing grows without bound.

The library calls that could hang or eat memory on a reef without these bounds run in a forked child
with a time and a memory limit (``in_child``), so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from helpers.cli import run
from helpers.packages import write_package
from helpers.solutions import write_solution

import reefnb
from reefnb.common.exceptions import ActionInputError, InputError, ManifestError, PackageError, ParameterError
from reefnb.common.json_input import parse_json
from reefnb.sharing.package import export_package, import_package
from reefnb.solution.notebook import NotebookParameter
from reefnb.solution.params import cast_parameter, read_parameter_file

MB = 2**20
VICTIM = {"name": "victim", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
# 10 anchors, each a list of 10 aliases of the one before: 600 bytes that a YAML reader expands to 10**10 strings
BOMB = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n" for level in range(1, 10)
)


def reef(cwd: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(*argv, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _child(queue, function, arguments, memory_bytes):
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        queue.put(("returned", repr(function(*arguments))[:200]))
    except BaseException as error:  # what it raised is the answer
        queue.put((type(error).__name__, str(error)))


def in_child(function, *arguments, timeout: float = 30, memory_bytes: int = 2048 * MB) -> tuple[str, str]:
    """``function(*arguments)`` in a new child process (spawned) limited to ``memory_bytes`` of
    address space and ``timeout`` s: ``(exception class name, message)``, ``("returned",
    repr)``, or ``("hung", "")`` when it did not end in time."""
    context = multiprocessing.get_context("spawn")  # a fork of a pytest-xdist worker (its execnet threads) hung
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, function, arguments, memory_bytes))
    process.start()
    try:
        return queue.get(timeout=timeout)
    except Exception:
        return ("hung", "")
    finally:
        process.kill()
        process.join()


def refused(outcome: tuple[str, str], kind: str, *expected: str) -> str:
    name, message = outcome
    assert name == kind, outcome
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message
    return message


# --- parameter files ----------------------------------------------------------------------------------


def test_yaml_bomb_is_refused_in_one_line_at_once(tmp_path):
    bomb = tmp_path / "params.yaml"
    bomb.write_text(BOMB, encoding="utf-8")
    assert len(BOMB) < 1000
    refused(in_child(read_parameter_file, bomb, timeout=20), "ParameterError", str(bomb), "line 1", "alias")


def test_yaml_alias_on_the_command_line_is_refused():
    # -p x=... is parsed as YAML too: a bomb fits in one argument
    parameter = NotebookParameter("x", "dict", {}, "{}", "")
    flow = "{" + BOMB.strip().replace("\n", ", ") + "}"
    outcome = in_child(cast_parameter, parameter, flow, "command line", timeout=20)
    refused(outcome, "ParameterError", "parameter 'x'")


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "folder", "socket"])
def test_a_parameter_file_that_is_no_regular_file_is_refused_before_it_is_read(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "params.yaml"
        os.mkfifo(path)  # nobody writes: opening it for reading waits for ever
    elif kind == "/dev/zero":
        path = Path("/dev/zero")  # endless
    elif kind == "socket":
        import socket

        path = tmp_path / "params.json"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    else:
        path = tmp_path / "params.json"
        path.mkdir()
    outcome = in_child(read_parameter_file, path, timeout=10, memory_bytes=1024 * MB)
    refused(outcome, "ParameterError", f"{path}: cannot read parameter file", "not a regular file")


def test_a_huge_parameter_file_is_refused_after_the_limit(tmp_path):
    path = tmp_path / "params.yaml"
    with open(path, "wb") as handle:
        handle.truncate(4 * 1024 * MB)  # 4 GiB, sparse: reading it all would take the memory
    outcome = in_child(read_parameter_file, path, timeout=20, memory_bytes=1024 * MB)
    refused(outcome, "ParameterError", str(path), "larger than the limit")


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("params.json", '{"x": NaN}', "/x"),
        ("params.json", '{"x": [1, -Infinity]}', "/x/1"),
        ("params.yaml", "x: .nan\n", "parameter 'x'"),
    ],
)
def test_nan_and_infinity_in_a_parameter_file_are_refused(tmp_path, name, content, where):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    parameter = NotebookParameter("x", "float" if "[" not in content else "list", 0.0, "0.0", "")
    with pytest.raises(ParameterError) as caught:
        cast_parameter(parameter, read_parameter_file(path)["x"], str(path))
    assert str(caught.value).startswith(f"{path}: ") and where in str(caught.value), caught.value


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity"])
def test_nan_on_the_command_line_is_refused(text):
    with pytest.raises(ParameterError, match="parameter 'x': NaN and infinities are refused"):
        cast_parameter(NotebookParameter("x", "float", 0.5, "0.5", ""), text, "command line")


def test_reef_run_with_a_fifo_as_parameter_file_is_one_line(tmp_path):
    solution = write_solution(tmp_path / "solution", VICTIM, "x = 1")
    fifo = tmp_path / "params.yaml"
    os.mkfifo(fifo)
    one_line(
        reef(tmp_path, "run", str(solution), "-f", str(fifo), timeout=60), f"{fifo}: cannot read parameter file: a fifo"
    )
    assert not (solution / "runs").exists()


# --- tools on PATH that say too much ------------------------------------------------------------------

FLOOD_TOOL = "#!/bin/sh\nhead -c 200000000 /dev/zero | tr '\\0' 'y'\necho\n"  # 200 MB on one line, whatever it is asked
MEASURE_TOOLS = textwrap.dedent(
    """
    import json, sys, time
    from reefnb.provision.detection import DetectContext, GpuDetector
    from reefnb.provision.tools import find_tool
    from reefnb.runs.telemetry import GpuMonitor

    def peak():
        with open("/proc/self/status") as status:  # this process's own high-water mark, not its parent's
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

    peaks = {"start": peak()}
    started = time.monotonic()
    peaks["gpus"] = GpuDetector().detect(DetectContext(sys.executable)), peak()
    peaks["cmake"] = find_tool("cmake"), peak()
    monitor = GpuMonitor(0.05)
    monitor._thread.join(timeout=60)
    monitor.stop()
    peaks["monitor"] = monitor.reason, peak()
    peaks["seconds"] = time.monotonic() - started
    print(json.dumps(peaks))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_a_tool_that_floods_its_output_is_cut_and_stays_small(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("nvidia-smi", "cmake"):
        (tools / name).write_text(FLOOD_TOOL)
        (tools / name).chmod(0o755)
    environment = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_TOOLS], capture_output=True, text=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    peaks = json.loads(done.stdout.splitlines()[-1])
    start = peaks["start"]
    assert peaks["gpus"][0] == [], peaks  # its answer was cut, so no GPU is made up from it
    assert peaks["cmake"][0]["version"] is None, peaks
    assert "no reading: stopped" in peaks["monitor"][0], peaks
    for step in ("gpus", "cmake", "monitor"):  # 200 MB each were kept whole before (as bytes and as text)
        assert peaks[step][1] - start < 40 * MB, (step, (peaks[step][1] - start) / MB)
    assert peaks["seconds"] < 30, peaks


# --- NaN and Infinity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_the_json_reader_refuses_nan_and_infinity(literal):
    with pytest.raises(InputError) as caught:
        parse_json(f'{{"limits": [1, {{"max": {literal}}}]}}', "body.json")
    assert str(caught.value) == f"body.json: /limits/1/max: {literal} is not a JSON number"


def test_reef_validate_refuses_a_nan_timeout_as_reef_run_does(tmp_path):
    solution = write_solution(tmp_path / "solution", VICTIM)
    manifest = json.dumps(VICTIM).replace('"notebook": "main.ipynb"', '"notebook": "main.ipynb", "timeout": NaN')
    (solution / "solution.json").write_text(manifest, encoding="utf-8")
    with pytest.raises(ManifestError, match=r"solution\.json: /workflows/run/timeout: NaN is not a JSON number"):
        reefnb.load_solution(solution)


ACTION = "CALLS = []\n\ndef clip(x):\n    CALLS.append(x)\n    return {'x': x}\n"


@pytest.mark.parametrize("schema", [{"maximum": 10}, {"type": "number", "maximum": 10}, {"exclusiveMinimum": 0}])
def test_an_action_bound_refuses_nan_and_infinity(tmp_path, schema):
    module = f"clip_{abs(hash(json.dumps(schema))) % 10**8}"
    manifest = {
        **VICTIM,
        "api": {
            "actions": {
                "clip": {
                    "entry": f"{module}:clip",
                    "input": {"type": "object", "required": ["x"], "properties": {"x": schema}},
                }
            }
        },
    }
    folder = write_solution(tmp_path / "actions", manifest)
    (folder / f"{module}.py").write_text(ACTION, encoding="utf-8")
    with reefnb.use(folder, environment="native") as actions:
        assert actions.clip(x=5) == {"x": 5}
        for value in (math.nan, math.inf, -math.inf):
            with pytest.raises(ActionInputError, match="/x: .*not .*(finite|number)"):
                actions.clip(x=value)
    assert sys.modules[module].CALLS == [5]  # the action never saw NaN


# --- nbformat 3 ---------------------------------------------------------------------------------------

NBFORMAT_3 = {
    "metadata": {"name": "old", "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 3,
    "nbformat_minor": 0,
    "worksheets": [
        {
            "metadata": {},
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": ["an IPython 2 notebook"]},
                {
                    "cell_type": "code",
                    "collapsed": False,
                    "input": ["import reefnb\n", "reefnb.record('answer', 6 * 7)"],
                    "language": "python",
                    "metadata": {},
                    "outputs": [],
                },
            ],
        }
    ],
}


def test_an_nbformat_3_notebook_that_validates_also_runs(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "old.ipynb").write_text(json.dumps(NBFORMAT_3), encoding="utf-8")
    (folder / "solution.json").write_text(
        json.dumps({"name": "old", "version": "0.1.0", "workflows": {"run": {"notebook": "old.ipynb"}}})
    )
    reefnb.load_solution(folder)  # reef validate
    record = reefnb.run(folder, timeout=120)
    assert record["status"] == "ok", record.get("error")
    assert record["metrics"]["answer"]["value"] == 42


# --- packages -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """A real package, a tiny one of the attacker's (an empty manifest, its SHA256SUMS right) and files made of them."""
    folder = tmp_path_factory.mktemp("packages")
    real = Path(export_package(write_solution(folder / "victim", VICTIM), folder / "victim.reef.zip")["package"])
    tiny = write_package(folder / "tiny.zip", {"solution.json": b"{}"})
    made = {"real": real, "tiny": tiny}
    for name, parts in {
        "real+tiny": (real.read_bytes(), tiny.read_bytes()),
        "tiny+real": (tiny.read_bytes(), real.read_bytes()),
        "script+real": (b"#!/bin/sh\nexec rm -rf ~\n", real.read_bytes()),
        "real+junk": (real.read_bytes(), b"\0" * 100),
    }.items():
        made[name] = folder / f"{name}.reef.zip"
        made[name].write_bytes(b"".join(parts))
    made["overlapping"] = _overlapping(real, folder / "overlapping.reef.zip")
    return made


def _overlapping(real: Path, target: Path) -> Path:
    """The real package with its directory's second entry pointed at the first member's bytes (offset 0)."""
    data = bytearray(real.read_bytes())
    with zipfile.ZipFile(real) as archive:
        first = data.index(b"PK\x01\x02", archive.start_dir)
    second = data.index(b"PK\x01\x02", first + 4)
    data[second + 42 : second + 46] = (0).to_bytes(4, "little")  # its local header's offset
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("real+tiny", "bytes before the archive"),
        ("tiny+real", "bytes before the archive"),
        ("script+real", "bytes before the archive"),
        ("real+junk", "data after the archive's end"),
        ("overlapping", "shares"),
        ("tiny", "member 'solution.json': /name: missing"),
    ],
)
def test_a_joined_or_overlapping_zip_is_refused_on_import(packages, tmp_path, name, words):
    target = tmp_path / "imported"
    with pytest.raises(PackageError) as caught:
        import_package(packages[name], target)
    message = str(caught.value)
    assert message.startswith(str(packages[name])) and words in message and "\n" not in message, message
    assert not target.exists()


def test_reef_import_of_two_zips_joined_says_so_and_writes_nothing(packages, tmp_path):
    line = one_line(
        reef(tmp_path, "import", str(packages["real+tiny"]), "-o", "out"), "real+tiny.reef.zip", "two zips joined"
    )
    assert "verified" not in line
    assert not (tmp_path / "out").exists()


def test_reef_run_of_a_package_says_it_is_one(packages, tmp_path):
    line = one_line(
        reef(tmp_path, "run", str(packages["real"])), "victim.reef.zip: a package", "reef reproduce", "reef init"
    )
    assert "UTF-8" not in line
