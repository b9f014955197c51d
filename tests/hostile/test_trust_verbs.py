"""A package runs through no verb without --trust (issue 29, item 2).

The attacker ships a package whose notebook and action module write a file when they run. The user
only looks at it: ``reef import PACKAGE -o DIR``, or ``reef init PACKAGE`` (no --trust: it lands in
``$REEF_HOME/solutions``), or a symbolic link to either. Every verb that runs a solution's code (run,
sweep, benchmark, reproduce of a folder, serve, ``reefnb.use``, the JupyterLab panel's run) then refuses
the folder with one line naming it and ``--trust``, exit 2, before any kernel starts or any module is
imported; with ``--trust`` (or the trust recorded once by ``reef init FOLDER --trust``, which ``reef ls``
shows) it gets past the gate. The package cannot carry the origin marker that reef writes itself. One
positive run on a real kernel shows the attack would run, so the test catches a regression.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from helpers.cli import call
from helpers.packages import write_package
from helpers.solutions import write_notebook

from reefnb.common.exceptions import ReefError

FOLDERS = ["imported", "initialised", "link-to-imported", "link-to-initialised"]


def make_package(path: Path, owned: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A package as an attacker writes it by hand: its notebook and its action module write ``owned`` when they run."""
    scratch = path.parent / ".evil-notebook"
    notebook = write_notebook(
        scratch / "main.ipynb", "x = 1", f"import pathlib; pathlib.Path({str(owned)!r}).write_text('notebook ran')"
    )
    manifest = {
        "name": "evil",
        "version": "0.1.0",
        "workflows": {
            "run": {"notebook": "main.ipynb"},
            "benchmark": {"notebook": "main.ipynb", "sweep": {"x": [1, 2]}},
        },
        "api": {"actions": {"hello": {"entry": "actions:hello"}}},
    }
    members = {
        "solution.json": json.dumps(manifest).encode(),
        "main.ipynb": notebook.read_bytes(),
        "actions.py": (
            f"import pathlib\npathlib.Path({str(owned)!r}).write_text('actions imported')\n\n\n"
            "def hello():\n    return {}\n"
        ).encode(),
        "reef.lock.json": json.dumps({"lock_version": 1, "packages": {}}).encode(),
        **(extra or {}),
    }
    return write_package(path, members)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """The package, the folders the user made from it without trusting it, and links to them (made once)."""
    root = tmp_path_factory.mktemp("trust-verbs")
    owned = root / "owned"
    package = make_package(root / "evil.reef.zip", owned)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REEF_HOME", str(root / "home"))
        assert call("import", str(package), "-o", str(root / "imported"))[0] == 0
        code, out, err = call("init", str(package), "--native")  # no --trust: imported into $REEF_HOME/solutions
        assert code == 0, out + err
    folders = {"imported": root / "imported", "initialised": root / "home" / "solutions" / "evil-0.1.0"}
    for name in ("imported", "initialised"):
        (root / f"link-to-{name}").symlink_to(folders[name], target_is_directory=True)
        folders[f"link-to-{name}"] = root / f"link-to-{name}"
    assert not owned.exists()
    return {"root": root, "owned": owned, "package": package, "folders": folders}


def assert_refused(made: dict, folder: Path, code: int, out: str, err: str) -> None:
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert str(folder.resolve()) in err and "--trust" in err and "reef init" in err, err
    assert not made["owned"].exists(), "the package's code ran"


@pytest.mark.parametrize("kind", FOLDERS)
@pytest.mark.parametrize(
    "verb",
    [
        ["run"],
        ["sweep", "-p", "x", "1", "2"],
        ["benchmark"],
        ["reproduce"],
        ["run", "{folder}/main.ipynb"],
        ["run", "{folder}/solution.json"],
    ],
    ids=["run", "sweep", "benchmark", "reproduce", "run-notebook", "run-manifest"],
)
def test_a_verb_refuses_a_package_folder_without_trust(made, kind, verb):
    folder = made["folders"][kind]
    arguments = (
        [verb[0], str(folder)]
        if len(verb) == 1 or not verb[1].startswith("{")
        else [verb[0], verb[1].format(folder=folder)]
    )
    arguments += [word for word in verb[1:] if not word.startswith("{")]
    code, out, err = call(*arguments)
    assert_refused(made, folder, code, out, err)


def test_a_folder_of_ones_own_that_runs_a_package_notebook_is_refused(made, tmp_path):
    """The user's own solution whose workflow notebook lies in a package folder inside it runs that package's code."""
    own = tmp_path / "own"
    assert call("import", str(made["package"]), "-o", str(own / "vendor"))[0] == 0
    (own / "solution.json").write_text(
        json.dumps({"name": "own", "version": "0.1.0", "workflows": {"run": {"notebook": "vendor/main.ipynb"}}})
    )
    assert_refused(made, own / "vendor", *call("run", str(own)))


