"""export / import: artifact packages (``reefnb.sharing.package``)."""

from __future__ import annotations

import argparse
from typing import TextIO

from reefnb.common.exceptions import EXIT_FAILED, EXIT_OK, ReefError
from reefnb.frontends import commands
from reefnb.frontends.arguments import name_and_path, options_from
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb


def export_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument(
        "source",
        nargs="?",
        metavar="NOTEBOOK|SOLUTION",
        help="a notebook, a solution folder or its solution.json (%%reef: the running notebook)",
    )
    export.add_argument("-o", "--output", required=True, metavar="NAME.reef.zip", help="the package file to write")
    export.add_argument(
        "--include", action="append", default=[], metavar="PATH", help="also pack this file (repeatable)"
    )
    export.add_argument(
        "--author", dest="authors", action="append", default=[], metavar="NAME", help="an author (repeatable)"
    )
    export.add_argument("--license", metavar="SPDX", help="the licence, e.g. Apache-2.0")
    export.add_argument("--paper", metavar="DOI", help="the paper's DOI")
    export.add_argument(
        "--allow-secret-in-code",
        action="store_true",
        help="export even when a notebook's code holds a secret (code is exported as written; outputs, records "
        "and parameters are scrubbed anyway)",
    )
    export.add_argument(
        "--no-files",
        dest="with_files",
        action="store_false",
        help="leave out the files the runs attached (reefnb.attach; packed under results/RUN_ID/files/ by default)",
    )
    export.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the export has warnings (files read from outside the solution, imports not installed)",
    )
    export.add_argument(
        "--external",
        action="append",
        default=[],
        type=name_and_path,
        metavar="NAME=PATH",
        help="a file outside the solution (a path parameter's value) becomes artifact NAME, not packed: its sha256 "
        "and size are recorded, the parameter names external/NAME/FILE, and whoever runs it supplies the file "
        "(--artifact NAME=PATH); repeatable",
    )


def export(args: Arguments, front: FrontEnd) -> dict:
    """The package's summary; the source defaults to the notebook the front end runs in (the magic's)."""
    source = args.source or front.running_notebook("export")
    if source is None:
        raise ReefError("reef export: give the NOTEBOOK or SOLUTION to export")
    options = options_from(commands.ExportOptions, args, source=source, external=dict(args.external))
    return commands.export(options)


def export_text(summary: dict, args: Arguments, out: TextIO) -> None:
    warnings = summary["warnings"]
    for warning in warnings:
        print(f"warning: {warning}", file=out)
    print(
        f"{summary['package']}: {summary['solution']}, {len(summary['members'])} files, {len(summary['runs'])} runs, "
        f"{len(summary['expected'])} expected results (sha256 {summary['sha256'][:12]})",
        file=out,
    )
    if warnings:
        print(f"exported with {len(warnings)} warning{'s' if len(warnings) != 1 else ''}", file=out)


EXPORT = Verb(
    "export",
    "write a notebook or solution as a shareable package (NAME.reef.zip)",
    export_arguments,
    export,
    export_text,
    exit_code=lambda summary, args: EXIT_FAILED if summary["warnings"] and args.strict else EXIT_OK,
)


def import_arguments(import_: argparse.ArgumentParser) -> None:
    import_.add_argument("package", metavar="PACKAGE.reef.zip")
    import_.add_argument(
        "-o", "--output", metavar="FOLDER", help="where to extract (default: ./NAME; must be new or empty)"
    )


IMPORT = Verb(
    "import",
    "check a package and extract it (runs nothing)",
    import_arguments,
    lambda args, front: commands.import_package(args.package, args.output),
    lambda result, args, out: print(
        f"{args.package}: verified and extracted into {result['folder']} (nothing was run)", file=out
    ),
)

VERBS = (EXPORT, IMPORT)
