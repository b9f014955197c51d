"""registry / publish / search / pull: components in git registries (``reefnb.sharing.registry``)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reefnb.frontends import commands
from reefnb.frontends.arguments import actions_of, identity_and_key, with_json
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb

NO_REGISTRIES = "no registries (add one with `reef registry add NAME URL`)"

# --- registry add|list|remove|configure|forget ---


def registry_arguments(registry: argparse.ArgumentParser) -> None:
    actions = actions_of(registry, "registry_verb")
    add = actions.add_parser("add", help="add a registry (a git URL or a repository folder) and clone it")
    add.add_argument("name", metavar="NAME")
    add.add_argument("url", metavar="URL")
    actions.add_parser("list", help="list the registries added here")
    remove = actions.add_parser("remove", help="forget a registry and delete its clone (its pins are kept)")
    remove.add_argument("name", metavar="NAME")
    configure = actions.add_parser(
        "configure", help="set who may sign a registry's packages (reef-registry.json), and pin it here"
    )
    configure.add_argument("name", metavar="NAME")
    configure.add_argument(
        "--signer",
        action="append",
        default=[],
        type=identity_and_key,
        metavar="ID=KEY.pub",
        help="allow this identity (e.g. alice@example.org) with this OpenSSH public key; repeatable",
    )
    configure.add_argument(
        "--remove-signer", action="append", default=[], metavar="ID", help="no longer allow this identity"
    )
    required = configure.add_mutually_exclusive_group()
    required.add_argument(
        "--require-signatures",
        dest="require_signatures",
        action="store_true",
        default=None,
        help="refuse unsigned packages, and packages signed by anyone not listed",
    )
    required.add_argument(
        "--no-require-signatures",
        dest="require_signatures",
        action="store_false",
        help="accept unsigned packages (signed ones are still verified)",
    )
    forget = actions.add_parser(
        "forget", help="drop a pin: accept a version's new bytes (or a registry's new signers) on the next pull"
    )
    forget.add_argument("spec", nargs="?", metavar="NAME@VERSION", help="the version whose pinned sha256 to forget")
    forget.add_argument("--signers", action="store_true", help="forget the registry's pinned signing policy")
    forget.add_argument("--registry", metavar="NAME", help="the registry (default: the only one added)")
    with_json(actions)


def registry(args: Arguments, front: FrontEnd) -> Any:
    action = args.registry_verb
    if action == "add":
        return commands.add_registry(args.name, args.url)
    if action == "remove":
        return commands.remove_registry(args.name)
    if action == "configure":
        return commands.configure_registry(args.name, dict(args.signer), args.remove_signer, args.require_signatures)
    if action == "forget":
        return commands.forget_pin(args.spec, args.registry, signers=args.signers)
    return commands.list_registries()


def registry_text(result: Any, args: Arguments, out: TextIO) -> None:
    action = args.registry_verb
    if action == "add":
        text = f"added registry {result['name']}: {result['url']} (clone: {result['path']})"
    elif action == "remove":
        text = f"removed registry {result['name']} ({result['url']}); the registry itself is untouched"
    elif action == "configure":
        listed = ", ".join(signer["identity"] for signer in result["signers"]) or "none"
        required = "required" if result["require_signatures"] else "not required"
        text = f"registry {result['registry']}: signers {listed}; signatures {required}" + (
            "" if result["changed"] else " (unchanged)"
        )
    elif action == "forget":
        text = "\n".join(f"registry {entry['registry']}: forgot the pin of {entry['forgot']}" for entry in result)
    else:
        lines = [f"{entry['name']:<16} {entry['components']:>4} components  {entry['url']}" for entry in result]
        text = "\n".join(lines) or NO_REGISTRIES
    print(text, file=out)


REGISTRY = Verb(
    "registry",
    "git registries of published solutions, datasets and models: add, list, remove, configure, forget",
    registry_arguments,
    registry,
    registry_text,
)


# --- publish ---


def publish_arguments(publish: argparse.ArgumentParser) -> None:
    publish.add_argument("package", metavar="PACKAGE.reef.zip")
    publish.add_argument("--registry", metavar="NAME", help="the registry (default: the only one added)")
    publish.add_argument(
        "--sign",
        metavar="KEY",
        help="sign the package with this OpenSSH private key (ssh-keygen -Y sign, namespace reef)",
    )


def publish_text(result: dict, args: Arguments, out: TextIO) -> None:
    what = "published" if result["published"] else "already published with the same bytes: nothing to do"
    what += f", signed by {result['signer']}" if result["signer"] else ", signed" if result["signed"] else ""
    print(
        f"{result['name']}@{result['version']} ({result['kind']}, sha256 {result['sha256'][:12]}) "
        f"in registry {result['registry']}: {what}",
        file=out,
    )


PUBLISH = Verb(
    "publish",
    "publish a package (NAME.reef.zip) in a registry; a published version never changes",
    publish_arguments,
    lambda args, front: commands.publish(args.package, args.registry, sign=args.sign),
    publish_text,
)


# --- search ---


def search_arguments(search: argparse.ArgumentParser) -> None:
    search.add_argument("text", nargs="?", default="", metavar="TEXT", help="words to match (default: list everything)")
    search.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")


def search_text(found: list[dict], args: Arguments, out: TextIO) -> None:
    for entry in found:
        line = f"{entry['name']:<24} {entry['latest']:<10} {entry['kind']:<8} {entry['registry']:<12} "
        print((line + entry["description"]).rstrip(), file=out)
    if not found:
        print("nothing found" + (f" for '{args.text}'" if args.text else ""), file=out)


SEARCH = Verb(
    "search",
    "find published components by name, kind, description or keyword",
    search_arguments,
    lambda args, front: commands.search(args.text, args.registry),
    search_text,
)


# --- pull ---


def pull_arguments(pull: argparse.ArgumentParser) -> None:
    pull.add_argument(
        "spec",
        metavar="NAME[@VERSION|@RANGE]",
        help="e.g. hello-sweep, hello-sweep@1.2.0, hello-sweep@^1.2, 'x@>=1,<2'",
    )
    pull.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")
    pull.add_argument(
        "-o",
        "--output",
        metavar="FOLDER",
        help="import the component here (default: $REEF_HOME/solutions/NAME-VERSION)",
    )
    pull.add_argument("--dry-run", action="store_true", help="resolve the versions only; fetch and import nothing")
    pull.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="accept an older version when a newer one seen here before is no longer listed (refused otherwise)",
    )


def pull(args: Arguments, front: FrontEnd) -> dict:
    return commands.pull(
        args.spec, args.registry, output=args.output, dry_run=args.dry_run, allow_downgrade=args.allow_downgrade
    )


def pull_text(result: dict, args: Arguments, out: TextIO) -> None:
    for entry in result["components"]:
        where = entry.get("folder") or "(dry run: not fetched)"
        signed = f", signed by {entry['signer']}" if entry.get("signer") else ""
        print(
            f"{entry['name']}@{entry['version']} from {entry['registry']} (sha256 {entry['sha256'][:12]}{signed}): "
            f"{where}",
            file=out,
        )


PULL = Verb(
    "pull",
    "fetch a published component and what it needs (verified), and import them",
    pull_arguments,
    pull,
    pull_text,
)

VERBS = (REGISTRY, PUBLISH, SEARCH, PULL)
