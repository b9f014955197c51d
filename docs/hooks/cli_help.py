"""MkDocs hook: the CLI reference is `reef`'s own help, so the page can never disagree with the parser.

A page that contains the marker ``<!-- reef-cli-help -->`` gets, in its place, one section per verb
(and per action of verbs that have actions, such as ``reef env create``) holding that parser's
``--help`` text, formatted 100 columns wide.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- reef-cli-help -->"
WIDTH = "100"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its sub-commands only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sections(parser: argparse.ArgumentParser, name: str, level: int) -> list[str]:
    sections = [f"{'#' * level} {name}\n\n```text\n{parser.format_help().rstrip()}\n```\n"]
    for verb, subparser in _subparsers(parser).items():
        sections += _sections(subparser, f"{name} {verb}", min(level + 1, 4))
    return sections


def cli_reference() -> str:
    """Every verb's help, as Markdown sections under the top-level help."""
    from reefnb.frontends.verbs import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse reads the width when it formats
    try:
        parser = build_parser()
        top = f"```text\n{parser.format_help().rstrip()}\n```\n"
        verbs = [section for verb, sub in _subparsers(parser).items() for section in _sections(sub, f"reef {verb}", 3)]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join([top, *verbs])


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs passes them by name)
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
