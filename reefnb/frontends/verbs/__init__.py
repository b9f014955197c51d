"""reef's verbs, one table: each verb is declared once, in the module of its family, with its parser, its call to
the command layer, its text and its notebook view (``verb.Verb``). ``reef`` (``reefnb.frontends.terminal``) and
``%reef`` (``reefnb.frontends.magics``) are both built from ``VERBS``; ``build_parser()`` is the one parser.

A new verb: a ``Verb`` in the module of its family (or a new module, added to ``FAMILIES``), listed in that
module's ``VERBS``.
"""

from __future__ import annotations

import argparse

from reefnb.frontends.arguments import ReefArgumentParser, json_option
from reefnb.frontends.verbs import (
    analysis,
    declaring,
    environments,
    local,
    mlperf,
    packages,
    provisioning,
    registries,
    reproduce,
    results,
    running,
    serve,
)
from reefnb.frontends.verbs.verb import FrontEnd, Verb, wants_json

FAMILIES = (
    running,
    results,
    provisioning,
    environments,
    local,
    analysis,
    declaring,
    packages,
    reproduce,
    mlperf,
    registries,
    serve,
)
VERBS: dict[str, Verb] = {verb.name: verb for family in FAMILIES for verb in family.VERBS}


__all__ = ["VERBS", "FrontEnd", "Verb", "build_parser", "wants_json"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``reef [--version] VERB [OPTIONS]``: a sub-parser per verb of ``VERBS``, each with ``--json``."""
    parser = ReefArgumentParser(prog="reef", description="Reproducible, parameterised notebook experiments.")
    parser.add_argument("--version", action="store_true", help="print reefnb's version and exit")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=ReefArgumentParser)
    for verb in VERBS.values():
        sub = verbs.add_parser(verb.name, help=verb.help, description=verb.help)
        json_option(sub)
        verb.arguments(sub)
    return parser
