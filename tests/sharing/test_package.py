"""reefnb.sharing.package: export as a deterministic .reef.zip
with an RO-Crate, and safe import (real zips, real runs)."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest
from helpers.solutions import write_notebook

import reefnb
from reefnb.frontends.cli import main
from reefnb.sharing.package import PackageError, export_package, import_package


def _crate_graph(folder: Path) -> dict[str, dict]:
    return {entity["@id"]: entity for entity in json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]}


def test_export_after_a_run_is_deterministic_and_a_valid_crate(hello, tmp_path):
    from rocrate.rocrate import ROCrate

    record = reefnb.run(hello, parameters={"samples": 2000, "method": "random"})
    assert record["status"] == "ok"
    first, second = tmp_path / "a.reef.zip", tmp_path / "b.reef.zip"
    summary = export_package(hello, first, authors=["Ada Lovelace"], license="MIT", paper="https://doi.org/10.1000/xyz")
    export_package(hello, second, authors=["Ada Lovelace"], license="MIT", paper="https://doi.org/10.1000/xyz")
    assert first.read_bytes() == second.read_bytes()
    assert summary["runs"] == [record["run_id"]]

    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {
            "ro-crate-metadata.json",
            "solution.json",
            "main.ipynb",
            "reef.lock.json",
            "SHA256SUMS",
            "requirements.txt",
            "runtime.txt",
            f"results/{record['run_id']}.json",
        } <= set(names)
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        assert all(info.external_attr >> 16 == stat.S_IFREG | 0o644 for info in archive.infolist())
        everything = b"".join(archive.read(name) for name in names).decode("utf-8")
    assert str(hello.resolve()) not in everything and str(Path.home()) + "/" not in everything

    folder = import_package(first, tmp_path / "unpacked")
    manifest = json.loads((folder / "solution.json").read_text())
    assert manifest["authors"] == [{"name": "Ada Lovelace"}] and manifest["license"] == "MIT"
    assert manifest["paper"] == {"doi": "10.1000/xyz"}
    last = manifest["expected"][-1]
    assert last["parameters"] == {"samples": 2000, "method": "random"}
    assert last["metrics"]["points"]["tolerance"] == {"abs": 0}
    assert last["metrics"]["pi_estimate"]["tolerance"] == {"rel": 1e-6}
    assert last["metrics"]["time_ms"]["tolerance"] == {"informational": True}
    assert last["metrics"]["abs_error"]["tolerance"] == {"abs": 0.05}  # the manifest's declared tolerance wins
    assert "numpy==" in (folder / "requirements.txt").read_text()
    assert (folder / "runtime.txt").read_text().startswith("python-3.")
    reefnb.load_solution(folder)  # the imported solution is valid

    crate = ROCrate(folder)
    assert crate.mainEntity.id == "main.ipynb"
    actions = [entity for entity in crate.get_entities() if entity.type == "CreateAction"]
    assert [action.id for action in actions] == [f"#run-{record['run_id']}"]
    action = actions[0]
    assert action["instrument"].id == "main.ipynb"
    assert action["startTime"] == record["started"] and action["endTime"] == record["ended"]
    assert {value["name"]: value["value"] for value in action["object"]} == {"samples": 2000, "method": "random"}
    assert f"results/{record['run_id']}.json" in [result.id for result in action["result"]]
    assert _crate_graph(folder)["./"]["conformsTo"] == {"@id": "https://w3id.org/ro/wfrun/process/0.5"}


def test_export_plain_notebook_finds_files_imports_and_scrubs_secrets(tmp_path, monkeypatch):
    folder = tmp_path / "work"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "points.csv").write_text("1,2\n")
    (folder / "notes.txt").write_text("extra\n")
    notebook = write_notebook(
        folder / "Analysis One.ipynb",
        "rate = 0.5\nname = 'x'",
        "import json, os\nimport numpy as np\nimport reefnb\nrows = open('data/points.csv').read()\n"
        "token = os.environ['GH_TOKEN']\nprint(token, '" + str(folder) + "/out')",
        "reefnb.record('value', rate * 2)",
    )
    monkeypatch.setenv("GH_TOKEN", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    record = reefnb.run(notebook)
    assert record["status"] == "ok"
    package = tmp_path / "analysis.reef.zip"
    export_package(notebook, package, include=[folder / "notes.txt"])
    target = import_package(package, tmp_path / "imported")
    assert (target / "data" / "points.csv").read_text() == "1,2\n" and (target / "notes.txt").is_file()
    manifest = json.loads((target / "solution.json").read_text())
    assert manifest["name"] == "analysis-one"
    assert manifest["workflows"]["run"] == {"notebook": "Analysis One.ipynb", "parameters": {"rate": 0.5, "name": "x"}}
    packages = manifest["requires"]["packages"]
    assert any(text.startswith("numpy==") for text in packages) and not any(
        text.startswith("json") for text in packages
    )
    assert manifest["expected"][-1]["metrics"]["value"] == {"value": 1.0, "tolerance": {"rel": 1e-6}}
    text = (target / "Analysis One.ipynb").read_text()
    assert not [
        path
        for path in target.rglob("*")
        if path.is_file() and b"ghp_abcdefghijklmnopqrstuvwxyz0123456789" in path.read_bytes()
    ]
    assert not [path for path in target.rglob("*.json") if str(folder) in path.read_text()]  # code keeps its own text
    assert "token = os.environ['GH_TOKEN']" in text  # code is exported as written


def test_cli_export_and_import(hello, tmp_path, capsys):
    package = tmp_path / "hello.reef.zip"
    assert main(["export", str(hello), "-o", str(package), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["package"] == str(package)
    assert main(["import", str(package), "-o", str(tmp_path / "in")]) == 0
    assert "nothing was run" in capsys.readouterr().out
    assert not (tmp_path / "in" / "runs").exists()


# --- refusals: crafted archives -------------------------------------------------------------------


def _package(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], sums: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        lines = []
        for name, content in members:
            archive.writestr(name, content)
            lines.append(f"{hashlib.sha256(content).hexdigest()}  {name if isinstance(name, str) else name.filename}\n")
        if sums:
            archive.writestr("SHA256SUMS", "".join(lines))
    return path


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _fifo(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    return info


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([("../evil", b"x")], "'..' component"),
        ([("ok/../../evil", b"x")], "'..' component"),
        ([("/etc/evil", b"x")], "absolute path"),
        ([("C:/evil", b"x")], "absolute path"),
        ([(_symlink("link"), b"/etc/passwd")], "symbolic link"),
        ([(_fifo("pipe"), b"")], "special files"),
        ([("a.txt", b"1"), ("a.txt", b"2")], "duplicate name"),
        ([("big.bin", b"\0" * 5_000_000)], "zip bomb"),
        (
            [("results/20260101T000000Z-0000000a/notebook.ipynb", b"{not json")],
            "notebook.ipynb'",
        ),  # a run's executed notebook
        ([("results/20260101T000000Z-0000000a/notebook.ipynb", b"[" * 100 + b"]" * 100)], "nested deeper"),
    ],
)
def test_import_refuses_malicious_archives(tmp_path, members, reason):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        package = _package(tmp_path / "evil.reef.zip", members)
    target = tmp_path / "out" / "target"
    before = sorted(path.name for path in tmp_path.rglob("*"))
    with pytest.raises(PackageError, match=reason) as caught:
        import_package(package, target)
    assert str(package) in str(caught.value) and "member" in str(caught.value)
    assert sorted(path.name for path in tmp_path.rglob("*")) == before or not any((tmp_path / "out").rglob("*"))
    assert not target.exists()
    assert not (tmp_path / "evil").exists()


def test_import_refuses_too_many_members(tmp_path):
    package = _package(tmp_path / "many.reef.zip", [(f"f{index}", b"") for index in range(12)])
    with pytest.raises(PackageError, match="more than 10 members"):
        import_package(package, tmp_path / "t", max_members=10)
    assert not (tmp_path / "t").exists()


def test_import_refuses_tampering(hello, tmp_path):
    good = tmp_path / "good.reef.zip"
    export_package(hello, good)
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    def rewrite(name: str, changes: dict[str, bytes | None]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, content in {**members, **changes}.items():
                if content is not None:
                    archive.writestr(member, content)
        return path

    manifest = json.loads(members["solution.json"])
    manifest["expected"][0]["metrics"]["points"]["value"] = 1
    cases = {
        "changed-file": (
            {"main.ipynb": members["main.ipynb"] + b" "},
            "member 'main.ipynb': sha256 .* does not match SHA256SUMS",
        ),
        "changed-metric": ({"solution.json": json.dumps(manifest).encode()}, "member 'solution.json': sha256"),
        "changed-sums": (
            {"SHA256SUMS": members["SHA256SUMS"].replace(b"main.ipynb", b"other.ipynb")},
            "member 'main.ipynb': not listed in SHA256SUMS",
        ),
        "no-sums": ({"SHA256SUMS": None}, "member 'SHA256SUMS': missing"),
        "extra-file": ({"postBuild": b"rm -rf ~"}, "member 'postBuild': not listed"),
    }
    for name, (changes, reason) in cases.items():
        with pytest.raises(PackageError, match=reason):
            import_package(rewrite(f"{name}.reef.zip", changes), tmp_path / name)
        assert not (tmp_path / name).exists()
        assert not [path for path in tmp_path.iterdir() if path.name.startswith(f".{name}")]  # no half-extracted folder
    assert import_package(good, tmp_path / "fine").is_dir()


def test_import_refuses_non_empty_target_and_cli_gives_one_line(hello, tmp_path, capsys):
    package = _package(tmp_path / "evil.reef.zip", [("../evil", b"x")])
    assert main(["import", str(package), "-o", str(tmp_path / "t")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "evil.reef.zip: member '../evil'" in error
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    good = tmp_path / "good.reef.zip"
    export_package(hello, good)
    with pytest.raises(PackageError, match="not empty"):
        import_package(good, tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep"


EXPORT_TWICE = """
import json, os, resource, sys, zipfile
from pathlib import Path
from reefnb.runs.store import Store
from reefnb.sharing.package import export_package
folder = Path(sys.argv[1])
peaks, summaries = [], []
for megabytes in (4, 64):
    data = folder / f"weights-{megabytes}.bin"
    with open(data, "wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1 << 20))
    package = folder / f"{megabytes}.reef.zip"
    store = Store(folder / "results.sqlite")
    summaries.append(export_package(folder / "solution", package, include=[data], store=store))
    peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps({"peaks": peaks, "summaries": summaries}))
