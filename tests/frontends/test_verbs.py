"""The verb table (reefnb.frontends.verbs): each verb declared once, and both front ends built from it. Every verb of
`reef --help` answers `%reef VERB --help`, and every verb makes a real call in both front ends (the `reef` command and
the `%reef` magic) that ends the same way: the same words, or the same error."""

from __future__ import annotations

import argparse
import io
import re

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from reefnb.frontends import verbs
from reefnb.frontends.cli import main
from reefnb.frontends.magics import Notebook
from reefnb.frontends.terminal import Terminal
from reefnb.frontends.verbs import VERBS, build_parser

SHA = "0" * 64
NO_SOLUTION = "no initialised solution 'nope'"
NO_REGISTRY = "no registry added"
# verb -> (its arguments, words both front ends show); {hello}: a copy of hello-sweep, {place}: a folder per front end
CALLS = {
    "validate": ("validate {hello}", "valid (hello-sweep@0.1.0"),
    "run": ("run {hello} -p samples 10", "hello-sweep@0.1.0"),
    "sweep": ("sweep {hello} -p samples 10 --jobs 1", "1 ok, 0 not ok"),
    "benchmark": ("benchmark {place}/nope", "no such solution folder"),
    "params": ("params {hello}", "random points to draw"),
    "results": ("results", "no runs recorded"),
    "detect": ("detect", "CPU:"),
    "init": ("init {hello} --native --dry-run", "numpy"),
    "env": ("env list", "no environments"),
    "ls": ("ls", "no solutions initialised"),
    "find": ("find nope", NO_SOLUTION),
    "activate": ("activate nope", NO_SOLUTION),
    "rm": ("rm nope", NO_SOLUTION),
    "require": ("require numpy --notebook {hello}/main.ipynb", "numpy"),
    "tool": ("tool git --notebook {hello}/main.ipynb", "git"),
    "artifact": (f"artifact data file:///nowhere --sha256 {SHA} --notebook {{hello}}/main.ipynb", "data"),
    "pareto": ("pareto --min time_ms", "no ok runs recorded"),
    "dashboard": ("dashboard -o {place}/dashboard.html", "no runs recorded"),
    "export": ("export {hello} -o {place}/hello.reef.zip", "hello-sweep@0.1.0"),
    "import": ("import {place}/nope.reef.zip", "no such package"),
    "reproduce": ("reproduce {place}/nope", "no such solution folder"),
    "mlperf": ("mlperf submission {hello} -o {place}/tree --submitter x", "declares no MLPerf benchmark"),
    "registry": ("registry list", "no registries"),
    "publish": ("publish {place}/nope.reef.zip", "not a package file"),
    "search": ("search", NO_REGISTRY),
    "pull": ("pull x", NO_REGISTRY),
    "serve": ("serve {place}/nope", "no such solution folder"),
}


@pytest.fixture(scope="module")
def shell():
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "reefnb")
    yield ipython
    ipython.run_line_magic("unload_ext", "reefnb")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def test_each_verb_is_declared_once_and_the_parser_is_the_table():
    declared = [verb.name for family in verbs.FAMILIES for verb in family.VERBS]
    assert len(declared) == len(set(declared)) == len(VERBS), "a verb declared twice"
    assert list(subcommands(build_parser())) == declared == list(VERBS)
    assert set(CALLS) == set(VERBS), "a verb without its call in CALLS: add one (a cheap real call)"


@pytest.mark.parametrize("name", list(VERBS))
def test_every_verb_of_reef_help_answers_reef_verb_help_in_the_magic(name, shell, capsys):
    assert re.search(rf"^ +{name}\b", build_parser().format_help(), re.MULTILINE)  # listed in `reef --help`
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    terminal = capsys.readouterr().out
    assert exited.value.code == 0 and terminal.startswith(f"usage: reef {name}")
    assert shell.run_line_magic("reef", f"{name} --help") is None  # printed, and the kernel did not exit
    assert capsys.readouterr().out == terminal


@pytest.mark.parametrize("name", list(VERBS))
def test_every_verb_works_in_both_front_ends(name, shell, hello, tmp_path):
    """One real call through each front end, built from the table: the terminal prints its text (or one error
    line), the magic shows its view (or a red message); both say the same thing."""
    line, words = CALLS[name]
    outputs = {}
    for front in ("terminal", "notebook"):
        place = tmp_path / front
        place.mkdir()
        argv = line.format(hello=hello, place=place)
        if front == "terminal":
            out, err = io.StringIO(), io.StringIO()
            main(argv.split(), out=out, err=err)
            outputs[front] = out.getvalue() + err.getvalue()
        else:
            with capture_output() as captured:
                value = shell.run_line_magic("reef", argv)
            shown = [output.data.get("text/plain", "") for output in captured.outputs]
            outputs[front] = "\n".join([captured.stdout, *shown, shown_by(value)])
    assert words in outputs["terminal"], outputs["terminal"]
    assert words in outputs["notebook"], outputs["notebook"]


def shown_by(value) -> str:
    """What a value the magic returns shows: a frame's text, a widget's words."""
    if value is None:
        return ""
    text = getattr(value, "text", None)  # the dependency panel says its plan as text
    if callable(text):
        return text()
    if hasattr(value, "schema"):  # the parameters form
        return str(value.schema)
    return value.to_string() if hasattr(value, "to_string") else repr(value)


def test_the_front_ends_answer_what_a_verb_asks():
    """Only the `reef` process runs a verb as its whole process; the magic's kernel runs other things too."""
    assert Terminal(io.StringIO()).exclusive_process is True
    assert Notebook().exclusive_process is False
    args = build_parser().parse_args(["run", "x", "--json"])
    assert Terminal(io.StringIO()).shows_progress(args) is False  # --json: no bar
    assert Terminal(io.StringIO()).running_notebook("export") is None  # the magic's is the running notebook


def test_with_json_the_magic_returns_the_data_and_shows_nothing(shell, hello):
    """`%reef VERB --json` is the verb's JSON as Python data: no widget, no text (the sweep runs all the same)."""
    with capture_output() as captured:
        records = shell.run_line_magic("reef", f"sweep {hello} -p samples 10 20 --jobs 1 --json")
    assert [record["parameters"]["samples"] for record in records] == [10, 20]
    assert {record["status"] for record in records} == {"ok"}
    assert captured.outputs == [] and captured.stdout == ""
    assert shell.run_line_magic("reef", f"validate {hello} --json") == {
        "valid": True,
        "problems": [],
        "name": "hello-sweep",
        "version": "0.1.0",
    }
