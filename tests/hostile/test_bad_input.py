"""Bad input, everywhere (issue 15, case 6): each hostile file is built here and handed to ``reef`` as a
command (a subprocess, as a user would run it). Each must end with exit code 2 and one line on standard
error, never a traceback, and leave nothing half-written: no file appears or changes outside the
registry clones reef refreshes."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from helpers.cli import run
from helpers.packages import write_package
from helpers.registry import GIT_IDENTITY
from helpers.solutions import HELLO, write_notebook, write_solution

from reefnb.sharing.package import export_package
from reefnb.sharing.registry import add_registry

DEEP = "[" * 10_000 + "]" * 10_000
HUGE = "9" * 5_000
SHA = "0" * 64


def reef(tmp_path: Path, *argv: str, **options) -> subprocess.CompletedProcess:
    """``reef ARGV`` as a command in ``tmp_path/work``, with the test's REEF_HOME."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run(*argv, cwd=work, env={**os.environ, **GIT_IDENTITY}, **options)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, but the registry clones (a pull refreshes them), git's own,
    and the pins' record of the highest versions listed (what the registry's index showed, kept against rollback
    even when a version's files are then refused)."""
    found = {}
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if not path.is_file() or "registries" in parts or ".git" in path.parts:
            continue
        data = path.read_bytes()
        if "pins" in parts and path.suffix == ".json" and data:
            pins = json.loads(data)
            pins.pop("highest", None)
            data = json.dumps(pins, sort_keys=True).encode()
        found[str(path.relative_to(folder))] = data
    return found


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# --- hostile files --------------------------------------------------------------------------------


def solution_with(tmp_path: Path, manifest_text: str, lock_text: str | None = None) -> Path:
    folder = write_solution(tmp_path / "solution", {"name": "x", "version": "0.1.0"})
    (folder / "solution.json").write_text(manifest_text, encoding="utf-8")
    if lock_text is not None:
        (folder / "reef.lock.json").write_text(lock_text, encoding="utf-8")
    return folder


