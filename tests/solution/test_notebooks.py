"""The notebooks in notebooks/ run end to end on a real kernel, with no error and nothing on stderr (a stderr box in
a notebook reads as an alarm: live-detection.ipynb once showed TFLite's "INFO: Created TensorFlow Lite XNNPACK
delegate for CPU." as one)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest
from helpers.solutions import REPO

import reefnb

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path):
    # A private copy of the tree the notebook refers to, so runs/ land in tmp_path.
    shutil.copytree(REPO / "solutions", tmp_path / "solutions", ignore=shutil.ignore_patterns("runs"))
    (tmp_path / "notebooks").mkdir()
    copy = shutil.copy(notebook, tmp_path / "notebooks" / notebook.name)
    record = reefnb.run(copy)
    assert record["status"] == "ok", record["error"]
    executed = nbformat.read(record["notebook"]["output_path"], as_version=4)
    assert not [
        output for cell in executed.cells for output in cell.get("outputs", []) if output.output_type == "error"
    ]
    stderr = [
        output.text for cell in executed.cells for output in cell.get("outputs", []) if output.get("name") == "stderr"
    ]
    assert not stderr, stderr
    # %reef shows a mistake as a red message, not an exception: only cells tagged for it may show one.
    unexpected = [
        cell.source
        for cell in executed.cells
        if "reef-error-expected" not in cell.metadata.get("tags", [])
        for output in cell.get("outputs", [])
        if "reef-message reef-error" in output.get("data", {}).get("text/html", "")
    ]
    assert not unexpected, unexpected


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ should hold at least the quickstart"


QUIET_TFLITE = """
import json, os, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from detbench.backends import load_tflite
folder = os.path.join(sys.argv[1], "models", "ssd-mobilenet-tiny-w050-96")
config = json.load(open(os.path.join(folder, "model.json")))
detector = load_tflite(os.path.join(folder, "model.tflite"), config)
size = config["input_size"]
print(len(detector.predict(np.zeros((2, size, size, 3), dtype=np.float32))))
os.write(2, b"a real problem\\n")  # what the process writes itself still reaches stderr
"""


def test_the_flagship_s_tflite_detector_writes_nothing_on_stderr():
    """TFLite's C++ logger writes its XNNPACK INFO line to fd 2 when the delegate is applied; the flagship's loader
    (detbench.backends.load_tflite, what the `detect` action and live-detection.ipynb use) drops it there."""
    done = subprocess.run(
        [sys.executable, "-c", QUIET_TFLITE, str(REPO / "solutions" / "obj-detection-coco-tf")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2" and done.stderr == "a real problem\n"
