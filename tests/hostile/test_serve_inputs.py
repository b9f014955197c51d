"""Attacks on reef serve: requests without or with a wrong token,
bodies too large, not JSON, too deep, against the schema."""

from __future__ import annotations

import json
import socket

import pytest
from helpers.actions import reef_serve, request, toy_solution


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    toy, _ = toy_solution(tmp_path_factory.mktemp("hostile") / "toy")
    with reef_serve(toy, "--token", "right-token", "--max-body-mb", "0.01") as (info, process):  # a 10 KiB limit
        yield info


def raw_exchange(info: dict, head: str, body: bytes = b"") -> str:
    """Send bytes as they are; the server's answer as text (the status line first)."""
    host, port = info["url"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode() + body)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(
    "token, status", [(None, 401), ("wrong-token", 403), ("", 401), ("right-token-and-more", 403), ("RIGHT-TOKEN", 403)]
)
def test_a_missing_or_wrong_token_is_refused_before_anything_runs(server, token, status):
    for path, body in (("/v1/actions", None), ("/v1/actions/add", {"a": 1, "b": 2}), ("/v1/actions/no-such", {})):
        answer = request(server, path, body, token=token)
        assert answer[0] == status and "\n" not in answer[1]["error"]


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"not json", 400, "body: /: invalid JSON"),
        (b"", 400, "body: /"),
        (b"[1, 2]", 400, "an object"),
        (b'"text"', 400, "an object"),
        (b"\xff\xfe{}", 400, "body: /"),
        (b"[" * 10_000 + b"]" * 10_000, 413, "over the limit"),
        (b'{"a": 1, "b": ' + b"[" * 100 + b"]" * 100 + b"}", 400, "nested deeper"),
        (b'{"a": 1e999, "b": 1}', 400, "body: /a"),
        (b'{"a": ' + b"9" * 500 + b', "b": 1}', 400, "body: /a"),
        (b'{"a": "1", "b": 2}', 422, "action 'add': input /a: '1' is not of type 'number'"),
        (b'{"a": 1}', 422, "'b' is a required property"),
        (b'{"a": 1, "b": 2, "extra": 3}', 422, "Additional properties are not allowed"),
    ],
)
def test_bodies_that_are_not_the_action_s_input_are_4xx_with_one_line(server, body, status, message):
    code, answer = request(server, "/v1/actions/add", raw=body)
    assert code == status and message in answer["error"] and "\n" not in answer["error"], answer
    assert request(server, "/v1/actions/add", {"a": 1, "b": 2}) == (200, {"sum": 3})  # and the server still serves


def test_a_body_over_the_limit_gets_a_clean_413(server):
    code, answer = request(server, "/v1/actions/add", raw=json.dumps({"a": 1, "b": 2, "pad": "x" * 20_000}).encode())
    assert code == 413 and "over the limit of 10485 bytes" in answer["error"]


def test_a_declared_huge_body_is_refused_without_reading_it(server):
    answer = raw_exchange(
        server,
        "POST /v1/actions/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer right-token\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n",
    )
    assert answer.startswith("HTTP/1.1 413") and "over the limit" in answer


def test_a_chunked_body_over_the_limit_is_refused(server):
    chunk = b"x" * 4096
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    answer = raw_exchange(
        server,
        "POST /v1/actions/add HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer right-token\r\nTransfer-Encoding: "
        "chunked\r\nConnection: close\r\n\r\n",
        body,
    )
    assert answer.startswith("HTTP/1.1 413")


@pytest.mark.parametrize(
    "path, method, status",
    [
        ("/v1/actions/nope", "POST", 404),
        ("/v1/actions/..%2F..%2Fetc", "POST", 404),
        ("/v1/actions/add", "GET", 405),
        ("/v1/actions/add", "PUT", 405),
        ("/anything", "GET", 404),
        ("/demo", "GET", 404),
    ],
)
def test_unknown_actions_paths_and_methods(server, path, method, status):
    code, answer = request(server, path, {} if method in ("POST", "PUT") else None, method=method)
    assert code == status and "\n" not in answer["error"]


def test_a_token_with_non_ascii_bytes_is_wrong_not_a_crash(server):
    answer = raw_exchange(
        server, "GET /v1/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u00e9\u00e9\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith("HTTP/1.1 403")
