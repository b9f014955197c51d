"""The suite's hooks and autouse fixtures: a temporary home for the whole run, REEF_HOME per test, no leaked
temporary entries, the slowest files first. Helpers and fixtures that test modules share live in tests/helpers/
(``from helpers.solutions import write_solution``); no test module imports another, nor this one."""

from __future__ import annotations

import atexit
import compileall
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

# As in the reef command and its sweep workers (reefnb.runs.processes.without_format_grammars): jsonschema's format
# checker goes without rfc3987_syntax, whose lark grammars take 2.4 s of CPU to compile at import, in each test
# process (reef's schemas use no iri format). Set before anything imports jsonschema (nbformat does).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

pytest.register_assert_rewrite("helpers")  # their asserts explain themselves as the tests' do
pytest_plugins = ["helpers.browser", "helpers.registry"]  # fixtures: the one Chromium, bare registries, users

from helpers.home import REAL_HOME, REAL_KERNELS, kernelspecs  # noqa: E402
from helpers.solutions import HELLO, REPO  # noqa: E402

_SESSION: dict = {}
# The slowest test files, slowest first. `make test` hands whole files to its two processes in collection order
# (--dist loadfile --no-loadscope-reorder): these first, so that no long file starts last while the other process
# has nothing left (xdist's default order, most tests first, started the one-test files test_lab_notebooks.py and
# test_flagship.py last). The other files keep their order after them. A file that grows slow belongs here.
SLOWEST_FILES = [  # seconds alone, in one process, on this 2-core machine with other work on it (load 2-6)
    "tests/sharing/test_export_corpus.py",  # 183
    "tests/runs/test_sweeps.py",  # 171
    "tests/test_docs_commands.py",  # 140
    "tests/test_flagship.py",  # 99
    # 79 at load 4-11 (a flagship run, JupyterLab, Chromium, two kernels); 195 at load 14
    "tests/frontends/test_lab_sidebar.py",
    "tests/frontends/test_lab_notebooks.py",  # 87
    "tests/hostile/test_bad_input.py",  # 60
    "tests/solution/test_notebooks.py",  # 48
    "tests/analysis/test_reproduce_envs.py",  # 45
    "tests/hostile/test_package_trust.py",  # 41
    "tests/frontends/test_cli.py",  # 38
    "tests/frontends/test_explore_lab.py",  # 36
    "tests/frontends/test_lab.py",  # 35
    "tests/runs/test_resume.py",  # 33
    "tests/runs/test_store.py",  # 31
    "tests/provision/test_install.py",  # 30
    "tests/analysis/test_reproduce_outputs.py",  # 30
    "tests/runs/test_telemetry.py",  # 27
    "tests/frontends/test_magics.py",  # 26
    # about 25 (JupyterLab, Chromium, two runs): 63 at load 13, where test_lab.py took 100
    "tests/frontends/test_run_view.py",
]


