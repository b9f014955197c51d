"""``reef serve``: a solution's actions over HTTP (tornado, already in the stack through Jupyter).

``GET /v1/actions`` (names, descriptions, schemas), ``POST /v1/actions/NAME`` (JSON in, JSON out), ``GET /healthz``
and, for a solution that declares one, its demo page at ``/demo``. Every ``/v1`` request carries
``Authorization: Bearer TOKEN``. Errors are JSON ``{"error": "one line"}``: 401/403 for a missing or wrong token,
404 for an unknown action, 413 for a body over the limit, 400 for a body that is not a JSON object, 422 for an input
its schema refuses, 500 when the action raises (``SystemExit`` too), its worker dies or breaks the protocol (the
worker is replaced), 504 when a call takes longer than ``--action-timeout`` (its worker is killed and replaced).
The actions always run in worker processes, so that a call can be stopped; the server keeps serving. Each request
is logged as one line.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tornado.httpserver
import tornado.netutil
import tornado.web

from reefnb.actions.api import Actions, demo_page, use
from reefnb.common.exceptions import (
    ActionFailed,
    ActionInputError,
    ActionTimeout,
    EnvironmentFailure,
    InputError,
    ReefError,
)
from reefnb.common.json_input import parse_json

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 20 * 1024 * 1024
DEFAULT_PORT = 8765
DEFAULT_ACTION_TIMEOUT = 60.0


@dataclass
class ServeOptions:
    """How ``reef serve`` listens and runs the actions."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None  # generated when None
    workers: int = 1
    environment: str | None = None  # where the actions run: a reef environment, a python, or native
    trust: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY
    action_timeout: float = DEFAULT_ACTION_TIMEOUT  # seconds a call may take; its worker is then killed and replaced


class _Handler(tornado.web.RequestHandler):
    """JSON errors as one line, the token checked before anything else."""

    action_name = "-"

    def initialize(self, state: dict) -> None:
        self.state = state

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def write_error(self, status_code: int, **kwargs) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.finish(json.dumps({"error": message}))

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        if status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="reef"')
        self.finish(json.dumps({"error": " ".join(message.split())}))

    def authorised(self) -> bool:
        header = self.request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            self.fail(401, "missing token: send 'Authorization: Bearer TOKEN' (reef serve printed the token)")
            return False
        if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.state["token"].encode()):
            self.fail(403, "wrong token")
            return False
        return True

    def send(self, data) -> None:
        self.finish(json.dumps(data, separators=(",", ":")))


class Health(_Handler):
    def get(self) -> None:
        self.send({"status": "ok"})


class ActionList(_Handler):
    def get(self) -> None:
        if self.authorised():
            actions: Actions = self.state["actions"]
            self.send(
                {"solution": actions.solution.name, "version": actions.solution.version, "actions": actions.describe()}
            )


@tornado.web.stream_request_body
class ActionCall(_Handler):
    """``POST /v1/actions/NAME``: the body is streamed so that one over the limit is counted, not kept."""

    def prepare(self) -> None:
        self.chunks: list[bytes] = []
        self.received = 0
        if self.request.method != "POST":
            return
        if not self.authorised():
            return
        limit = self.state["max_body_bytes"]
        declared = self.request.headers.get("Content-Length")
        self.request.connection.set_max_body_size(2 * limit + 1024 * 1024)  # beyond this the connection is dropped
        if declared is not None and declared.isdigit() and int(declared) > 2 * limit:
            self.fail(413, f"body of {declared} bytes is over the limit of {limit} bytes")

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received <= self.state["max_body_bytes"]:
            self.chunks.append(chunk)
        else:
            self.chunks = []  # counted to the end, then refused: the client reads a clean 413

    async def post(self, name: str) -> None:
        self.action_name = name
        actions: Actions = self.state["actions"]
        limit = self.state["max_body_bytes"]
        if self.received > limit:
            return self.fail(413, f"body of {self.received} bytes is over the limit of {limit} bytes")
        if name not in actions.actions:
            return self.fail(404, f"no action '{name}' (this solution has: {', '.join(actions.actions)})")
        try:
            arguments = parse_json(b"".join(self.chunks), "body", max_bytes=limit, expect=dict)
        except InputError as error:
            return self.fail(400, str(error))
        loop = asyncio.get_running_loop()
        try:
            output = await loop.run_in_executor(self.state["executor"], actions.call, name, arguments)
        except ActionInputError as error:
            return self.fail(422, str(error))
        except ActionTimeout as error:
            return self.fail(504, str(error))
        except ActionFailed as error:
            return self.fail(500, f"action '{name}' failed: {error}")
        self.send(output)


