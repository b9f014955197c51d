"""The audit hook that records the files a run reads: on for ``reef run`` (what ``reef export`` packs), off
with ``--no-trace-files`` and for sweeps (nothing is installed in the kernel then), and complete beyond the
1,000 items at which IPython's text of a list stops."""

from __future__ import annotations

import sys

import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.frontends.cli import main

READER = (
    "import glob\ntotal = 0\nfor name in sorted(glob.glob('parts/*.txt')):\n    with open(name) as handle:\n"
    "        total += int(handle.read())\nimport reefnb\nreefnb.record('total', total)"
)
HOOKED = "import sys, reefnb\nreefnb.record('hooked', hasattr(sys, '_reef_files_read'))"


def reader(tmp_path, count: int):
    folder = tmp_path / "work"
    (folder / "parts").mkdir(parents=True)
    for index in range(count):
        (folder / "parts" / f"{index:05d}.txt").write_text(f"{index}\n")
    return write_notebook(folder / "reader.ipynb", "scale = 1", READER, HOOKED)


def test_every_file_read_is_recorded_past_a_thousand(tmp_path):
    notebook = reader(tmp_path, 1200)
    record = reefnb.run(notebook)
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["hooked"]["value"] is True
    assert len(record["files_read"]) == 1200 and record["files_read"][0] == "parts/00000.txt"


def test_no_trace_files_installs_nothing(tmp_path, capsys):
    notebook = reader(tmp_path, 3)
    assert main(["run", str(notebook), "--no-trace-files", "--json"]) == 0
    record = reefnb.results().iloc[-1]
    assert record["metric.hooked"] is False or record["metric.hooked"] == 0
    stored = reefnb.run(notebook, trace_files=False)
    assert "files_read" not in stored and stored["metrics"]["hooked"]["value"] is False


def test_sweeps_do_not_trace(tmp_path):
    notebook = reader(tmp_path, 3)
    records = reefnb.sweep(notebook, grid={"scale": [1, 2]}, jobs=1)
    assert len(records) == 2
    for record in records:
        assert record["status"] == "ok", record["error"]
        assert "files_read" not in record and record["metrics"]["hooked"]["value"] is False


CACHES = (
    "import json, os, sys, IPython.paths, nbformat\nimport helpers\n"
    "for name in ('data.txt', 'big.bin'):\n    open(name, 'rb').read(1)\n"
    # what matplotlib does on import: read its font list where it keeps it (written first, as matplotlib would)
    "for cache in (os.path.expanduser('~/.mpl'), os.path.expanduser('~/.cache/matplotlib'), "
    "os.environ['MPLCONFIGDIR'], IPython.paths.get_ipython_dir()):\n"
    "    os.makedirs(cache, exist_ok=True)\n"
    "    with open(os.path.join(cache, 'fontlist-v390.json'), 'w') as handle:\n        handle.write('{}')\n"
    "    open(os.path.join(cache, 'fontlist-v390.json')).read()\n"
    "open(os.path.join(os.path.dirname(nbformat.__file__), 'v4', 'nbformat.v4.schema.json')).read()  # installed data\n"
    "open(os.path.join(os.path.dirname(json.__file__), '__init__.py')).read()  # the standard library\n"
    "for name in ('/proc/self/status', '/etc/hostname'):\n    if os.path.isfile(name):\n        open(name).read()"
)


def test_caches_and_installed_files_are_not_inputs_and_inputs_have_their_sha256(tmp_path, monkeypatch):
    """matplotlib's font list (~/.mpl, ~/.cache/matplotlib, MPLCONFIGDIR), IPython's folder, installed and standard
    library files, __pycache__, /proc and /etc are not what a run read; the files in the folder are, each with
    its sha256 (a file over 256 MiB without)."""
    import hashlib
    import py_compile

    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "data.txt").write_text("7\n")
    with open(folder / "big.bin", "wb") as handle:  # sparse: 257 MiB on paper, nothing on disk
        handle.truncate(257 * 1024 * 1024)
    (folder / "helpers.py").write_text("VALUE = 1\n")
    py_compile.compile(
        str(folder / "helpers.py"), cfile=str(folder / "__pycache__" / f"helpers.{sys.implementation.cache_tag}.pyc")
    )
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mplconfig"))
    record = reefnb.run(write_notebook(folder / "caches.ipynb", None, CACHES))
    assert record["status"] == "ok", record["error"]
    assert set(record["files_read"]) - {"helpers.py"} == {"big.bin", "data.txt"}, record[
        "files_read"
    ]  # helpers.py: read or its .pyc
    digests = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in record["files_read"]
        if name != "big.bin"
    }
    assert record["files_read_sha256"] == digests


@pytest.mark.parametrize(
    "path, kept",
    [
        ("{folder}/data/x.csv", "data/x.csv"),
        ("{folder}/__pycache__/helpers.cpython-311.pyc", None),
        ("{folder}/runs/20260101T000000Z-00000000/main.ipynb", None),
        ("{home}/.mpl/fontlist-v390.json", None),
        ("{home}/.cache/matplotlib/fontlist-v330.json", None),
        ("{tmp}/matplotlib-a1b2c3/fontlist-v390.json", None),
        ("{mplconfig}/matplotlibrc", None),
        ("{home}/.ipython/profile_default/startup/x.json", None),
        ("{home}/.local/share/jupyter/runtime/kernel-1.json", None),
        ("/usr/lib/python3/dist-packages/certifi/cacert.pem", None),
        ("{prefix}/lib/python3.11/site-packages/nbformat/v4/nbformat.v4.schema.json", None),
        ("/proc/self/status", None),
        ("/sys/class/powercap/x", None),
        ("/dev/urandom", None),
        ("/etc/hostname", None),
        ("{home}/data/shared.csv", "{home}/data/shared.csv"),
        ("{tmp}/elsewhere/lookup.txt", "{tmp}/elsewhere/lookup.txt"),
    ],
)
def test_files_read_filter(path, kept, tmp_path, monkeypatch):
    from pathlib import Path

    from reefnb.runs.execute import _files_read

    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mplconfig"))
    values = {
        "folder": tmp_path / "work",
        "home": Path.home(),
        "tmp": tmp_path,
        "mplconfig": tmp_path / "mplconfig",
        "prefix": sys.prefix,
    }
    expected = [kept.format(**values)] if kept else []
    assert _files_read([path.format(**values)], tmp_path / "work", None) == expected


def test_files_read_in_a_solution_under_a_tool_folder_are_kept():
    """An imported package lives in ~/.reef/solutions/NAME-VERSION: its files are inputs, though ~/.reef is a tool's."""
    from pathlib import Path

    from reefnb.runs.execute import _files_read

    folder = Path.home() / ".reef" / "solutions" / "demo-0.1.0"
    paths = [
        str(folder / "data" / "x.csv"),
        str(Path.home() / ".reef" / "cache" / "y.json"),
        str(folder / "__pycache__" / "h.cpython-311.pyc"),
    ]
    assert _files_read(paths, folder, None) == ["data/x.csv"]
