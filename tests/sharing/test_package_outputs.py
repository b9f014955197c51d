"""What a package keeps of its runs: each run's executed notebook with its outputs (images and widgets whole, text
scrubbed), only the runs of this folder, no absolute or home path anywhere, the sha256 of the files each run read,
and the imports its local modules make.

One notebook is run twice for the whole module (here, and a copy of its folder elsewhere on the machine) and
exported once; each test reads that package. matplotlib is not installed here: the notebook reads a font list
where matplotlib keeps one (``~/.mpl/``, ``~/.cache/matplotlib/``, ``MPLCONFIGDIR``), as matplotlib would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from helpers.home import REAL_HOME
from helpers.solutions import REPO, write_notebook
from PIL import Image

import reefnb
from reefnb.runs.store import Store
from reefnb.sharing.package import export_package, import_package, recorded_notebook

TOKEN = "ghp_" + "Zq8Lk2Vt6Nw4Rb0Xy3Hs7Jd5Pf1Mc9Ga2Te4U"  # the shape of a GitHub token, from the environment
HELPERS = (
    "import more\nfrom PIL import Image\n\ndef chart(size):\n    return Image.effect_noise(size, 64).convert('RGB')\n"
)
MORE = "import scipy  # imported only here, two local modules down\n\nSCALE = 2\n"
CELLS = (
    "import io, os\nimport helpers\nfrom IPython.display import display, Image as Shown\n"
    "values = [float(line) for line in open('data/values.csv')]\nlookup = open('../shared/lookup.txt').read().strip()\n"
    "notes = open(os.path.expanduser('~/notes.txt')).read()\nprint('mean', sum(values) / len(values), lookup)",
    # what matplotlib does on import: read its font list from its cache (written here first, as matplotlib would)
    "caches = [os.path.expanduser('~/.mpl'), os.path.expanduser('~/.cache/matplotlib'), os.environ['MPLCONFIGDIR']]\n"
    "for cache in caches:\n    os.makedirs(cache, exist_ok=True)\n"
    "    with open(os.path.join(cache, 'fontlist-v390.json'), 'w') as handle:\n        handle.write('{}')\n"
    "    open(os.path.join(cache, 'fontlist-v390.json')).read()",
    "buffer = io.BytesIO()\nhelpers.chart((96, 64)).save(buffer, 'PNG')\ndisplay(Shown(buffer.getvalue()))",
    "import ipywidgets\nipywidgets.IntSlider(value=helpers.more.SCALE)",
    "print('token', os.environ['REEF_TEST_TOKEN'], 'in', os.getcwd(), 'home', os.path.expanduser('~'))\n"
    "print(ipywidgets.__file__.endswith('__init__.py'), ipywidgets.__file__, os.__file__)  # as tracebacks and "
    "warnings name them",
)


def make_folder(root: Path) -> Path:
    """``root/analysis``: the notebook, its helper modules and data, and ``root/shared/lookup.txt`` beside it."""
    folder = root / "analysis"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "values.csv").write_text("1\n2\n4\n")
    (folder / "helpers.py").write_text(HELPERS)
    (folder / "more.py").write_text(MORE)
    (root / "shared").mkdir()
    (root / "shared" / "lookup.txt").write_text("lookup-7\n")
    return write_notebook(folder / "main.ipynb", "seed = 1", *CELLS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The notebook run here and in a copy of its folder elsewhere, then exported and imported (about 12 s)."""
    root = tmp_path_factory.mktemp("outputs")
    patch = pytest.MonkeyPatch()
    patch.setenv("REEF_HOME", str(root / "reef-home"))
    patch.setenv("MPLCONFIGDIR", str(root / "mplconfig"))
    patch.setenv("REEF_TEST_TOKEN", TOKEN)
    notes = Path.home() / "notes.txt"
    try:
        notes.write_text("a note in the home folder\n")
        notebook = make_folder(root / "project")
        copy = make_folder(root / "elsewhere")
        here, there = reefnb.run(notebook), reefnb.run(copy)
        assert here["status"] == "ok" and there["status"] == "ok", (here["error"], there["error"])
        package = root / "analysis.reef.zip"
        summary = export_package(notebook, package)
        store = Store(root / "reef-home" / "results.sqlite")
        folder = import_package(package, root / "imported")
    finally:
        patch.undo()
        notes.unlink(missing_ok=True)
    with zipfile.ZipFile(package) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return {
        "root": root,
        "notebook": notebook,
        "here": here,
        "there": there,
        "summary": summary,
        "members": members,
        "folder": folder,
        "store": store,
    }


