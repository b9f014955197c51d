"""detect / init: what this machine has, and what a solution needs installed (``reefnb.provision``)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TextIO

from reefnb.common.exceptions import EXIT_OK, InitError
from reefnb.frontends import commands
from reefnb.frontends.arguments import find_links_options, options_from
from reefnb.frontends.provision_text import fingerprint_text, plan_lines
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb, wants_json

# --- detect ---


def detect_arguments(detect: argparse.ArgumentParser) -> None:
    detect.add_argument(
        "--env", dest="environment", metavar="NAME", help="inspect this reef environment (default: the current python)"
    )
    detect.add_argument("--refresh", action="store_true", help="ignore the cache")
    detect.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="DETECTOR",
        help="also run an on-request detector (e.g. tensorflow)",
    )


def detect(args: Arguments, front: FrontEnd) -> dict:
    return commands.detect(args.environment, refresh=args.refresh, extra=args.extra)


def detect_text(fingerprint: dict, args: Arguments, out: TextIO) -> None:
    print(fingerprint_text(fingerprint), file=out)


def detect_notebook(args: Arguments, front: FrontEnd) -> None:
    from IPython.display import display

    from reefnb.frontends.widgets import fingerprint_bundle

    display(fingerprint_bundle(detect(args, front)), raw=True)


DETECT = Verb(
    "detect",
    "print this machine's and an environment's fingerprint",
    detect_arguments,
    detect,
    detect_text,
    notebook=detect_notebook,
)


# --- init ---


def init_arguments(init: argparse.ArgumentParser) -> None:
    init.add_argument(
        "source",
        metavar="SOURCE",
        help="a solution folder, its solution.json, a .reef.zip package or NAME[@RANGE] "
        "from a registry (verified, then imported into $REEF_HOME/solutions/NAME-VERSION)",
    )
    where = init.add_mutually_exclusive_group()
    where.add_argument(
        "--env",
        dest="environment",
        metavar="NAME",
        help="the environment to make or update (default: the solution's name)",
    )
    where.add_argument("--native", action="store_true", help="install into the current python environment instead")
    init.add_argument("--yes", "-y", action="store_true", help="allow --native to replace installed packages")
    init.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    init.add_argument(
        "--offline", action="store_true", help="no downloads: use cached, fallback or generated artifacts"
    )
    find_links_options(init)
    init.add_argument(
        "--trust",
        action="store_true",
        help="a package's own code may run (artifact generators) and its requirements may be URLs, unpinned, "
        "unhashed or sdists; recorded in its folder, so run, sweep and serve take it after (README: Security model)",
    )
    init.add_argument(
        "--artifact",
        dest="artifacts",
        action="append",
        default=[],
        metavar="NAME[=PATH]",
        help="also fetch this on-demand artifact now; NAME=PATH: take it from your file, verified by its sha256 "
        "(an artifact the package does not ship); repeatable",
    )


def init(args: Arguments, front: FrontEnd) -> Any:
    """Make the solution runnable here; the plan is said before anything is installed. With --json, a refusal is
    a result (``ok: False``, the error and the plan)."""
    request = options_from(commands.InitRequest, args)
    now = None if wants_json(args) else commands.where_it_runs_now(request)  # before init moves it (run_place)
    if now:
        front.tell(args, [now])
    try:
        done = commands.init(
            request,
            on_plan=lambda plan: front.tell(args, plan_lines(plan)),
            progress=front.download_progress(args),
        )
    except InitError as error:
        if wants_json(args):
            return error
        raise
    return dataclasses.replace(done, place_before=now)


def init_text(done: commands.Initialised, args: Arguments, out: TextIO) -> None:
    if args.dry_run:
        print("dry run: nothing changed", file=out)
        return
    environment = done.lock["environment"]
    kernel = f" (kernel {environment['kernel']})" if environment["kernel"] else ""
    print(f"ready: {done.plan.solution.name} in {environment['path']}{kernel}", file=out)
    if done.place_before and environment.get("name"):
        print(f"its runs, sweeps and benchmarks run in environment {environment['name']} from now on", file=out)


def init_data(done: Any) -> dict:
    if isinstance(done, InitError):
        return {"ok": False, "error": str(done), "plan": done.plan.as_dict()}
    return done.as_dict()


def init_notebook(args: Arguments, front: FrontEnd) -> Any:
    """The dependency panel: the requirements checked where the solution runs now (``commands.run_place``), what
    "Install missing" would change, the button (nothing is installed until it is pressed)."""
    from reefnb.frontends.widgets import DependencyPanel

    request = options_from(commands.InitRequest, args)
    preview = commands.preview_init(request)

    def install(progress) -> dict:
        return commands.init(request, progress=progress).lock

    def recheck() -> commands.RequirementsHere | None:
        return commands.init_requirements_here(request, commands.preview_init(request))

    here = commands.init_requirements_here(request, preview)
    return DependencyPanel(preview, install, dry_run=args.dry_run, here=here, recheck=recheck)


INIT = Verb(
    "init",
    "check a solution's requirements, then install what is missing",
    init_arguments,
    init,
    init_text,
    notebook=init_notebook,
    data=init_data,
    exit_code=lambda done, args: done.exit_code if isinstance(done, InitError) else EXIT_OK,
)

VERBS = (DETECT, INIT)