class Demo(tornado.web.RequestHandler):
    def initialize(self, page: Path) -> None:
        self.page = page

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(self.page.read_bytes())


def _log_request(handler: tornado.web.RequestHandler) -> None:
    action = getattr(handler, "action_name", "-")
    log.info(
        "%s %s %s %d %.1f ms",
        handler.request.method,
        handler.request.path,
        action,
        handler.get_status(),
        1000 * handler.request.request_time(),
    )


def make_app(
    actions: Actions, token: str, max_body_bytes: int = DEFAULT_MAX_BODY, executor: ThreadPoolExecutor | None = None
) -> tornado.web.Application:
    """The tornado application over loaded ``actions``."""
    state = {
        "actions": actions,
        "token": token,
        "max_body_bytes": max_body_bytes,
        "executor": executor or ThreadPoolExecutor(max_workers=actions.workers, thread_name_prefix="reef-action"),
    }
    routes = [
        (r"/healthz", Health, {"state": state}),
        (r"/v1/actions", ActionList, {"state": state}),
        (r"/v1/actions/([^/]+)", ActionCall, {"state": state}),
    ]
    page = demo_page(actions.solution)
    if page is not None:
        routes.append((r"/demo/?", Demo, {"page": page}))
    return tornado.web.Application(
        routes,
        log_function=_log_request,
        default_handler_class=_NotFound,
        default_handler_args={"state": state},
        compress_response=False,
    )


class _NotFound(_Handler):
    def prepare(self) -> None:
        self.fail(404, f"no such path {self.request.path} (try GET /v1/actions)")


def serve(
    source: str | Path, options: ServeOptions | None = None, on_ready: Callable[[dict], None] | None = None
) -> None:
    """Load the actions of ``source`` once and serve them until interrupted (Ctrl-C or SIGTERM).

    ``on_ready`` receives ``{"url", "token", "solution", "actions", "workers", "action_timeout", "python", "demo"}``
    once the port is bound (``port`` 0 picks a free one); the front end prints it.
    """
    options = options or ServeOptions()
    if not 0 <= options.port <= 65535:
        raise ReefError(f"--port must be from 0 to 65535, got {options.port}")
    if options.max_body_bytes < 1:
        raise ReefError(f"--max-body-mb must be positive, got {options.max_body_bytes} bytes")
    token = options.token or secrets.token_urlsafe(24)
    if not token.isprintable() or " " in token:
        raise ReefError("--token must be printable, without spaces")
    actions = use(
        source,
        environment=options.environment,
        workers=options.workers,
        trust=options.trust,
        timeout=options.action_timeout,
    )
    try:
        asyncio.run(_serve(actions, token, options, on_ready))
    finally:
        actions.close()


async def _serve(actions: Actions, token: str, options: ServeOptions, on_ready) -> None:
    app = make_app(actions, token, options.max_body_bytes)
    server = tornado.httpserver.HTTPServer(app, max_body_size=2 * options.max_body_bytes + 1024 * 1024, xheaders=False)
    try:
        sockets = tornado.netutil.bind_sockets(options.port, options.host)
    except OSError as error:
        raise EnvironmentFailure(f"cannot listen on {options.host}:{options.port}: {error.strerror}") from None
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host}:{port}"
    if on_ready is not None:
        on_ready(
            {
                "url": url,
                "token": token,
                "solution": actions.solution.name,
                "actions": actions.names,
                "workers": actions.workers,
                "action_timeout": options.action_timeout,
                "python": actions.python,
                "demo": f"{url}/demo#token={token}" if demo_page(actions.solution) else None,
            }
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            loop.add_signal_handler(signum, stop.set)
            previous[signum] = signal.SIG_DFL if handler is None else handler
        await stop.wait()
    finally:
        for signum, handler in previous.items():  # the caller's own handlers back (asyncio would leave the defaults)
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)
        server.stop()
        await server.close_all_connections()
