"""reproduce: rerun a package's expected experiments and judge them (``reefnb.analysis.reproduce``)."""

from __future__ import annotations

import argparse
from typing import TextIO

from reefnb.common.exceptions import EXIT_FAILED, EXIT_OK
from reefnb.frontends import commands
from reefnb.frontends.arguments import find_links_options, name_and_path, options_from, scale
from reefnb.frontends.provision_text import plan_lines
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb


def reproduce_arguments(reproduce: argparse.ArgumentParser) -> None:
    reproduce.add_argument(
        "source", metavar="PACKAGE|SOLUTION", help="a .reef.zip package, a solution folder or its solution.json"
    )
    reproduce.add_argument("-w", "--workflow", help="only the expectations of this workflow")
    reproduce.add_argument(
        "--tolerance-scale", type=scale, default=1.0, metavar="X", help="multiply every tolerance by X (default: 1)"
    )
    reproduce.add_argument(
        "--folder",
        metavar="FOLDER",
        help="import a package here (default: a new folder under $REEF_HOME/reproductions)",
    )
    reproduce.add_argument("--trust", action="store_true", help="run a package's notebooks without asking")
    reproduce.add_argument(
        "--report",
        metavar="FILE.html|json",
        help="write the HTML and JSON reports here, one beside the other (default: reproduce-report.* in the "
        "solution folder)",
    )
    reproduce.add_argument(
        "--env",
        dest="environment",
        metavar="new|native|NAME",
        help="where to run: new (a fresh environment with the package's whole lock, hash-checked; the default for "
        "a package), native (this machine, nothing installed: a Python notebook on this python, another language "
        "on its own kernel) or an existing reef environment",
    )
    find_links_options(reproduce, when="--env new: ")
    reproduce.add_argument(
        "--profile",
        metavar="NAME",
        help="only this profile's experiments, e.g. smoke (the kick-the-tires path) or full",
    )
    reproduce.add_argument(
        "--artifact",
        dest="artifacts",
        action="append",
        default=[],
        type=name_and_path,
        metavar="NAME=PATH",
        help="your copy of an artifact the package does not ship (see reef export --external), verified by its "
        "sha256; repeatable",
    )


def reproduce(args: Arguments, front: FrontEnd) -> dict:
    """The report; each plan is said before anything is installed."""
    trust = front.trusts(args, args.source, packages=True)
    options = options_from(commands.ReproduceOptions, args, trust=trust, artifacts=dict(args.artifacts))
    return commands.reproduce(options, on_plan=lambda plan: front.tell(args, plan_lines(plan)))


def reproduce_text(report: dict, args: Arguments, out: TextIO) -> None:
    from reefnb.frontends.reproduce_text import report_lines  # with reefnb.analysis.reproduce (papermill)

    print("\n".join(report_lines(report)), file=out)


def reproduce_exit_code(report: dict, args: Arguments) -> int:
    """0 when every expectation held, else 1."""
    from reefnb.analysis.reproduce import REPRODUCED

    return EXIT_OK if report["verdict"] == REPRODUCED else EXIT_FAILED


REPRODUCE = Verb(
    "reproduce",
    "rerun a package's or solution's expected experiments and judge every metric",
    reproduce_arguments,
    reproduce,
    reproduce_text,
    exit_code=reproduce_exit_code,
)

VERBS = (REPRODUCE,)