def rewritten_package(tmp_path: Path, changes: dict[str, bytes]) -> Path:
    """A real package of a small solution, with members replaced or added and SHA256SUMS made to match."""
    source = write_solution(
        tmp_path / "source", {"name": "victim", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
    )
    original = Path(export_package(source, tmp_path / "original.reef.zip")["package"])
    with zipfile.ZipFile(original) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    members.update(changes)
    return write_package(tmp_path / "hostile.reef.zip", members)


def hostile_registry(tmp_path: Path, index: str, meta: str | None = None) -> None:
    """A git registry (a bare repository) added as ``hostile``, then rewritten with this index.json (and meta.json)."""
    bare = tmp_path / "registry.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    clone = tmp_path / "publisher"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(clone)], check=True, capture_output=True)
    (clone / "README.md").write_text("a registry\n")
    push(clone, "start")
    add_registry("hostile", str(bare))
    (clone / "index.json").write_text(index)
    if meta is not None:
        (clone / "packages" / "victim" / "1.0.0").mkdir(parents=True)
        (clone / "packages" / "victim" / "1.0.0" / "meta.json").write_text(meta)
    push(clone, "hostile")


def push(clone: Path, message: str) -> None:
    """Commit everything in ``clone`` and push it to its bare repository."""
    environment = {**os.environ, **GIT_IDENTITY}
    for command in (["add", "-A"], ["commit", "--quiet", "-m", message], ["push", "--quiet", "origin", "HEAD"]):
        subprocess.run(["git", "-C", str(clone), *command], check=True, capture_output=True, env=environment)


def hello_copy(tmp_path: Path) -> str:
    """A private copy of hello-sweep: a run that should have been refused writes there, not in the repository."""
    return str(Path(shutil.copytree(HELLO, tmp_path / "hello-sweep", ignore=shutil.ignore_patterns("runs"))))


def index_of(versions) -> str:
    return json.dumps({"format": 1, "components": {"victim": {"latest": "1.0.0", "versions": versions}}})


GOOD_VERSION = {"1.0.0": {"sha256": SHA, "file": "victim-1.0.0.reef.zip"}}
GOOD_META = {"name": "victim", "version": "1.0.0", "sha256": SHA, "file": "victim-1.0.0.reef.zip"}

# name -> (build(tmp_path) -> argv, text the one line must hold)
CASES = {
    "solution.json nested 10,000 deep": (lambda t: ["validate", str(solution_with(t, DEEP))], "solution.json: /0/0/0"),
    "solution.json with a 5,000-digit integer": (
        lambda t: ["validate", str(solution_with(t, '{"name": "x", "version": ' + HUGE + "}"))],
        "solution.json: /version: an integer of 5000 digits",
    ),
    "solution.json with a number beyond a float": (
        lambda t: [
            "run",
            str(
                solution_with(
                    t,
                    '{"name": "x", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb", '
                    '"timeout": 1e400}}}',
                )
            ),
        ],
        "/workflows/run/timeout: a number beyond the range of a float",
    ),
    "solution.json with an Infinity timeout": (
        lambda t: [
            "validate",
            str(
                solution_with(
                    t,
                    '{"name": "x", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb", '
                    '"timeout": Infinity}}}',
                )
            ),
        ],
        "/workflows/run/timeout",
    ),
    "reef.lock.json nested 10,000 deep": (
        lambda t: [
            "run",
            str(
                solution_with(
                    t,
                    json.dumps({"name": "x", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}),
                    lock_text=DEEP,
                )
            ),
        ],
        "reef.lock.json: /0/0",
    ),
    "a package's solution.json nested 10,000 deep": (
        lambda t: ["init", str(rewritten_package(t, {"solution.json": DEEP.encode()})), "--dry-run"],
        "member 'solution.json': /0/0",
    ),
    "a package's solution.json with a 5,000-digit integer": (
        lambda t: [
            "init",
            str(rewritten_package(t, {"solution.json": ('{"name": "v", "version": "1", "x": ' + HUGE + "}").encode()})),
            "--dry-run",
        ],
        "an integer of 5000 digits",
    ),
    "a package member name over the file-system limit": (
        lambda t: ["import", str(rewritten_package(t, {"data/" + "a" * 300 + ".csv": b"1,2\n"}))],
        "a name longer than 255 bytes",
    ),
    "a package's run record nested 10,000 deep": (
        lambda t: [
            "reproduce",
            str(rewritten_package(t, {"results/run-1.json": DEEP.encode()})),
            "--trust",
            "--folder",
            str(t / "into"),
        ],
        "member 'results/run-1.json': /0/0",
    ),
    "index.json nested 10,000 deep": (lambda t: (hostile_registry(t, DEEP), ["pull", "victim"])[1], "index.json: /0/0"),
    "index.json with a 5,000-digit integer": (
        lambda t: (hostile_registry(t, '{"components": {}, "format": ' + HUGE + "}"), ["search", "victim"])[1],
        "index.json: /format: an integer",
    ),
    "index.json whose components are a list": (
        lambda t: (hostile_registry(t, '{"format": 1, "components": []}'), ["search", "victim"])[1],
        "index.json: /components: expected object",
    ),
    "index.json whose versions are empty": (
        lambda t: (hostile_registry(t, index_of({})), ["pull", "victim"])[1],
        "index.json: /components/victim/versions",
    ),
    "index.json whose version entry is a number": (
        lambda t: (hostile_registry(t, index_of({"1.0.0": 5})), ["pull", "victim"])[1],
        "index.json: /components/victim/versions/1.0.0: expected object",
    ),
    "index.json whose sha256 is a list": (
        lambda t: (hostile_registry(t, index_of({"1.0.0": {"sha256": [1]}})), ["pull", "victim"])[1],
        "/versions/1.0.0/sha256: expected string",
    ),
    "meta.json nested 10,000 deep": (
        lambda t: (hostile_registry(t, index_of(GOOD_VERSION), DEEP), ["pull", "victim"])[1],
        "meta.json: /0/0",
    ),
    "meta.json whose file is a number": (
        lambda t: (
            hostile_registry(t, index_of(GOOD_VERSION), json.dumps({**GOOD_META, "file": 7})),
            ["pull", "victim"],
        )[1],
        "meta.json: /file: expected string",
    ),
    "--timeout inf": (lambda t: ["run", hello_copy(t), "--timeout", "inf"], "argument --timeout: 'inf'"),
    "--timeout 1e400": (lambda t: ["run", hello_copy(t), "--timeout", "1e400"], "argument --timeout: '1e400'"),
    "--timeout -5": (lambda t: ["sweep", hello_copy(t), "--timeout=-5"], "argument --timeout: '-5'"),
    "--timeout nan": (lambda t: ["benchmark", hello_copy(t), "--timeout", "nan"], "argument --timeout: 'nan'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_and_exit_2(case, tmp_path):
    build, expected = CASES[case]
    argv = build(tmp_path)
    before = files(tmp_path)
    result = reef(tmp_path, *argv)
    assert_one_line(result, expected)
    assert files(tmp_path) == before  # nothing half-written, nothing extracted, no run folder


def test_one_bad_shared_results_file_is_skipped_with_a_warning_and_the_rest_merged(tmp_path):
    """`reef results pull`: a results file nested 10,000 deep and one with a 5,000-digit number are
    named in a warning each and skipped; the good record pushed beside them is merged."""
    from reefnb import run
    from reefnb.sharing.registry import push_results

    hostile_registry(tmp_path, index_of(GOOD_VERSION), json.dumps(GOOD_META))
    record = run(
        write_solution(
            tmp_path / "mine", {"name": "mine", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}}
        )
    )
    assert push_results(registry="hostile")["pushed"] == 1
    clone = tmp_path / "publisher"
    subprocess.run(["git", "-C", str(clone), "pull", "--quiet"], check=True, capture_output=True)
    (clone / "results" / "mine").mkdir(parents=True, exist_ok=True)
    (clone / "results" / "mine" / "deep-1.json").write_text(DEEP)
    (clone / "results" / "mine" / "huge-1.json").write_text(
        '{"run_id": "huge-1", "origin": {"contributor": "anon-1"}, "size": ' + HUGE + "}"
    )
    push(clone, "hostile results")
    os.environ["REEF_HOME"] = str(
        tmp_path / "other-home"
    )  # another machine pulls (conftest's monkeypatch restores REEF_HOME)
    try:
        add_registry("hostile", str(tmp_path / "registry.git"))
        result = reef(tmp_path, "results", "pull", "--json")
        shown = reef(tmp_path, "results", "--format", "json")
    finally:
        os.environ["REEF_HOME"] = str(tmp_path / "reef-home")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in ("results/mine/deep-1.json", "results/mine/huge-1.json"):
        assert len([line for line in result.stderr.splitlines() if name in line]) == 1, result.stderr
        assert name in json.loads(result.stdout)["refused"]
    assert [pulled["run_id"] for pulled in json.loads(shown.stdout)] == [record["run_id"]]


def test_eof_at_the_trust_prompt_is_a_no_in_one_line(tmp_path):
    """`reef reproduce PACKAGE` asks on a terminal before running a package's notebooks; Ctrl-D is "no"."""
    package = Path(export_package(HELLO, tmp_path / "hello.reef.zip")["package"])
    before = files(tmp_path)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reefnb", "reproduce", str(package), "--folder", str(tmp_path / "into")],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        text=True,
    )
    os.close(terminal)
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            os.write(controller, b"\x04")  # Ctrl-D, until the prompt has read it
            time.sleep(0.5)
        out, err = process.communicate(timeout=60)
    finally:
        os.close(controller)
    assert_one_line(
        subprocess.CompletedProcess(process.args, process.returncode, out, err), "not trusted; nothing was run"
    )
    assert "[y/N]" in out
    assert files(tmp_path) == before and not (tmp_path / "into").exists()


def test_ctrl_c_during_reef_run_is_one_line_and_exit_130(tmp_path):
    """SIGINT while a cell runs: "reef: interrupted", exit 130, no asyncio "Task exception was never retrieved"."""
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN, (
        "SIGINT ignored here, so in the reef started (kept across exec)"
    )
    folder = tmp_path / "sleepy"
    in_the_cell = tmp_path / "in-the-sleeping-cell"  # the kernel writes it as the cell begins
    write_notebook(
        folder / "main.ipynb",
        "x = 1",
        f"import pathlib, time\npathlib.Path({str(in_the_cell)!r}).touch()\ntime.sleep(120)",
    )
    (folder / "solution.json").write_text(
        json.dumps({"name": "sleepy", "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "reefnb", "run", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not in_the_cell.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not in_the_cell.exists():
        process.kill()
        pytest.fail(f"the run never reached its sleeping cell: {process.communicate()[1]}")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "never retrieved" not in err, err
    assert err.strip().splitlines()[-1] == "reef: interrupted" and len(err.strip().splitlines()) == 1, err


def test_the_cli_turns_every_reef_error_into_one_line():
    """main's contract, in process: a multi-line ManifestError is one line per problem, any other ReefError one line."""
    from reefnb.common.exceptions import InputError
    from reefnb.frontends.cli import main

    err = io.StringIO()
    code = main(["validate", "/nonexistent/solution"], out=io.StringIO(), err=err)
    assert code == 2 and len(err.getvalue().strip().splitlines()) == 1
    assert str(InputError("f.json", "/a/b", "too deep")) == "f.json: /a/b: too deep"
