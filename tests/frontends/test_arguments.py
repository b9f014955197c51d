"""The grammar the verbs share (reefnb.frontends.arguments): a parser that raises instead of exiting, the argument
types, the options several verbs take, and options dataclasses filled from parsed arguments by name."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from reefnb.common.exceptions import UsageError
from reefnb.frontends import arguments
from reefnb.frontends.arguments import (
    MAX_TIMEOUT_S,
    ReefArgumentParser,
    count,
    identity_and_key,
    name_and_path,
    options_from,
    scale,
    seconds,
)


def test_the_parser_raises_a_usage_error_instead_of_exiting():
    parser = ReefArgumentParser(prog="reef thing")
    parser.add_argument("--jobs", type=count(1))
    with pytest.raises(UsageError, match=r"^reef thing: argument --jobs: '0': give a whole number of at least 1"):
        parser.parse_args(["--jobs", "0"])
    with pytest.raises(UsageError, match="unrecognized arguments: --nope"):
        parser.parse_args(["--nope"])


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "1e400", "soon", str(MAX_TIMEOUT_S + 1)])
def test_seconds_are_finite_positive_and_at_most_a_year(text):
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(text)


def test_the_types_read_what_they_say():
    assert seconds("1.5") == 1.5 and seconds(str(MAX_TIMEOUT_S)) == MAX_TIMEOUT_S
    assert count(0)("0") == 0 and count(0).__name__ == "count"
    with pytest.raises(argparse.ArgumentTypeError, match="not a whole number"):
        count(0)("1.5")
    assert scale("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match="above 0"):
        scale("0")
    assert name_and_path("weights=/data/w.bin") == ("weights", "/data/w.bin")
    assert name_and_path("a=b=c") == ("a", "b=c")  # the first = splits
    for text in ("weights", "=path", "name="):
        with pytest.raises(argparse.ArgumentTypeError, match="expected NAME=PATH"):
            name_and_path(text)
    assert identity_and_key("alice@example.org=k.pub") == ("alice@example.org", "k.pub")
    with pytest.raises(argparse.ArgumentTypeError, match="expected ID=KEY.pub"):
        identity_and_key("alice@example.org")


def test_the_shared_options_parse_as_each_verb_reads_them():
    parser = ReefArgumentParser(prog="reef x")
    arguments.json_option(parser)
    arguments.find_links_options(parser)
    arguments.parameter_option(parser, "a parameter")
    arguments.objective_options(parser, "less", "more")
    args = parser.parse_args(
        ["--json", "--find-links", "a", "--find-links", "b", "-p", "n", "1", "--min", "x", "y", "--max", "z"]
    )
    assert args.json and args.find_links == ["a", "b"] and not args.no_index
    assert args.parameter == [["n", "1"]] and args.minimise == ["x", "y"] and args.maximise == ["z"]


def test_actions_are_required_and_each_takes_json():
    parser = ReefArgumentParser(prog="reef thing")
    actions = arguments.actions_of(parser, "thing_verb")
    actions.add_parser("list")
    arguments.with_json(actions)
    assert parser.parse_args(["list", "--json"]).json is True
    with pytest.raises(UsageError, match="required: ACTION"):
        parser.parse_args([])


@dataclass
class Options:
    solution: str | None = None
    tags: list[str] = field(default_factory=list)
    trust: bool = False


def test_options_come_from_the_arguments_of_the_same_names_then_the_overrides():
    args = argparse.Namespace(solution="s", tags=["a"], verb="x", json=True)
    assert options_from(Options, args) == Options(solution="s", tags=["a"])  # verb and json are not options
    assert options_from(Options, args, trust=True) == Options(solution="s", tags=["a"], trust=True)