def member_json(exported, name: str) -> dict:
    return json.loads(exported["members"][name])


def test_package_carries_each_runs_executed_notebook(exported):
    run_id = exported["here"]["run_id"]
    name = f"results/{run_id}/notebook.ipynb"
    assert name in exported["members"]
    sums = dict(reversed(line.split("  ", 1)) for line in exported["members"]["SHA256SUMS"].decode().splitlines())
    assert sums[name] == hashlib.sha256(exported["members"][name]).hexdigest()
    graph = {entity["@id"]: entity for entity in member_json(exported, "ro-crate-metadata.json")["@graph"]}
    assert {"@id": name} in graph[f"#run-{run_id}"]["result"]
    assert graph[name]["sha256"] == sums[name]
    assert member_json(exported, f"results/{run_id}.json")["notebook"]["output_path"] == name
    packed = recorded_notebook(exported["folder"], run_id)  # survived reef import, checked
    assert packed is not None and packed.read_bytes() == exported["members"][name]
    assert recorded_notebook(exported["folder"], exported["there"]["run_id"]) is None
    assert recorded_notebook(exported["folder"], "../../etc") is None


def test_packed_notebook_keeps_images_and_widgets_and_scrubs_text(exported):
    run_id = exported["here"]["run_id"]
    packed = member_json(exported, f"results/{run_id}/notebook.ipynb")
    original = json.loads(Path(exported["here"]["notebook"]["output_path"]).read_text())
    image = "".join(packed["cells"][3]["outputs"][0]["data"]["image/png"])
    assert image == "".join(original["cells"][3]["outputs"][0]["data"]["image/png"])
    assert Image.open(io.BytesIO(base64.b64decode(image))).size == (96, 64)
    view = "application/vnd.jupyter.widget-view+json"
    assert (
        packed["cells"][4]["outputs"][0]["data"][view]["model_id"]
        == original["cells"][4]["outputs"][0]["data"][view]["model_id"]
    )
    state = "application/vnd.jupyter.widget-state+json"
    assert sorted(packed["metadata"]["widgets"][state]["state"]) == sorted(
        original["metadata"]["widgets"][state]["state"]
    )
    assert packed["cells"][5]["outputs"][0]["text"][0] == "token <redacted> in . home ~\n"
    installed = packed["cells"][5]["outputs"][0]["text"][1].split()
    assert installed[0] == "True" and re.fullmatch(
        r"<python>/lib/python3\.\d+/site-packages/ipywidgets/__init__\.py", installed[1]
    ), installed
    assert re.fullmatch(r"<python>/lib/python3\.\d+/os\.py", installed[2]), installed
    assert packed["cells"][1]["outputs"][0]["text"] == ["mean 2.3333333333333335 lookup-7\n"]
    assert [cell["source"] for cell in packed["cells"]] == [cell["source"] for cell in original["cells"]]
    assert not [name for name, content in exported["members"].items() if TOKEN.encode() in content]


def test_export_takes_only_this_folders_runs(exported):
    assert exported["summary"]["runs"] == [exported["here"]["run_id"]]  # the copy elsewhere ran the same notebook
    assert not [name for name in exported["members"] if exported["there"]["run_id"] in name]