@pytest.mark.parametrize("kind", FOLDERS)
def test_serve_and_use_refuse_a_package_folder_without_trust(made, kind, monkeypatch):
    import reefnb
    from reefnb.frontends import serve

    real_serve = serve.serve

    def serve_once(source, options, on_ready):  # a server that did start is the attack: stop it at once
        def started(info):
            raise AssertionError(f"served {info['solution']} without --trust")

        return real_serve(source, options, started)

    monkeypatch.setattr(serve, "serve", serve_once)  # `reef serve` imports it when it runs
    folder = made["folders"][kind]
    code, out, err = call("serve", str(folder), "--port", "0")
    assert_refused(made, folder, code, out, err)
    with pytest.raises(ReefError, match="--trust") as refused:
        reefnb.use(folder)
    assert str(folder.resolve()) in str(refused.value) and not made["owned"].exists()


@pytest.mark.parametrize("kind", FOLDERS)
def test_the_jupyterlab_panel_refuses_to_run_a_package_folder(made, kind):
    from reefnb.frontends import server

    root, folder = made["root"], made["folders"][kind]
    target = server.resolve_target(root, f"{folder.relative_to(root)}/main.ipynb")
    with pytest.raises(ReefError, match="--trust") as refused:
        server.run_workflow(root, target, {"parameters": {}})
    assert str(folder.resolve()) in str(refused.value) and not made["owned"].exists()


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "-w", "nosuch"],
        ["sweep", "-w", "nosuch"],
        ["benchmark", "--env", "reef-no-such-environment"],
        ["reproduce", "-w", "nosuch"],
    ],
    ids=["run", "sweep", "benchmark", "reproduce"],
)
def test_trust_gets_past_the_gate(made, arguments):
    """With --trust the verb goes on to its own checks (each fails here before any kernel starts)."""
    folder = made["folders"]["link-to-imported"]
    code, out, err = call(arguments[0], str(folder), *arguments[1:], "--trust")
    assert code == 2 and "--trust" not in err and ("nosuch" in err or "reef-no-such-environment" in err), out + err
    assert not made["owned"].exists()


def test_ctrl_d_at_the_prompt_on_a_terminal_is_no(made, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(""))  # the user presses Ctrl-D
    folder = made["folders"]["imported"]
    code, out, err = call("run", str(folder))
    assert code == 2 and f"{folder.resolve()}: not trusted; nothing was run" in err, out + err
    assert (
        f"{folder.resolve()}: run its notebooks on this machine? They are code from elsewhere [y/N]"
        in capsys.readouterr().out
    )  # input()'s prompt
    assert not made["owned"].exists()


def test_a_package_cannot_carry_the_origin_marker(made, tmp_path):
    """reef writes .reef-origin.json itself; a package holding one (saying it is trusted) is refused, at any depth."""
    forged = json.dumps({"origin": "package", "trusted": {"at": "2020-01-01T00:00:00+00:00"}}).encode()
    for member in (".reef-origin.json", "sub/.reef-origin.json", ".REEF-ORIGIN.JSON"):
        package = make_package(tmp_path / "forged.reef.zip", made["owned"], {member: forged})
        code, out, err = call("import", str(package), "-o", str(tmp_path / "into"))
        assert code == 2 and len(err.strip().splitlines()) == 1 and f"member '{member}'" in err, out + err
        assert not (tmp_path / "into").exists()


def test_trust_recorded_once_at_init_is_shown_by_ls_and_taken_by_run(made, tmp_path):
    """The one positive run: `reef init DIR --trust` records the decision, `reef ls` shows it, and `reef run` of a
    link to the folder then runs the package's notebook without --trust (the attack really runs)."""
    folder, link = tmp_path / "mine", tmp_path / "link"
    assert call("import", str(made["package"]), "-o", str(folder))[0] == 0
    link.symlink_to(folder, target_is_directory=True)
    assert call("init", str(folder), "--native")[0] == 0  # no --trust: initialised, still not trusted
    code, out, _ = call("ls", "--json")
    assert [(entry["path"], entry["trust"]) for entry in json.loads(out)] == [(str(folder.resolve()), "not trusted")]
    assert call("run", str(link))[0] == 2

    code, out, err = call("init", str(link), "--native", "--trust")
    assert code == 0, out + err
    [entry] = json.loads(call("ls", "--json")[1])
    assert entry["trust"] == "trusted" and entry["trusted_at"]
    assert "trusted" in call("ls")[1]
    try:
        code, out, err = call("run", str(link))
        assert code == 0, out + err
        assert made["owned"].read_text() == "notebook ran"
    finally:
        made["owned"].unlink(missing_ok=True)
