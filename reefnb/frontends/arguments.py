"""The pieces of reef's grammar the verbs share: a parser that raises ``UsageError`` instead of exiting, the
argument types (seconds, counts, NAME=PATH...) and the options several verbs take. Each verb declares its own
options in its module (``reefnb.frontends.verbs``); ``reefnb.frontends.verbs.build_parser()`` makes the one parser
``reef`` and ``%reef`` share. It imports nothing but argparse and reefnb's exceptions, so that ``reef --help`` and a
usage mistake answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from typing import Any, TypeVar

from reefnb.common.exceptions import UsageError

MAX_TIMEOUT_S = 366 * 24 * 3600  # a year: longer limits overflow the clocks they are handed to

Options = TypeVar("Options")
__all__ = ["ReefArgumentParser", "UsageError", "options_from"]


class ReefArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the magic can reuse it."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def options_from(options_class: type[Options], args: argparse.Namespace, **overrides: Any) -> Options:
    """An options dataclass of the command layer filled from parsed arguments of the same names (then ``overrides``):
    an option the parser gains reaches the command layer without a change in the front ends."""
    names = {spec.name for spec in dataclasses.fields(options_class)}
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return options_class(**(values | overrides))


# --- argument types ---


def seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds, at most MAX_TIMEOUT_S (not inf, nan, 1e400 or -1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0 and at most {MAX_TIMEOUT_S}")
    return value


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least {minimum}")
        return value

    parse.__name__ = "count"
    return parse


def scale(text: str) -> float:
    """An argparse type: a finite factor above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number above 0")
    return value


def name_and_path(text: str) -> tuple[str, str]:
    """An argparse type: ``NAME=PATH`` (an --external or --artifact value)."""
    name, equals, path = text.partition("=")
    if not (equals and name and path):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH")
    return name, path


def identity_and_key(text: str) -> tuple[str, str]:
    """An argparse type: ``ID=KEY.pub`` (a --signer value)."""
    identity, equals, key = text.partition("=")
    if not (equals and identity and key):
        raise argparse.ArgumentTypeError(f"{text!r}: expected ID=KEY.pub, e.g. alice@example.org=~/.ssh/id_ed25519.pub")
    return identity, key


# --- options several verbs take ---

TRUST_FOLDER_HELP = (
    "run a folder made from a package (reef import, init, pull, reproduce) whose trust was not recorded "
    "(README: Security model)"
)


def json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: every verb and action takes it."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def actions_of(parser: argparse.ArgumentParser, dest: str) -> argparse._SubParsersAction:
    """The sub-verbs of a verb (``reef env create``...); each takes ``--json`` too (``with_json``)."""
    return parser.add_subparsers(dest=dest, metavar="ACTION", parser_class=ReefArgumentParser, required=True)


def with_json(actions: argparse._SubParsersAction) -> None:
    for sub in actions.choices.values():
        json_option(sub)


def find_links_options(parser: argparse.ArgumentParser, when: str = "") -> None:
    """``--find-links DIR`` (repeatable) and ``--no-index``: where the installer looks for packages."""
    parser.add_argument(
        "--find-links",
        action="append",
        default=[],
        metavar="DIR",
        help=f"{when}also look for packages here (repeatable)",
    )
    parser.add_argument("--no-index", action="store_true", help=f"{when}install only from --find-links")


def parameter_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``-p NAME VALUE`` (repeatable), gathered as ``[[NAME, VALUE], ...]`` in ``parameter``."""
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help=help)


def objective_options(parser: argparse.ArgumentParser, minimise: str, maximise: str) -> None:
    """``--min METRIC...`` and ``--max METRIC...``."""
    parser.add_argument(
        "--min", dest="minimise", nargs="+", action="extend", default=[], metavar="METRIC", help=minimise
    )
    parser.add_argument(
        "--max", dest="maximise", nargs="+", action="extend", default=[], metavar="METRIC", help=maximise
    )
