"""require / tool / artifact: what a notebook needs, stored in its metadata.reef and its solution.json
(``reefnb.provision.declare``). A declaration is stored even when it is not met here: the lines say so, the exit
code stays 0."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from reefnb.frontends import commands
from reefnb.frontends.arguments import options_from
from reefnb.frontends.provision_text import declaration_lines
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb


def place_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebook", metavar="PATH", help="the notebook to declare in (%%reef: the running notebook)")
    parser.add_argument(
        "--solution",
        metavar="PATH",
        help="the solution to declare in (default: the one whose workflows use the notebook)",
    )


def require_arguments(require: argparse.ArgumentParser) -> None:
    require.add_argument("packages", nargs="+", metavar="PKG-SPEC", help="PEP 508 requirements, e.g. 'numpy>=1.24'")
    require.add_argument("--remove", action="store_true", help="remove these declarations (by name) instead")
    place_options(require)


def tool_arguments(tool: argparse.ArgumentParser) -> None:
    tool.add_argument(
        "tools",
        nargs="+",
        metavar="NAME[SPEC]",
        help="a tool reef knows (gcc, cmake, git...) and an optional version range",
    )
    tool.add_argument("--remove", action="store_true", help="remove these declarations (by name) instead")
    place_options(tool)


def artifact_arguments(artifact: argparse.ArgumentParser) -> None:
    artifact.add_argument("name", metavar="NAME")
    artifact.add_argument(
        "urls", nargs="+", metavar="URL", help="where to download it (http, https or file); more URLs are mirrors"
    )
    artifact.add_argument(
        "--sha256", required=True, metavar="HEX", help="the file's sha256: every download is verified"
    )
    artifact.add_argument("--size", type=int, metavar="BYTES", help="the file's size in bytes")
    artifact.add_argument(
        "--unpack", action="store_true", help="unpack the archive (.tar.gz, .zip...) after verifying it"
    )
    artifact.add_argument("--license", metavar="LICENSE", help="its licence, e.g. CC-BY-4.0")
    artifact.add_argument("--kind", choices=["dataset", "model", "other"], default="dataset", help="(default: dataset)")
    artifact.add_argument("--description", metavar="TEXT")
    place_options(artifact)


def declared(args: Arguments, front: FrontEnd) -> Any:
    """Store the declaration: in the notebook the front end runs in (the magic's) unless --notebook or --solution
    says where."""
    if args.notebook is None and args.solution is None:
        running = front.running_notebook(args.verb)
        if running is not None:
            args.notebook, args.from_session = str(running), True
    with front.declaring(args):
        if args.verb == "require":
            return commands.require(args.packages, notebook=args.notebook, solution=args.solution, remove=args.remove)
        if args.verb == "tool":
            return commands.require_tools(
                args.tools, notebook=args.notebook, solution=args.solution, remove=args.remove
            )
        artifact = options_from(commands.ArtifactDeclaration, args)
        return commands.require_artifact(artifact, notebook=args.notebook, solution=args.solution)


def declared_text(declaration: Any, args: Arguments, out: TextIO) -> None:
    print("\n".join(declaration_lines(declaration)), file=out)


def declared_notebook(args: Arguments, front: FrontEnd) -> None:
    """The checks as a table, where the declaration went, and what to do when the file changed under the editor."""
    from IPython.display import display

    from reefnb.frontends.widgets import bundle, escape, message_html, requirement_table

    declaration = declared(args, front)
    text = "\n".join(declaration_lines(declaration))
    result = declaration.as_dict()
    places = []
    if result["notebook"]:
        places.append(f"metadata.reef of {result['notebook']}")
    if result["solution"]:
        places.append(result["solution"])
    if result["in_editor"]:
        places[0] += " (the open notebook: saved with it)"
    verb = "removed from" if result["removed"] else "declared in"
    where = f"{verb} {' and '.join(places)}" + (
        "" if result["changed"] or result["in_editor"] else " (already there: nothing changed)"
    )
    parts = [f'<div style="font-size:0.9em">{escape(where)}</div>']
    if result["checks"]:
        parts.insert(0, requirement_table(result["checks"]))
    if result["warnings"]:
        parts.append(message_html(result["warnings"], "warning"))
    if getattr(args, "from_session", False) and result["notebook"] in result["changed"]:
        name = Path(result["notebook"]).name
        reload = (
            f"{name} changed on disk: reload it (File ▸ Reload Notebook from Disk) before saving, or the editor's "
            "copy overwrites the declaration (running this cell again restores it)."
        )
        parts.append(message_html([reload], "info"))
    display_id = getattr(args, "display_id", None) if result["in_editor"] else None
    display(bundle("".join(parts), text), raw=True, **({"display_id": display_id} if display_id else {}))


def declaring_verb(name: str, help: str, arguments) -> Verb:
    return Verb(
        name,
        help,
        arguments,
        declared,
        declared_text,
        notebook=declared_notebook,
        data=lambda declaration: declaration.as_dict(),
    )


REQUIRE = declaring_verb(
    "require", "declare packages a notebook needs (in its metadata.reef, and its solution.json)", require_arguments
)
TOOL = declaring_verb("tool", "declare command-line tools a notebook needs, e.g. gcc>=9", tool_arguments)
ARTIFACT = declaring_verb(
    "artifact", "declare a dataset or model a notebook needs (reef init downloads and verifies it)", artifact_arguments
)

VERBS = (REQUIRE, TOOL, ARTIFACT)
