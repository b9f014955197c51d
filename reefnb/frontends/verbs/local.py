"""ls / find / activate / rm: the solutions initialised on this machine (``reefnb.provision.initialised``)."""

from __future__ import annotations

import argparse
from typing import TextIO

from reefnb.common.units import format_size
from reefnb.frontends import commands
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb

NO_SOLUTIONS = "no solutions initialised (run `reef init FOLDER`)"


def name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """A verb that takes nothing but ``--json``."""


def solution_size(entry: dict) -> str:
    return format_size(entry["environment_bytes"] + entry["solution_bytes"])


def ls_text(solutions: list[dict], args: Arguments, out: TextIO) -> None:
    if not solutions:
        print(NO_SOLUTIONS, file=out)
    for entry in solutions:
        missing = "" if entry["exists"] else "  (folder missing)"
        environment = entry["environment"] or "(native)"
        print(
            f"{entry['name']:<24} {entry['version']:<10} env {environment:<20} {solution_size(entry):>9}  "
            f"{entry['trust']:<11}  {entry['path']}{missing}",
            file=out,
        )


def ls_notebook(args: Arguments, front: FrontEnd) -> None:
    """The solutions as a table."""
    from IPython.display import display

    from reefnb.frontends.widgets import message, table_bundle

    solutions = commands.initialised_solutions()
    if not solutions:
        display(message([NO_SOLUTIONS], "info"), raw=True)
        return
    rows = [
        (
            item["name"],
            item["version"],
            item["environment"] or "(native)",
            solution_size(item),
            item["trust"],
            item["path"] + ("" if item["exists"] else "  (folder missing)"),
        )
        for item in solutions
    ]
    display(table_bundle(("name", "version", "environment", "size", "trust", "path"), rows), raw=True)


def rm_text(removed: dict, args: Arguments, out: TextIO) -> None:
    what = [f"environment {removed['environment']}"] if removed["environment"] else []
    what += [f"folder {removed['folder']}"] if removed["folder"] else []
    print(f"removed {args.name}" + (f" ({', '.join(what)})" if what else ""), file=out)


LS = Verb(
    "ls",
    "list the solutions initialised on this machine",
    no_arguments,
    lambda args, front: commands.initialised_solutions(),
    ls_text,
    notebook=ls_notebook,
)
FIND = Verb(
    "find",
    "print where an initialised solution lives",
    name_argument,
    lambda args, front: commands.find_solution(args.name),
    lambda entry, args, out: print(entry["path"], file=out),
)
ACTIVATE = Verb(
    "activate",
    "print the line that activates a solution's environment",
    name_argument,
    lambda args, front: commands.activation(args.name),
    lambda result, args, out: print(result["source"], file=out),
)
RM = Verb(
    "rm",
    "forget a solution and remove its environment (never the download cache)",
    name_argument,
    lambda args, front: commands.forget_solution(args.name),
    rm_text,
)

VERBS = (LS, FIND, ACTIVATE, RM)
