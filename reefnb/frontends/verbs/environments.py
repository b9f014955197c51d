"""env create|list|remove: named environments with a Jupyter kernel (``reefnb.provision.envs``)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reefnb.frontends import commands
from reefnb.frontends.arguments import actions_of, find_links_options, with_json
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb

NO_ENVIRONMENTS = "no environments (create one with `reef env create NAME PKG...`)"


def env_arguments(env: argparse.ArgumentParser) -> None:
    actions = actions_of(env, "env_verb")
    create = actions.add_parser("create", help="create an environment with packages and a Jupyter kernel")
    create.add_argument("name", metavar="NAME")
    create.add_argument("packages", nargs="*", metavar="PKG", help="PEP 508 requirements")
    create.add_argument("--python", help="base interpreter (default: this one)")
    create.add_argument("--replace", action="store_true", help="replace an existing environment of that name")
    find_links_options(create)
    actions.add_parser("list", help="list environments")
    remove = actions.add_parser("remove", help="remove an environment and its kernel")
    remove.add_argument("name", metavar="NAME")
    with_json(actions)


def env(args: Arguments, front: FrontEnd) -> Any:
    if args.env_verb == "create":
        return commands.create_environment(
            args.name,
            args.packages,
            python=args.python,
            find_links=args.find_links,
            no_index=args.no_index,
            replace=args.replace,
        )
    if args.env_verb == "remove":
        return commands.remove_environment(args.name)
    return commands.list_environments()


def environment_lines(environments: list[dict]) -> list[str]:
    return [
        f"{item['name']:<20} python {item['python_version']:<8} kernel {item['kernel']:<24} "
        f"{' '.join(item['packages']) or '-'}"
        for item in environments
    ]


def env_text(result: Any, args: Arguments, out: TextIO) -> None:
    if args.env_verb == "create":
        text = (
            f"created {result['name']}: python {result['python_version']}, kernel {result['kernel']}, {result['path']}"
        )
    elif args.env_verb == "remove":
        text = f"removed {args.name}"
    else:
        text = "\n".join(environment_lines(result)) or NO_ENVIRONMENTS
    print(text, file=out)


def env_notebook(args: Arguments, front: FrontEnd) -> None:
    """``env list`` as a table; create and remove as a line."""
    from IPython.display import display

    from reefnb.frontends.widgets import message, table_bundle

    result = env(args, front)
    if args.env_verb != "list":
        display(message([ENV.text_of(result, args)], "ok"), raw=True)
    elif not result:
        display(message([NO_ENVIRONMENTS], "info"), raw=True)
    else:
        rows = [
            (item["name"], item["python_version"], item["kernel"], " ".join(item["packages"]) or "–", item["path"])
            for item in result
        ]
        display(table_bundle(("name", "python", "kernel", "packages", "path"), rows), raw=True)


ENV = Verb("env", "named environments: create, list, remove", env_arguments, env, env_text, notebook=env_notebook)

VERBS = (ENV,)
