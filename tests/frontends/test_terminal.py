"""The `reef` command's front end (reefnb.frontends.terminal): a verb's text or JSON and its exit code, and what a
verb asks of a terminal: trust for code from elsewhere, a line per run as a sweep goes, no bars off a terminal."""

from __future__ import annotations

import io
import json
import sys

import pytest

from reefnb.common.exceptions import EXIT_OK, EXIT_USAGE, ReefError
from reefnb.frontends.terminal import Terminal, run_verb
from reefnb.frontends.verbs import build_parser


def parsed(*argv: str):
    return build_parser().parse_args(list(argv))


def test_a_verb_writes_its_text_or_its_json_and_says_its_exit_code(hello, tmp_path):
    out = io.StringIO()
    assert run_verb(parsed("validate", str(hello)), out) == EXIT_OK
    assert out.getvalue().startswith(f"{hello / 'solution.json'}: valid (hello-sweep@0.1.0")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "solution.json").write_text("{}")
    out = io.StringIO()
    assert run_verb(parsed("validate", str(broken), "--json"), out) == EXIT_USAGE  # invalid: a result, exit 2
    answer = json.loads(out.getvalue())
    assert answer["valid"] is False and answer["problems"]
    out = io.StringIO()
    assert run_verb(parsed("env", "list", "--json"), out) == EXIT_OK and json.loads(out.getvalue()) == []
    out = io.StringIO()
    run_verb(parsed("env", "list"), out)
    assert out.getvalue().startswith("no environments")


class Typing(io.StringIO):
    """A terminal's stdin (isatty), for the question a terminal asks."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def imported(hello, tmp_path):
    """A folder made from a package, whose trust was not recorded."""
    package, folder = tmp_path / "hello.reef.zip", tmp_path / "imported"
    assert run_verb(parsed("export", str(hello), "-o", str(package)), io.StringIO()) == EXIT_OK
    assert run_verb(parsed("import", str(package), "-o", str(folder)), io.StringIO()) == EXIT_OK
    return folder


def test_code_from_elsewhere_runs_with_trust_or_a_yes_on_a_terminal(imported, monkeypatch):
    terminal, args = Terminal(io.StringIO()), parsed("run", str(imported))
    assert terminal.trusts(parsed("run", str(imported), "--trust"), imported) is True
    assert terminal.trusts(args, imported) is False  # no terminal here: the verb then refuses it
    monkeypatch.setattr(sys, "stdin", Typing())
    questions = []
    monkeypatch.setattr("builtins.input", lambda question: questions.append(question) or "y")
    assert terminal.trusts(args, imported) is True
    assert "run its notebooks on this machine? They are code from elsewhere [y/N]" in questions[0]
    monkeypatch.setattr("builtins.input", lambda question: "n")
    with pytest.raises(ReefError, match="not trusted; nothing was run"):
        terminal.trusts(args, imported)
    assert terminal.trusts(parsed("run", str(imported), "--json"), imported) is False  # --json asks nobody


def test_a_sweep_says_each_run_as_it_ends_unless_json_is_asked_for():
    record = {"run_id": "r1", "status": "ok", "solution": {"name": "s", "version": "1"}, "workflow": "run"}
    record |= {"duration_s": 1.0, "parameters": {"n": 1}, "metrics": {}, "error": None, "notebook": {}}
    for argv, said in ((["sweep", "s"], True), (["sweep", "s", "--json"], False)):
        out = io.StringIO()
        terminal = Terminal(out)
        assert terminal.shows_progress(parsed(*argv)) is False  # stderr is no terminal here: no bar
        with terminal.watching_sweep(parsed(*argv), "sweep s") as watch:
            watch.on_record(record)
        assert ("r1" in out.getvalue()) is said
    assert Terminal(io.StringIO()).download_progress(parsed("init", "s")) is None