def pytest_configure(config):
    """The whole suite runs with a temporary home: Jupyter's data, runtime and config folders, IPython's
    folder, REEF_HOME and HOME itself, so no test registers a kernel or writes a file in the user's home.
    The kernels of the interpreter's prefix (python3) are still found; the download caches of uv and pip
    and pyenv's root stay where they are (read by environment tests that would otherwise need the network)."""
    root = Path(tempfile.mkdtemp(prefix="reef-tests-"))
    home = root / "home"
    home.mkdir()
    # TMPDIR of its own (kernels and subprocesses inherit it): a test leaving a reef-* entry there fails
    # (no_leaked_temporary); pytest's own tmp_path folders stay where they were.
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    (root / "tmp").mkdir()
    os.environ["TMPDIR"] = str(root / "tmp")
    tempfile.tempdir = None  # gettempdir() caches its answer: ask again
    if (REAL_HOME / ".gitconfig").is_file():  # the user's git identity, copied: tests commit to bare repositories
        shutil.copy(REAL_HOME / ".gitconfig", home / ".gitconfig")
    defaults = {
        "UV_CACHE_DIR": REAL_HOME / ".cache" / "uv",
        "PIP_CACHE_DIR": REAL_HOME / ".cache" / "pip",
        "PYENV_ROOT": REAL_HOME / ".pyenv",
        "RUSTUP_HOME": REAL_HOME / ".rustup",
        "CARGO_HOME": REAL_HOME / ".cargo",
    }  # rustup's shims find their toolchain
    for name, folder in defaults.items():
        if name not in os.environ and folder.is_dir():
            os.environ[name] = str(folder)
    os.environ.update(
        {
            "HOME": str(home),
            "REEF_HOME": str(root / "reef-home"),
            "IPYTHONDIR": str(root / "ipython"),
            "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(root / "jupyter-runtime"),
            "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "MPLCONFIGDIR": str(root / "matplotlib"),
        }
    )
    _SESSION.update(root=root, kernels=kernelspecs(REAL_KERNELS))
    # Ctrl-C as a terminal delivers it: a suite started in the background by a shell without job control
    # (`make test &` in a script) inherits SIGINT ignored, and so would every reef, kernel and worker it starts
    # (an ignored signal stays ignored across exec): the Ctrl-C tests would wait in vain.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Bytecode: where PYTHONDONTWRITEBYTECODE is set (CI's machines), every reef command, kernel and worker the
    # tests start compiled the reefnb modules it imports again (0.3 s of CPU for the core), and each test process
    # the test modules (pytest's rewritten asserts, 5 s). This process writes them (reefnb's __pycache__ and the
    # tests', git-ignored, as without the variable); the processes it starts keep the variable and only read them,
    # so none writes into a solution folder. Once per run (not in each xdist worker); up-to-date files are skipped.
    sys.dont_write_bytecode = False
    if "PYTEST_XDIST_WORKER" not in os.environ:
        compileall.compile_dir(REPO / "reefnb", quiet=1)


def pytest_collection_modifyitems(session, config, items):
    """SLOWEST_FILES first, slowest first; a file's tests stay together and in their order (a stable sort)."""
    rank = {name: index for index, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when the user's own kernelspecs changed (a test registered a kernel outside its folders)."""
    if "root" not in _SESSION:
        return
    after = kernelspecs(REAL_KERNELS)
    if after != _SESSION["kernels"]:
        changed = sorted(
            set(after) ^ set(_SESSION["kernels"])
            | {name for name in after if after[name] != _SESSION["kernels"].get(name)}
        )
        writer = session.config.get_terminal_writer()
        writer.line()
        writer.line(f"FAILED: the tests changed {REAL_KERNELS}: {', '.join(changed)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    interactive = sys.modules.get("IPython.core.interactiveshell")
    if interactive is not None and interactive.InteractiveShell.initialized():
        shell = interactive.InteractiveShell.instance()
        shell.atexit_operations()  # its history is written while IPYTHONDIR still exists, and only once
        atexit.unregister(shell.atexit_operations)
    shutil.rmtree(_SESSION.pop("root"), ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leaked_temporary():
    """Fail a test that leaves a ``reef-*`` entry in the suite's
    TMPDIR (a folder reef or a solution made and did not remove)."""
    folder = Path(tempfile.gettempdir())
    before = {path.name for path in folder.glob("reef-*")}
    yield
    left = sorted(path for path in folder.glob("reef-*") if path.name not in before)
    for path in left:  # the next test starts clean
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() else path.unlink(
            missing_ok=True
        )
    if left:
        pytest.fail(
            f"the test left {len(left)} temporary entr{'y' if len(left) == 1 else 'ies'} in {folder}: "
            f"{', '.join(p.name for p in left)}"
        )


@pytest.fixture(autouse=True)
def reef_home(tmp_path, monkeypatch):
    home = tmp_path / "reef-home"
    monkeypatch.setenv("REEF_HOME", str(home))
    return home


@pytest.fixture
def hello(tmp_path) -> Path:
    """A private copy of solutions/hello-sweep (runs/ are written inside the solution)."""
    target = tmp_path / "hello-sweep"
    shutil.copytree(HELLO, target, ignore=shutil.ignore_patterns("runs"))
    return target


@pytest.fixture
def private_jupyter(tmp_path, monkeypatch):
    """Kernelspecs that reef registers go to a private Jupyter data folder."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-data"))