"""


def test_export_streams_big_members_in_bounded_memory_and_stores_them_as_they_are(tmp_path):
    """A 64 MB incompressible member costs no more memory than a
    4 MB one: read once, a MiB at a time, hashed as written."""
    import subprocess
    import sys

    write_notebook(tmp_path / "solution" / "main.ipynb", "x = 1", "print(x)")
    (tmp_path / "solution" / "solution.json").write_text(
        json.dumps({"name": "big", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
    )
    done = subprocess.run(
        [sys.executable, "-c", EXPORT_TWICE, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    small, big = answer["peaks"]
    assert big - small < 24, answer["peaks"]  # megabytes; keeping the member as bytes took 2-3 times its size
    package = tmp_path / "64.reef.zip"
    assert answer["summaries"][1]["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    with zipfile.ZipFile(package) as archive:
        info = archive.getinfo("files/weights-64.bin")
        assert info.compress_type == zipfile.ZIP_STORED and info.file_size == 64 << 20
        sums = dict(reversed(line.split("  ", 1)) for line in archive.read("SHA256SUMS").decode().splitlines())
    assert sums["files/weights-64.bin"] == hashlib.sha256((tmp_path / "weights-64.bin").read_bytes()).hexdigest()
    imported = import_package(package, tmp_path / "imported")  # checked against SHA256SUMS, and its layout
    assert (imported / "files" / "weights-64.bin").stat().st_size == 64 << 20
