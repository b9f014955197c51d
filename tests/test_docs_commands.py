"""Every shell command of README.md and docs/*.md, run as a reader runs it.

The commands are the lines of the pages' ```bash, ```sh and ```shell blocks and the ``$ `` lines of their
```console blocks. They run with bash through the installed ``reef``, in reading order (README, Getting
started, then the other pages by name), each after every command before it, in one workspace: a copy of
``solutions/hello-sweep`` and ``notebooks/``, ``.venv`` (a link to the environment running these tests,
for ``source .venv/bin/activate``) first on the PATH, a fresh REEF_HOME, HOME and Jupyter folders. Environments
install as a user's first ``reef init`` does (the installer's cache, else the index: CI's fresh machine has
no uv cache), the stand-in solution's packages from a folder of local wheels. A command that several pages
show runs once.

A command added to a page is run by this test. One that cannot run here goes in ``NOT_RUN`` with the
reason; a file or folder the line stands for (the reader's own) in ``READER_FILES``; a placeholder in
``SUBSTITUTIONS``; a documented command that fails because of a bug elsewhere in ``FAILING``, as a
strict xfail naming the bug. ``test_every_table_entry_is_still_documented`` keeps the tables honest.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.solutions import REPO, write_notebook
from helpers.wheels import make_wheel

SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)
FLAGSHIP = "solutions/obj-detection-coco-tf"
VENV_BIN = Path(sys.executable).parent
TIMEOUT_S = 300

# Documented commands that do not run here: the command (without its comment) -> why.
NOT_RUN = {
    "make demo": (
        "runs the flagship in its own environment, as tests/test_flagship.py does; the target itself (re)makes .venv"
    ),
    "make test": "the whole check suite, this test among them",
    "make docs": "part of `make test` (mkdocs build --strict over these pages)",
    ".venv/bin/mkdocs serve": "a server that runs until it is stopped; it serves what `make docs` builds",
    ".venv/bin/lint-imports": "part of `make test` (target lint), on the repository",
    "make extension-lint": "part of `make test`: eslint and prettier on extension/",
    ".venv/bin/python -m pytest -x -q tests/frontends/test_cli.py": "a test file of this suite, which runs it",
    ".venv/bin/ruff check reefnb tests benchmarks && .venv/bin/ruff format --check FILES": (
        "part of `make test` (target lint); FILES: the files you changed"
    ),
    ".venv/bin/python benchmarks/harness_overhead.py": (
        "a measurement (LoadGen runs, its figures in docs/figures.md); the harness it measures is tested in "
        "tests/test_flagship.py"
    ),
    "reef env create analysis numpy<2 pandas": (
        "downloads numpy<2 and pandas (about 60 MB) for one line; `reef env create` runs in tests/runs/test_sweeps.py"
    ),
}
# The flagship's commands (TensorFlow, the first marker a line holds decides): a page text -> the test that runs them.
COVERED_ELSEWHERE = {
    f"reef serve {FLAGSHIP}": "tests/frontends/test_serve.py (the flagship served, its detect action over HTTP)",
    "curl -s -H": "tests/frontends/test_serve.py::test_flagship_detect_over_http_returns_labelled_detections",
    "reef mlperf submission": (
        "tests/sharing/test_mlperf.py (a short tree of the flagship; COCO and the model zoo need the network)"
    ),
    "submission.submission_checker.main": (
        "tests/sharing/test_mlperf.py (MLPerf's checker on a short tree, from ../shared/mlperf-inference-tools)"
    ),
    FLAGSHIP: "tests/test_flagship.py",
}

# Placeholders: as written -> what runs ({root}: the folder holding the workspace), and why.
SUBSTITUTIONS = {
    "/shared/": ("{root}/shared/", "a shared disk: a folder beside the workspace"),
    "/data/coco/val.tar": ("{root}/data/coco/val.tar", "a file outside the notebook's folder (written by the test)"),
    "/mnt/data/val.tar": ("{root}/mnt/data/val.tar", "the evaluator's copy of that file"),
    "reef sweep ...": (
        "reef sweep solutions/hello-sweep -p samples 1000 10000 -p method random stratified",
        "`...`: the sweep of the page's first line",
    ),
}


@dataclass(frozen=True)
class Command:
    """One documented command: where it is written and what it says."""

    document: str
    line: int
    text: str  # as written, its comment included

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def key(self) -> str:
        """The command without its comment, words normalised: what decides that two lines are the same command."""
        return normalised(self.text)


def normalised(text: str) -> str:
    try:
        return " ".join(shlex.split(text, comments=True))
    except ValueError:  # an unbalanced quote: compare as written
        return " ".join(text.split())


def shell_commands(markdown: str, document: str) -> list[Command]:
    """The commands of ``markdown``'s shell blocks: every line of a bash/sh/shell block that is not blank or only
    a comment (a line ending in ``\\`` joined with the next), the ``$ `` lines of a console block."""
    commands: list[Command] = []
    fence, language, pending = None, "", None
    for number, line in enumerate(markdown.splitlines(), start=1):
        opened = FENCE.match(line)
        if fence is None:
            if opened:
                fence, language = opened.group(1), opened.group(2).lower()
            continue
        if opened and opened.group(1).startswith(fence) and not opened.group(2):
            fence, pending = None, None
            continue
        if language not in SHELL_LANGUAGES:
            continue
        if language == "console" and pending is None:  # a command's `$ ` line; its continuation lines follow it
            if not line.lstrip().startswith("$ "):
                continue
            line = line.lstrip()[2:]
        if pending is not None:
            pending = Command(document, pending.line, pending.text[:-1] + line.strip())
        elif line.strip() and not line.lstrip().startswith("#"):
            pending = Command(document, number, line.strip())
        if pending is not None and not pending.text.endswith("\\"):
            commands.append(pending)
            pending = None
    return commands


def documents() -> list[str]:
    """README first, then Getting started (the reader's path), then the other pages by name, each followed by
    the files it includes (``--8<-- "FILE"``, pymdownx.snippets, relative to mkdocs.yml's folder)."""
    pages = sorted(path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md"))
    first = ["README.md", "docs/getting-started.md"]
    ordered: list[str] = []
    for page in first + [page for page in pages if page not in first]:
        included = SNIPPET.findall((REPO / page).read_text(encoding="utf-8"))
        ordered += [name for name in [page, *included] if name not in ordered]
    return ordered


def all_commands() -> list[Command]:
    return [
        command
        for document in documents()
        for command in shell_commands((REPO / document).read_text(encoding="utf-8"), document)
    ]


def not_run(command: Command) -> str | None:
    """Why ``command`` is not run here (a reason naming the test that covers it), or None."""
    if command.key in NOT_RUN:
        return NOT_RUN[command.key]
    for marker, test in COVERED_ELSEWHERE.items():
        if marker in command.text:
            return f"covered by {test}"
    return None


def plan() -> tuple[list[Command], dict[str, str]]:
    """The commands to run (each command's first line), and for every other line why it is not run here."""
    to_run, reasons, first = [], {}, {}
    for command in all_commands():
        reason = not_run(command)
        if reason is None and command.key in first:
            reason = f"the same command as {first[command.key].where}"
        if reason is None:
            first[command.key] = command
            to_run.append(command)
        else:
            reasons[command.where] = reason
    return to_run, reasons


def substituted(text: str, root: Path) -> str:
    for written, (replacement, _) in SUBSTITUTIONS.items():
        text = text.replace(written, replacement.format(root=root))
    return text


# --- the reader's own files, which the lines stand for ---

ANALYSIS = (
    "rate = 0.1",
    "import csv\nrows = list(csv.DictReader(open('data/extra.csv')))\nprint('total:', rate * "
    "sum(float(row['value']) for row in rows))",
)
EVALUATE = (
    "images = {path!r}",
    "import hashlib, pathlib\nprint('images:', hashlib.sha256(pathlib.Path(images).read_bytes()).hexdigest()[:12])",
)
MY_SOLUTION = {
    "name": "my-solution",
    "version": "1.0.0",
    "description": "A stand-in for the reader's solution of docs/environments.md, its TensorFlow a tiny local wheel.",
    "requires": {"python": ">=3.10", "packages": ["reef-docs-probe>=1"]},
    "environments": {
        "tf-old": {"packages": ["reef-docs-probe==1.0.0"]},
        "tf-new": {"packages": ["reef-docs-probe==2.0.0"]},
    },
    "workflows": {"run": {"notebook": "main.ipynb", "parameters": {"samples": 100}}},
}
MY_NOTEBOOK = (
    "samples = 100",
    "import importlib.util, reefnb\n"
    "version = importlib.util.find_spec('reef_docs_probe') and __import__('reef_docs_probe').VERSION\n"
    "reefnb.record('probe_version', version or 'none')  # any kernel runs it; an environment of the manifest "
    "has the probe\n"
    "reefnb.record('samples', samples)",
)
READER_FILES = {
    "params.yaml": "parameters from a file: `reef run -f`",
    "grid.yaml": "a grid from a file: `reef sweep --grid`",
    "analysis.ipynb": "a plain notebook (no solution.json) with a parameter `rate`; it reads data/extra.csv",
    "evaluate.ipynb": "a notebook whose parameter names a file outside its folder (/data/coco/val.tar)",
    "solutions/my-solution": (
        "a solution declaring environments tf-old and tf-new; their packages are local wheels on UV_FIND_LINKS"
    ),
    "~/.ssh/id_ed25519": "an OpenSSH key (ssh-keygen)",
}


def write_reader_files(work: Path, home: Path, wheels: Path) -> None:
    """What READER_FILES lists, written where the pages' commands look for it."""
    (work / "params.yaml").write_text("samples: 20000\nmethod: stratified\n", encoding="utf-8")
    (work / "grid.yaml").write_text("samples: [100, 200]\n", encoding="utf-8")
    (work / "data").mkdir()
    (work / "data" / "extra.csv").write_text("name,value\na,1.5\nb,2.5\n", encoding="utf-8")
    write_notebook(work / "analysis.ipynb", *ANALYSIS)
    outside = Path(substituted("/data/coco/val.tar", work.parent))
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"the evaluation images\n" * 100)
    copy = Path(substituted("/mnt/data/val.tar", work.parent))
    copy.parent.mkdir(parents=True)
    shutil.copy(outside, copy)
    write_notebook(work / "evaluate.ipynb", EVALUATE[0].format(path=str(outside)), EVALUATE[1])
    solution = work / "solutions" / "my-solution"
    write_notebook(solution / "main.ipynb", *MY_NOTEBOOK)
    (solution / "solution.json").write_text(json.dumps(MY_SOLUTION, indent=2), encoding="utf-8")
    for version in ("1.0.0", "2.0.0"):
        make_wheel(wheels, "reef-docs-probe", version, f"VERSION = {version!r}\n")
    if shutil.which("ssh-keygen"):
        (home / ".ssh").mkdir(mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "docs@reef", "-f", str(home / ".ssh" / "id_ed25519")],
            check=True,
        )


def missing_tool(command: Command) -> str | None:
    """The reason to skip ``command`` on a machine without a tool it needs (beyond git, which reefnb needs), or None."""
    if "~/.ssh/" in command.text and not shutil.which("ssh-keygen"):
        return f"{command.where} signs with an OpenSSH key: this machine has no ssh-keygen"
    return None


# --- what a few commands must print or write, beyond exit 0 ---


def printed(*texts: str) -> Callable:
    return lambda result, work: [f"stdout lacks {text!r}" for text in texts if text not in result.stdout]


def json_printed(result, work) -> list[str]:
    try:
        json.loads(result.stdout)
    except ValueError as error:
        return [f"--json printed no JSON ({error})"]
    return []


def written(name: str, kind: str) -> Callable:
    def check(result, work) -> list[str]:
        path = work / name
        if kind == "zip":
            return [] if zipfile.is_zipfile(path) else [f"{name} is not a zip file"]
        if kind == "html":
            return (
                []
                if path.is_file() and "<html" in path.read_text(encoding="utf-8", errors="replace")[:2000].lower()
                else [f"{name} is no HTML page"]
            )
        return [] if (path / "solution.json").is_file() else [f"{name}/solution.json is missing"]

    return check


CHECKS = {
    "reef validate solutions/hello-sweep": printed("valid (hello-sweep@0.1.0"),
    "reef run solutions/hello-sweep -p samples 50000 -p method stratified": printed(" ok ", "method='stratified'"),
    "reef run solutions/hello-sweep -f params.yaml": printed(" ok ", "samples=20000 method='stratified'"),
    "reef sweep solutions/hello-sweep -p samples 1000 10000 -p method random stratified": printed("4 runs, 4 ok"),
    "reef dashboard --solution solutions/hello-sweep -o dashboard.html": written("dashboard.html", "html"),
    "reef export solutions/hello-sweep -o hello.reef.zip": written("hello.reef.zip", "zip"),
    "reef reproduce hello.reef.zip --trust --env native": printed("hello-sweep@0.1.0: REPRODUCED"),
    "reef run solutions/hello-sweep --json": json_printed,
    "reef run solutions/my-solution --env tf-old": printed("probe_version", "1.0.0"),
    "reef import hello.reef.zip -o hello": written("hello", "folder"),
    "reef reproduce evaluate.reef.zip --trust --artifact coco=/mnt/data/val.tar": printed(
        "evaluate@0.1.0: REPRODUCED", "1 output compared"
    ),
    "reef search monte carlo": printed("hello-sweep"),
    "reef pull hello-sweep@0.1.0 -o hello-copy": written("hello-copy", "folder"),
    "reef pareto -s hello-sweep --min time_ms --max points --plot front.html": written("front.html", "html"),
    "reef activate hello-sweep": printed("source "),
}

# Documented commands that fail because of a bug outside this test and the pages: key -> the bug (a strict xfail).
FAILING: dict[str, str] = {}


class Workspace:
    """The reader's folder and home; runs each command once, in order."""

    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.home = root / "home"
        wheels = root / "wheels"
        self.home.mkdir(parents=True)
        self.work.mkdir()
        ignore = shutil.ignore_patterns("runs", "reef.lock.json", "reproduce-report.*", ".ipynb_checkpoints")
        shutil.copytree(REPO / "solutions" / "hello-sweep", self.work / "solutions" / "hello-sweep", ignore=ignore)
        shutil.copytree(REPO / "notebooks", self.work / "notebooks", ignore=ignore)
        (self.work / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
        write_reader_files(self.work, self.home, wheels)
        jupyter = root / "jupyter"
        self.environment = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(self.home),
            "REEF_HOME": str(root / "reef-home"),
            "JUPYTER_DATA_DIR": str(jupyter / "data"),
            "JUPYTER_PATH": str(jupyter / "data"),
            "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
            "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
            "IPYTHONDIR": str(root / "ipython"),
            "MPLCONFIGDIR": str(root / "matplotlib"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "UV_FIND_LINKS": str(
                wheels
            ),  # my-solution's packages; the rest as a user's: the installer's cache, else the index
            "PIP_FIND_LINKS": str(wheels),
            "GIT_AUTHOR_NAME": "Docs Reader",
            "GIT_AUTHOR_EMAIL": "reader@example.org",
            "GIT_COMMITTER_NAME": "Docs Reader",
            "GIT_COMMITTER_EMAIL": "reader@example.org",
        }
        self.environment.pop("VIRTUAL_ENV", None)
        self.outcomes: dict[str, subprocess.CompletedProcess] = {}
        self.preludes: dict[str, list[str]] = {}
        self.to_run, _ = plan()

    def run(self, command: Command) -> subprocess.CompletedProcess:
        """``command`` through bash in the workspace (once; again it returns the first outcome)."""
        if command.key not in self.outcomes:
            prelude = self.preludes.setdefault(command.document, [])
            script = "".join(f"{line} || exit 97\n" for line in prelude) + substituted(command.text, self.work.parent)
            self.outcomes[command.key] = subprocess.run(
                ["bash", "-c", script],
                cwd=self.work,
                env=self.environment,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
            if command.key.startswith("source ") and self.outcomes[command.key].returncode == 0:
                prelude.append(command.text)  # the page's later commands run in the shell it set up
        return self.outcomes[command.key]

    def run_before(self, command: Command) -> None:
        """Every command before ``command`` in reading order, once (their failures are their own tests')."""
        for earlier in self.to_run:
            if earlier == command:
                return
            if not missing_tool(earlier):
                self.run(earlier)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("docs-commands"))


def _parameters() -> list:
    marks = {key: [pytest.mark.xfail(strict=True, reason=reason)] for key, reason in FAILING.items()}
    return [pytest.param(command, id=command.where, marks=marks.get(command.key, [])) for command in plan()[0]]


@pytest.mark.parametrize("command", _parameters())
def test_documented_command(workspace, command):
    reason = missing_tool(command)
    if reason:
        pytest.skip(reason)
    workspace.run_before(command)
    result = workspace.run(command)
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
    hint = (
        "if this line cannot run as written, fix the page or add it to NOT_RUN / SUBSTITUTIONS / READER_FILES with "
        "the reason"
    )
    assert result.returncode == 0, f"{command.where}: `{command.text}` exited {result.returncode}:\n{tail}\n({hint})"
    problems = CHECKS[command.key](result, workspace.work) if command.key in CHECKS else []
    assert not problems, f"{command.where}: `{command.text}`: {'; '.join(problems)}\n{tail}"


def test_every_table_entry_is_still_documented():
    """An entry of NOT_RUN, COVERED_ELSEWHERE, SUBSTITUTIONS, READER_FILES, CHECKS or FAILING that no page's
    command uses any more is stale: remove it (a reviewed table lists only what the pages hold)."""
    commands = all_commands()
    keys = {command.key for command in commands}
    texts = "\n".join(command.text for command in commands)
    stale = [f"NOT_RUN[{key!r}]" for key in NOT_RUN if key not in keys]
    stale += [f"CHECKS[{key!r}]" for key in CHECKS if key not in keys]
    stale += [f"FAILING[{key!r}]" for key in FAILING if key not in keys]
    tables = {"COVERED_ELSEWHERE": COVERED_ELSEWHERE, "SUBSTITUTIONS": SUBSTITUTIONS, "READER_FILES": READER_FILES}
    stale += [f"{table}[{text!r}]" for table, entries in tables.items() for text in entries if text not in texts]
    assert not stale, f"no documented command uses {', '.join(stale)}"


def test_extraction_finds_each_command_once_with_its_line():
    """The extractor on a page of every kind of block: shell blocks' lines (comments, continuations), console
    blocks' `$ ` lines only, nothing from other blocks or from a fence inside a longer fence."""
    page = "\n".join(
        [
            "# A page",  # 1
            "```bash",  # 2
            "reef validate solutions/hello-sweep   # a comment",  # 3
            "                                      # a comment's second line",  # 4
            "",  # 5
            "reef run solutions/hello-sweep \\",  # 6
            "    -p samples 10",  # 7
            "```",  # 8
            "```python",  # 9
            "reefnb.run('x')",  # 10
            "```",  # 11
            "````console",  # 12
            "$ reef detect",  # 13
            "OS: linux",  # 14
            "```",  # 15
            "$ reef results",  # 16
            "````",  # 17
            "```sh",  # 18
            "make docs",  # 19
            "```",  # 20
        ]
    )
    found = [(command.line, command.key) for command in shell_commands(page, "page.md")]
    assert found == [
        (3, "reef validate solutions/hello-sweep"),
        (6, "reef run solutions/hello-sweep -p samples 10"),
        (13, "reef detect"),
        (16, "reef results"),
        (19, "make docs"),
    ]


def test_the_quickstart_runs_once_and_the_other_pages_say_where():
    """On the real pages: the quickstart of README.md and Getting started is run from the README, Getting
    started's copy names the README's line; the flagship's commands name the tests that run them, the make
    targets why they do not run here; every included page's commands
    are found (CONTRIBUTING.md through docs/contributing.md)."""
    to_run, reasons = plan()
    readme = {
        command.key: command
        for command in shell_commands((REPO / "README.md").read_text(encoding="utf-8"), "README.md")
    }
    validate = readme["reef validate solutions/hello-sweep"]
    assert validate in to_run
    again = [
        command
        for command in all_commands()
        if command.key == validate.key and command.document == "docs/getting-started.md"
    ]
    assert again and reasons[again[0].where] == f"the same command as {validate.where}"
    flagship = [command for command in all_commands() if FLAGSHIP in command.text]
    assert flagship and all(reasons[command.where].startswith("covered by tests/") for command in flagship)
    assert reasons[readme["make test"].where] == NOT_RUN["make test"]
    assert any(command.document == "CONTRIBUTING.md" for command in all_commands())
