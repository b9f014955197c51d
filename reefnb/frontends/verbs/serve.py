"""serve: a solution's actions over HTTP (``reefnb.frontends.serve``)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import TextIO

from reefnb.frontends.arguments import count, scale, seconds
from reefnb.frontends.verbs.verb import Arguments, FrontEnd, Verb, wants_json


def serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("solution", metavar="SOLUTION", help="a solution folder or its solution.json")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=count(0), default=8765, help="port (default: 8765; 0 picks a free one)")
    serve.add_argument("--token", help="the bearer token clients send (default: a new random one, printed)")
    serve.add_argument(
        "--workers", type=count(1), default=1, metavar="N", help="worker processes running the actions (default: 1)"
    )
    serve.add_argument(
        "--env",
        dest="environment",
        metavar="NAME|PYTHON|native",
        help="run the actions in this reef environment or python (default: the one reef init made)",
    )
    serve.add_argument("--max-body-mb", type=scale, default=20, metavar="MB", help="largest request body (default: 20)")
    serve.add_argument(
        "--action-timeout",
        type=seconds,
        default=60,
        metavar="S",
        help="seconds a call may take, then its worker is replaced and it gets 504 (default: 60)",
    )
    serve.add_argument(
        "--trust", action="store_true", help="run the actions of a solution imported from a package or registry"
    )


def ready_text(info: dict, out: TextIO) -> None:
    actions = ", ".join(info["actions"])
    print(f"serving {info['solution']} ({actions}) on {info['url']} with {info['workers']} worker(s)", file=out)
    print(f"token: {info['token']}", file=out)
    if info["demo"]:
        print(f"demo: {info['demo']}", file=out)
    print(f"try: curl -H 'Authorization: Bearer {info['token']}' {info['url']}/v1/actions", file=out, flush=True)


def serve(args: Arguments, front: FrontEnd) -> dict:
    """Serve until stopped; once listening, say where (one JSON line with --json). What it said once ready."""
    from reefnb.frontends import serve as serving  # tornado: only `reef serve` loads it

    options = serving.ServeOptions(
        host=args.host,
        port=args.port,
        token=args.token,
        workers=args.workers,
        environment=args.environment,
        trust=front.trusts(args, args.solution, "actions", packages=True),
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        action_timeout=args.action_timeout,
    )
    logging.getLogger("reefnb.frontends.serve").setLevel(logging.INFO)
    logging.getLogger("reefnb.actions.api").setLevel(logging.INFO)
    ready: dict = {}

    def on_ready(info: dict) -> None:
        ready.update(info)
        if wants_json(args):
            print(json.dumps(info), file=front.out, flush=True)
        else:
            ready_text(info, front.out)

    serving.serve(args.solution, options, on_ready)
    return ready


SERVE = Verb(
    "serve",
    "serve a solution's actions over HTTP: GET /v1/actions, POST /v1/actions/NAME, /healthz, /demo",
    serve_arguments,
    serve,
    lambda ready, args, out: None,  # said once it was listening
    data=None,  # its JSON line was written once it was listening
)

VERBS = (SERVE,)
