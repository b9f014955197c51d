"""reef reproduce across environments, and reef init PACKAGE: real virtual environments with hand-made
wheels (reef-probe-pkg 1.0.0 and 2.0.0 give different answers), real kernels, real packages."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from contextlib import contextmanager

import nbformat
import pytest
from helpers.cli import call
from helpers.solutions import write_solution
from helpers.wheels import make_wheel

import reefnb
from reefnb.analysis.reproduce import reproduce
from reefnb.kernel.recording import decode_value
from reefnb.provision.detection import environment_packages
from reefnb.provision.envs import get_environment, list_environments
from reefnb.provision.install import locked_distributions
from reefnb.provision.kernels import native_kernel, solution_kernel
from reefnb.runs.store import default_store
from reefnb.sharing.package import export_package

PROBE_CODE = (
    "import reef_probe_pkg, reefnb\nreefnb.record('answer', "
    "reef_probe_pkg.answer())\nreefnb.record('probe_version', reef_probe_pkg.VERSION)"
)


@contextmanager
def author_home(root):
    """The author's own REEF_HOME and Jupyter folders under ``root``, for a fixture the module's tests share
    (each test has a home of its own, so what they make is not the author's)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("JUPYTER_DATA_DIR", "JUPYTER_PATH"):
            patch.setenv(name, str(root / "jupyter-data"))
        patch.setenv("REEF_HOME", str(root / "reef-home"))
        yield


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """Two versions of one package whose answer depends on the version (the author had only the first)."""
    root = tmp_path_factory.mktemp("probe")
    for folder, versions in (("old", (("1.0.0", 42),)), ("wheels", (("1.0.0", 42), ("2.0.0", 43)))):
        for version, answer in versions:
            make_wheel(
                root / folder, "reef-probe-pkg", version, f"VERSION = '{version}'\ndef answer():\n    return {answer}\n"
            )
    return root / "wheels"


@pytest.fixture(scope="module")
def package(wheels):
    """The author's side, once for the module: a solution needing
    reef-probe-pkg, initialised with 1.0.0, run once, exported."""
    root = wheels.parent
    with author_home(root):
        folder = write_solution(
            root / "author" / "probe",
            {
                "name": "probe",
                "version": "1.0.0",
                "requires": {"packages": ["reef-probe-pkg>=1"]},
                "workflows": {"run": {"notebook": "main.ipynb"}},
            },
            "x = 1",
            PROBE_CODE,
        )
        code, out, err = call("init", str(folder), "--find-links", str(root / "old"), "--env", "author")
        assert code == 0, err
        record = reefnb.run(folder)
        assert record["status"] == "ok" and record["metrics"]["answer"]["value"] == 42
        return export_package(folder, root / "probe.reef.zip")["package"]


pytestmark = pytest.mark.usefixtures("private_jupyter")


def test_round_trip_in_a_new_environment_pins_the_locked_versions(tmp_path, wheels, package):
    # Both versions are on offer: only the lock's pin makes the new environment take 1.0.0.
    code, out, err = call(
        "reproduce",
        str(package),
        "--trust",
        "--env",
        "new",
        "--find-links",
        str(wheels),
        "--folder",
        str(tmp_path / "evaluator"),
        "--report",
        str(tmp_path / "report.html"),
    )
    assert code == 0, out + err
    assert "answer: reproduced" in out and "REPRODUCED" in out
    assert environment_packages(get_environment("probe-reproduce").python, refresh=True)["reef-probe-pkg"] == "1.0.0"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "reproduced" and "Results Reproduced" in report["badges"]
    page = (tmp_path / "report.html").read_text()
    assert "<!doctype html>" in page and "Results Reproduced" in page and "answer" in page and "REPRODUCED" in page


def test_a_different_package_version_fails_with_the_difference_beside_it(tmp_path, wheels, package):
    assert call("env", "create", "newer", "reef-probe-pkg==2.0.0", "--find-links", str(wheels))[0] == 0
    code, out, err = call(
        "reproduce", str(package), "--trust", "--env", "newer", "--folder", str(tmp_path / "evaluator")
    )
    assert code == 1, out + err
    assert "answer: not reproduced (expected 42, got 43" in out
    assert "environment packages differs: reef-probe-pkg 1.0.0 -> 2.0.0" in out
    folder = tmp_path / "evaluator"
    report = json.loads((folder / "reproduce-report.json").read_text())
    [experiment] = report["experiments"]
    assert experiment["metrics"]["answer"]["verdict"] == "not reproduced"
    assert experiment["environment_differences"]["packages"]["reef-probe-pkg"] == ["1.0.0", "2.0.0"]
    assert report["badges"] == ["Artifacts Evaluated - Functional"]
    page = (folder / "reproduce-report.html").read_text()
    assert "not reproduced" in page and "packages reef-probe-pkg</td><td>1.0.0</td><td>2.0.0" in page


def test_unknown_environment_is_a_clear_error(tmp_path, package):
    code, _, err = call(
        "reproduce", str(package), "--trust", "--env", "nowhere", "--folder", str(tmp_path / "evaluator")
    )
    assert code == 2 and "nowhere" in err and len(err.strip().splitlines()) == 1


def test_init_a_package_imports_it_once_into_reef_home(tmp_path, wheels, package, reef_home):
    code, out, err = call("init", str(package), "--find-links", str(wheels), "--env", "author")
    assert code == 0, err
    target = reef_home / "solutions" / "probe-1.0.0"
    assert (target / "solution.json").is_file() and "ready: probe" in out
    assert "need ==1.0.0" in out  # pinned to the package's lock
    assert call("find", "probe")[1].strip() == str(target.resolve())
    assert call("init", str(package), "--env", "author", "--no-index")[0] == 0  # the same package again: reused

    # Another package of the same name and version is refused, and the folder left as it was.
    other = tmp_path / "other.reef.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(other, "w") as copy:
        for info in source.infolist():
            data = source.read(info)
            copy.writestr(info, data + b"\n" if info.filename == "SHA256SUMS" else data)
    before = sorted(path.name for path in target.iterdir())
    code, _, err = call("init", str(other), "--env", "author")
    assert code == 2 and "holds another package of probe@1.0.0" in err
    assert sorted(path.name for path in target.iterdir()) == before


def test_init_a_package_runs_none_of_its_code_without_trust(tmp_path, reef_home):
    folder = write_solution(
        tmp_path / "gen",
        {
            "name": "gen",
            "version": "0.1.0",
            "workflows": {"run": {"notebook": "main.ipynb"}},
            "artifacts": {"labels": {"kind": "other", "generate": "reef_gen_pkg:labels"}},
        },
        "x = 1",
    )
    marker = tmp_path / "ran"
    (folder / "reef_gen_pkg.py").write_text(
        f"from pathlib import Path\ndef labels(target):\n    Path({str(marker)!r}).write_text('ran')\n    "
        "(Path(target) / 'l.txt').write_text('a')\n"
    )
    package = export_package(folder, tmp_path / "gen.reef.zip", include=[str(folder / "reef_gen_pkg.py")])["package"]
    code, _, err = call("init", str(package), "--native")
    assert code == 2 and "made by the package's own code (reef_gen_pkg:labels)" in err and "--trust" in err
    assert not marker.exists()
    code, _, err = call("init", str(package), "--native", "--trust")
    assert code == 0, err
    assert marker.read_text() == "ran"


# --- the environment as recorded: --env new installs the whole lock, --env native keeps the notebook's kernel ---

HELPER_CODE = "import reef_needs_helper, reefnb\nreefnb.record('answer', reef_needs_helper.answer())"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The author's side, once for the module: reef-needs-helper imports reef-helper-dep at run time without declaring
    it (nothing but the author's environment holds it); the solution declares only reef-needs-helper, is initialised
    in that environment (its lock records both), run once and exported. The evaluator's wheels hold both
    reef-helper-dep 1.0.0 (the author's) and 2.0.0 (another answer)."""
    root = tmp_path_factory.mktemp("recorded")
    for folder, versions in (("author-wheels", ((21,),)), ("wheels", ((21,), (50,)))):
        make_wheel(
            root / folder,
            "reef-needs-helper",
            "1.0.0",
            "import reef_helper_dep\ndef answer():\n    return 2 * reef_helper_dep.VALUE\n",
        )
        for index, (value,) in enumerate(versions):
            make_wheel(root / folder, "reef-helper-dep", f"{index + 1}.0.0", f"VALUE = {value}\n")
    with author_home(root):
        folder = write_solution(
            root / "author" / "helped",
            {
                "name": "helped",
                "version": "1.0.0",
                "requires": {"packages": ["reef-needs-helper>=1"]},
                "workflows": {"run": {"notebook": "main.ipynb"}},
            },
            "x = 1",
            HELPER_CODE,
        )
        links = ["--find-links", str(root / "author-wheels")]
        assert call("env", "create", "author", "reef-needs-helper==1.0.0", "reef-helper-dep==1.0.0", *links)[0] == 0
        code, out, err = call("init", str(folder), "--env", "author", *links)
        assert code == 0, out + err
        record = reefnb.run(folder)
        assert record["status"] == "ok" and record["metrics"]["answer"]["value"] == 42, record.get("error")
        package = export_package(folder, root / "helped.reef.zip")["package"]
    lock = json.loads(zipfile.ZipFile(package).read("reef.lock.json"))
    assert lock["environment"]["kind"] == "env" and lock["packages"]["reef-helper-dep"] == "1.0.0"
    assert (
        "reef-helper-dep==1.0.0" not in lock["hashes"] and lock["hashes"]["reef-needs-helper==1.0.0"]
    )  # hashed: the declared package only
    return {"package": package, "wheels": root / "wheels", "lock": lock}


def test_a_new_environment_is_the_recorded_one_and_a_locked_wheel_for_another_platform_is_named(tmp_path, recorded):
    # Only the lock's reef-helper-dep 1.0.0 makes the answer 42;
    # the declared packages alone miss it (ModuleNotFoundError).
    evaluator = tmp_path / "evaluator"
    links = ["--find-links", str(recorded["wheels"])]
    code, out, err = call(
        "reproduce", str(recorded["package"]), "--trust", "--env", "new", *links, "--folder", str(evaluator)
    )
    assert code == 0, out + err
    environment = get_environment("helped-reproduce")
    installed = environment_packages(environment.python, refresh=True)
    locked = {name: version for name, version in recorded["lock"]["packages"].items() if name != "reefnb"}
    assert {
        name: installed.get(name) for name in locked
    } == locked  # every locked distribution, at its version (ipykernel's too)
    report = json.loads((evaluator / "reproduce-report.json").read_text())
    assert [experiment["metrics"]["answer"]["got"] for experiment in report["experiments"]] == [42]

    # A wheel the lock names that exists only for another platform: one line naming it, and no environment left.
    windows = tmp_path / "windows"
    wheel = make_wheel(windows, "reef-windows-only", "1.0.0", "")
    wheel.rename(windows / wheel.name.replace("-any.whl", "-win_amd64.whl"))
    lock = json.loads((evaluator / "reef.lock.json").read_text())
    lock["packages"]["reef-windows-only"] = "1.0.0"
    (evaluator / "reef.lock.json").write_text(json.dumps(lock))
    code, out, err = call("reproduce", str(evaluator), "--trust", "--env", "new", *links, "--find-links", str(windows))
    assert code == 3, out + err  # cannot be installed here: an environment failure
    assert len(err.strip().splitlines()) == 1, err
    assert "reef.lock.json: /packages/reef-windows-only: reef-windows-only==1.0.0 cannot be installed here" in err, err
    assert "helped-reproduce" not in [item.name for item in list_environments()]


def test_a_lock_whose_names_an_installer_would_read_as_options_is_refused(tmp_path):
    with pytest.raises(
        reefnb.ReefError, match=r"lock.json: /packages/--index-url=http:~1~1x: .* is not a distribution name"
    ):
        locked_distributions({"packages": {"--index-url=http://x": "1.0"}}, "lock.json")
    with pytest.raises(reefnb.ReefError, match=r"lock.json: /packages/six: '1.0 --hash=x' is not a version"):
        locked_distributions({"packages": {"six": "1.0 --hash=x"}}, "lock.json")
    assert locked_distributions({"packages": {"Six": "1.16.0", "reefnb": "0.1.0"}}, "lock.json") == {"six": "1.16.0"}


def language_notebook(path, name: str, display_name: str, language: str, *cells: str):
    """A notebook whose metadata names kernel ``name`` of ``language`` (language_info too, as Jupyter writes it)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": name, "display_name": display_name, "language": language}
    notebook.metadata["language_info"] = {"name": language}
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def language_solution(folder, name: str, display_name: str, language: str, *cells: str):
    language_notebook(folder / "main.ipynb", name, display_name, language, *cells)
    (folder / "solution.json").write_text(
        json.dumps({"name": folder.name, "version": "0.1.0", "workflows": {"run": {"notebook": "main.ipynb"}}})
    )
    return folder


def test_native_refuses_a_notebook_whose_kernel_is_missing_in_one_line(tmp_path):
    folder = language_solution(tmp_path / "shell", "bash", "Bash", "bash", "echo hello")
    code, out, err = call("reproduce", str(folder), "--env", "native")
    assert code == 2 and not out, out + err
    assert err.strip() == (
        f"reef: error: {folder / 'main.ipynb'}: /metadata/kernelspec: the notebook's kernel 'bash' (Bash, "
        "language bash) is not installed here, "
        "and a notebook runs only on a kernel of its language; install the 'bash' kernel: pip install "
        "bash_kernel && python -m bash_kernel.install"
    )
    assert not (folder / "runs").exists()  # nothing ran
    # A reef environment runs Python: refused before anything is installed.
    code, out, err = call("reproduce", str(folder), "--env", "new")
    assert (
        code == 2
        and "a bash notebook cannot run in a reef environment (--env new: its kernel runs Python)" in err
        and "--env native" in err
    )
    assert not list_environments()
    # A language without a known kernel gets the generic hint; reef run says the same.
    language_notebook(folder / "main.ipynb", "cobol-9", "COBOL", "cobol", "DISPLAY 'HI'.")
    code, out, err = call("reproduce", str(folder), "--env", "native")
    assert code == 2 and "kernel 'cobol-9' (COBOL, language cobol)" in err and "`jupyter kernelspec list`" in err


def install_kernel(folder, name: str, language: str) -> None:
    """A kernelspec ``name`` of ``language`` in ``folder`` (on JUPYTER_PATH)
    that runs this python's ipykernel with REEF_FAKE_KERNEL set."""
    (folder / "kernels" / name).mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": name, "language": language, "env": {"REEF_FAKE_KERNEL": name}}
    (folder / "kernels" / name / "kernel.json").write_text(json.dumps(spec))


def test_native_runs_a_notebook_on_the_kernel_it_names(tmp_path):
    install_kernel(tmp_path / "jupyter-data", "reef-fake-lang", "fakelang")
    folder = language_solution(
        tmp_path / "fake",
        "reef-fake-lang",
        "Fake",
        "fakelang",
        "import os, reefnb\nreefnb.record('kernel', os.environ.get('REEF_FAKE_KERNEL', 'python3'))",
    )
    report = reproduce(folder, environment="native")
    [experiment] = report["experiments"]
    record = default_store().get(experiment["run_id"])
    assert record["status"] == "ok" and record["environment"]["kernel"] == "reef-fake-lang"
    assert (
        decode_value(record["metrics"]["kernel"]) == "reef-fake-lang"
    )  # the kernel that ran it is the one the notebook names


def test_native_kernel_choice_without_running(tmp_path, hello):
    from reefnb.solution.manifest import load_solution

    python = language_notebook(tmp_path / "python.ipynb", "conda-env-elsewhere-py", "Python (elsewhere)", "python")
    assert native_kernel(python) == "python3"  # a Python notebook runs on this python, whichever kernel it names
    install_kernel(tmp_path / "jupyter-data", "julia-1.11", "julia")
    julia = language_notebook(tmp_path / "julia.ipynb", "julia-1.9", "Julia 1.9.0", "julia")
    assert native_kernel(julia) == "julia-1.11"  # the only installed kernel of its language
    install_kernel(tmp_path / "jupyter-data", "julia-1.12", "julia")
    with pytest.raises(
        reefnb.ReefError,
        match=r"kernel 'julia-1.9' \(Julia 1.9.0, language julia\) .* several julia kernels are \(julia-1.11, "
        r"julia-1.12\)",
    ):
        native_kernel(julia)
    (tmp_path / "jupyter-data" / "kernels" / "julia-1.12").rename(tmp_path / "gone")
    (tmp_path / "jupyter-data" / "kernels" / "julia-1.11").rename(tmp_path / "gone-too")
    with pytest.raises(reefnb.ReefError, match=r"install IJulia: julia -e 'using Pkg; Pkg.add\(\"IJulia\"\)'$"):
        native_kernel(julia)
    # Workflows in two languages: --env native runs one kernel, so it says which two differ.
    (tmp_path / "gone-too").rename(tmp_path / "jupyter-data" / "kernels" / "julia-1.11")
    shutil.copy(julia, hello / "julia.ipynb")
    manifest = json.loads((hello / "solution.json").read_text())
    manifest["workflows"]["validate"] = {"notebook": "julia.ipynb"}
    (hello / "solution.json").write_text(json.dumps(manifest))
    mixed = (
        r"solution.json: /workflows: workflow 'benchmark' runs on kernel 'python3' and 'validate' on 'julia-1.11', "
        r"and --env native runs one"
    )
    with pytest.raises(reefnb.ReefError, match=mixed):
        solution_kernel(load_solution(hello))


def test_reef_run_keeps_the_notebook_kernel_when_the_lock_names_a_python_one(tmp_path):
    folder = language_solution(tmp_path / "shell", "bash", "Bash", "bash", "echo hello")
    lock = {"lock_version": 1, "environment": {"kind": "env", "name": "shell", "kernel": "python3"}, "packages": {}}
    (folder / "reef.lock.json").write_text(json.dumps(lock))
    code, out, err = call("run", str(folder))
    assert (
        code == 2
        and "kernel 'bash' (Bash, language bash) is not installed here" in err
        and "pip install bash_kernel" in err
    ), out + err
