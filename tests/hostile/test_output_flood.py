"""A cell that floods its output: reef run stays small in memory, the executed notebook too, metrics still read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from helpers.cli import call
from helpers.solutions import write_solution

import reefnb
from reefnb.runs.output_limit import OutputBudget

MINIMAL = {"name": "flood", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
FLOOD = "for i in range(200):\n    print('x' * 1_000_000)"
AFTER = "import reefnb\nreefnb.record('after_flood', 42, unit='answers')"
MB = 2**20

# `reef run` in a process of its own that reports its own peak RSS (kernel not included). On Linux the peak is
# VmHWM, the high-water mark of the process's own memory since exec: getrusage's ru_maxrss also carries the RSS of
# the process that forked it (the pytest process, hundreds of MB once other tests loaded altair and TensorFlow).
MEASURE = """
import resource, sys
from reefnb.frontends.cli import main
code = main(sys.argv[2:])
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with open(sys.argv[1], "w") as handle:
    handle.write(str(peak))
sys.exit(code)
"""


def stream_texts(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    ]


def test_200_mb_of_print_keeps_reef_run_under_300_mb(tmp_path):
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", FLOOD, AFTER)
    peak_file = tmp_path / "peak"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(peak_file), "run", str(folder), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    peak = int(peak_file.read_text())
    assert peak < 300 * MB, f"reef run peaked at {peak / MB:.0f} MB"
    assert record["metrics"]["after_flood"]["value"] == 42  # a record after the flood is still read
    executed = Path(record["notebook"]["output_path"])
    assert executed.stat().st_size < 15 * MB
    texts = stream_texts(executed)
    kept = sum(len(text) for text in texts)
    assert 10 * MB <= kept < 11 * MB  # the first 10 MB are kept, 180.7 MiB of the 190.7 MiB printed dropped
    assert any("[reef: 180.7 MB of output dropped" in text for text in texts), [text[-200:] for text in texts]


def test_limit_from_the_option_and_the_environment(tmp_path, monkeypatch):
    folder = write_solution(
        tmp_path / "solution", MINIMAL, "x = 1", "for i in range(5):\n    print('y' * 1_000_000)", AFTER
    )
    code, out, err = call("run", str(folder), "--max-output", "1M", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["metrics"]["after_flood"]["value"] == 42
    texts = stream_texts(Path(record["notebook"]["output_path"]))
    assert MB <= sum(len(text) for text in texts) < 2 * MB
    assert any("MB of output dropped (the limit is 1.0 MB per cell" in text for text in texts)

    monkeypatch.setenv("REEF_MAX_CELL_OUTPUT", "2M")
    record = reefnb.run(folder)
    texts = stream_texts(Path(record["notebook"]["output_path"]))
    assert 2 * MB <= sum(len(text) for text in texts) < 3 * MB


def test_bad_limit_is_one_line_and_exit_2(tmp_path):
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", "print(1)")
    code, out, err = call("run", str(folder), "--max-output", "lots")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--max-output" in err and "'lots'" in err
    assert not (folder / "runs").exists()  # nothing started, nothing written


def test_displays_and_results_are_bounded_too(tmp_path):
    cells = [
        "from IPython.display import HTML, display\nfor i in range(8):\n    display(HTML('z' * 1_000_000))",
        "'w' * 3_000_000",
        AFTER,
    ]
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", *cells)
    record = reefnb.run(folder, max_output="2M")
    assert record["status"] == "ok" and record["metrics"]["after_flood"]["value"] == 42
    executed = Path(record["notebook"]["output_path"])
    assert executed.stat().st_size < 5 * MB
    notebook = nbformat.read(executed, as_version=4)
    markers = [
        output.text
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and "[reef: " in output.text
    ]
    assert len(markers) == 2  # the display cell and the result cell each say what they dropped


def message(kind: str, **content) -> dict:
    return {"msg_type": kind, "content": content, "parent_header": {}}


def test_client_budget_bounds_any_kernel():
    """What a kernel that does not limit itself sends is cut by
    the client: streams cut, displays dropped, records kept."""
    budget, outputs = OutputBudget(1000), []
    assert budget.admit(outputs, message("stream", name="stdout", text="a" * 600), 0, False)
    outputs.append({"text": "a" * 600})
    stream = message("stream", name="stdout", text="b" * 5000)
    assert budget.admit(outputs, stream, 0, False) and len(stream["content"]["text"]) == budget.bound - 600
    assert not budget.admit(outputs, message("display_data", data={"text/html": "c" * 100}, metadata={}), 0, False)
    record = message("display_data", data={"application/vnd.reef.record+json": {"name": "m", "value": 1}}, metadata={})
    assert budget.admit(outputs, record, 0, False)
    budget.mark(outputs)
    assert "[reef: " in outputs[-1]["text"] and budget.dropped == 5000 - (budget.bound - 600) + len("text/html") + 100
    assert budget.admit([], message("stream", name="stdout", text="d" * 900), 1, False)  # a new cell, a new budget


def test_a_file_attached_after_a_flood_is_kept(tmp_path):
    """A cell prints 50 MB, then attaches a file: the attachment survives the flood as a record does."""
    cell = (
        "import reefnb\nfor i in range(50):\n    print('x' * 1_000_000)\n"
        "(reefnb.run_folder() / 'evidence.txt').write_text('kept\\n')\nreefnb.attach(reefnb.run_folder() / "
        "'evidence.txt')"
    )
    folder = write_solution(tmp_path / "solution", MINIMAL, "x = 1", cell, AFTER)
    record = reefnb.run(folder, max_output="1M")
    assert record["status"] == "ok", record["error"]
    assert [entry["name"] for entry in record["files"]] == ["evidence.txt"]
    assert (folder / "runs" / record["run_id"] / "files" / "evidence.txt").read_text() == "kept\n"
    assert record["metrics"]["after_flood"]["value"] == 42
    assert any("MB of output dropped" in text for text in stream_texts(Path(record["notebook"]["output_path"])))


def test_client_budget_keeps_attachments_as_records():
    budget, outputs = OutputBudget(1000), []
    assert budget.admit(
        outputs, message("stream", name="stdout", text="a" * 6000), 0, False
    )  # cut: the cell's budget is spent
    outputs.append({"text": "a" * budget.bound})
    assert not budget.admit(outputs, message("display_data", data={"text/html": "c"}, metadata={}), 0, False)
    attached = message(
        "display_data",
        data={
            "application/vnd.reef.attach+json": {"path": "/x/evidence.txt", "name": "evidence.txt"},
            "text/plain": "attached evidence.txt",
        },
        metadata={},
    )
    assert budget.admit(outputs, attached, 0, False)


# An IPython shell in a process of its own, its streams recorded: the kernel's limit over several cells,
# installed twice. IPython 8 (Python 3.10) leaves a cell's
# stream.write in place, IPython 9 puts its own back after each cell.
SHELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from reefnb.runs.output_limit import kernel_limit_code

class Recorder:
    def __init__(self):
        self.parts = []
    def write(self, text):
        self.parts.append(text)
        return len(text)
    def flush(self):
        pass

shell = InteractiveShell.instance()
out, err, cells = Recorder(), Recorder(), []
sys.stdout, sys.stderr = out, err
shell.run_cell(kernel_limit_code(1000), silent=True)
shell.run_cell(kernel_limit_code(1000), silent=True)
for code in ["x = 1", "y = 2", "for i in range(5):\\n    print('y' * 600)", "print('hi')"]:
    out.parts.clear(), err.parts.clear()
    shell.run_cell(code)
    cells.append(["".join(out.parts), "".join(err.parts)])
sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
print(json.dumps(cells))
"""


def test_kernel_limit_holds_cell_after_cell(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SHELL],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")},
    )
    assert result.returncode == 0, result.stderr
    cells = json.loads(result.stdout)
    flood_out, flood_err = cells[2]
    assert flood_out == "y" * 600 + "\n" + "y" * 399  # the first 1,000 characters, counted once
    assert flood_err.count("[reef: ") == 1 and "output dropped (the limit is 0.0 MB per cell" in flood_err
    assert cells[3] == ["hi\n", ""]  # the next cell has its budget back