def test_records_without_a_folder_are_placed_by_their_executed_notebook(exported, tmp_path):
    """An older record that names no folder counts when its executed notebook was written here (packed without
    it when it is gone, with a warning); one that says neither is left out, with a warning."""
    here = exported["here"]
    store = Store(tmp_path / "results.sqlite")
    store.add(here)
    runs = Path(here["notebook"]["output_path"]).parent.parent
    for suffix, output in (("0", runs / "20200101T000000Z-0000000a" / "main.ipynb"), ("b", "")):
        record = json.loads(json.dumps(here))
        record["run_id"] = f"20200101T000000Z-000000{suffix}" + ("a" if suffix == "0" else "b")
        del record["solution"]["path"]
        record["notebook"]["output_path"] = str(output)
        store.add(record)
    summary = export_package(exported["notebook"], tmp_path / "again.reef.zip", store=store)
    assert summary["runs"] == ["20200101T000000Z-0000000a", here["run_id"]]
    assert f"results/{here['run_id']}/notebook.ipynb" in summary["members"]
    assert not [name for name in summary["members"] if name.startswith("results/20200101T000000Z-0000000a/")]
    assert any(
        "run 20200101T000000Z-0000000a: its executed notebook (main.ipynb) is gone" in warning
        for warning in summary["warnings"]
    )
    assert any(
        "1 ok run(s) of main" in warning and "20200101T000000Z-000000bb" in warning for warning in summary["warnings"]
    )
    with zipfile.ZipFile(tmp_path / "again.reef.zip") as archive:
        assert json.loads(archive.read("results/20200101T000000Z-0000000a.json"))["notebook"]["output_path"] == ""


def test_files_read_are_relative_with_their_sha256(exported):
    folder = exported["notebook"].parent
    stored = exported["store"].get(exported["here"]["run_id"])
    outside = [str(folder.parent / "shared" / "lookup.txt"), str(Path.home() / "notes.txt")]
    assert stored["files_read"] == sorted([*outside, "data/values.csv", "helpers.py", "more.py"])
    packed = member_json(exported, f"results/{exported['here']['run_id']}.json")
    assert packed["files_read"] == ["../shared/lookup.txt", "data/values.csv", "helpers.py", "more.py"]
    expected = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("data/values.csv", "helpers.py", "more.py")
    }
    assert stored["files_read_sha256"] == expected and packed["files_read_sha256"] == expected
    warnings = exported["summary"]["warnings"]
    assert any(
        "lookup.txt: read by the recorded run" in warning and "name it ../shared/lookup.txt" in warning
        for warning in warnings
    )
    assert any(
        "notes.txt: read by the recorded run" in warning and "left out of the packed runs' files_read" in warning
        for warning in warnings
    )
    assert not [warning for warning in warnings if "fontlist" in warning or "mpl" in warning]  # caches are not inputs
    assert len(warnings) == 2, warnings


def test_local_modules_imports_are_declared(exported):
    packages = member_json(exported, "solution.json")["requires"]["packages"]
    names = {re.split(r"[=<>!~ ]", text)[0] for text in packages}
    assert {"scipy", "pillow", "ipywidgets"} <= names, packages  # scipy: notebook -> helpers -> more
    assert any(text.startswith("scipy==") for text in packages)
    assert "more" not in names and "helpers" not in names


def machine_paths(exported) -> set[str]:
    """The absolute paths of this machine a package could leak: home folders, temporary folders, this python."""
    paths = {
        Path.home(),
        REAL_HOME,
        Path(tempfile.gettempdir()),
        exported["root"],
        REPO,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path.cwd(),
    }
    paths |= {Path(os.environ["REEF_HOME"]), Path(sys.executable).parent}
    return {text for path in paths for text in {str(path), str(path.resolve())} if len(text) > 4}


def test_no_absolute_or_home_path_anywhere_in_the_package(exported):
    packed = member_json(exported, f"results/{exported['here']['run_id']}/notebook.ipynb")
    code = "\n".join("".join(cell["source"]) for cell in packed["cells"])
    outputs = [output for cell in packed["cells"] for output in cell.get("outputs", [])]
    binary = "".join(
        "".join(output["data"]["image/png"]) for output in outputs if "image/png" in output.get("data", {})
    )
    leaks, absolute = [], re.compile(r"(?<![\w.:/~>-])/(?:[\w.@+-]+/)*[\w.@+-]+")
    for name, content in sorted(exported["members"].items()):
        text = content.decode("utf-8", "replace")
        leaks += [f"{name}: {path}" for path in machine_paths(exported) if path in text]
        for found in absolute.findall(text.replace(binary, "") if binary else text):
            if found not in code and not found.startswith(
                ("/sys/", "/proc/")
            ):  # kernel interfaces named in reef's notes
                leaks.append(f"{name}: {found}")
    assert leaks == []
