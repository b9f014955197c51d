"""reef serve: a solution's actions over HTTP on 127.0.0.1, as a process; the flagship's live demo in Chromium."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers.actions import FLAGSHIP, encode, reef_serve, request, synthetic_frames, toy_solution
from helpers.browser import ARTIFACTS
from helpers.cli import run


def test_a_port_taken_by_another_process_is_one_line_about_this_machine_exit_3(tmp_path):
    toy, _ = toy_solution(tmp_path / "toy")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", str(toy), "--port", str(port))
    assert result.returncode == 3, result.stderr  # the environment failed, the input was right
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [f"reef: error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_actions_over_http_errors_are_one_line_and_the_server_keeps_serving(tmp_path):
    toy, _ = toy_solution(tmp_path / "toy")
    with reef_serve(toy, "--workers", "2", "--token", "s3cret") as (info, process):
        assert info["token"] == "s3cret" and info["workers"] == 2 and info["demo"] is None
        assert request(info, "/healthz", token=None) == (200, {"status": "ok"})
        status, listed = request(info, "/v1/actions")
        assert status == 200 and listed["solution"] == "toy-actions"
        add = next(item for item in listed["actions"] if item["name"] == "add")
        assert add["description"] == "a + b" and add["input"]["required"] == ["a", "b"]
        assert request(info, "/v1/actions/add", {"a": 2, "b": 40}) == (200, {"sum": 42})
        status, answer = request(info, "/v1/actions/boom", {"text": "z"})
        assert (status, answer) == (500, {"error": "action 'boom' failed: ValueError: refused z second line"})
        status, answer = request(info, "/v1/actions/leave", {})
        assert status == 500 and "exited (code 3)" in answer["error"]
        assert request(info, "/v1/actions/add", {"a": 1, "b": 1}) == (200, {"sum": 2})  # still serving
        with ThreadPoolExecutor(4) as pool:  # two workers: calls run in two processes at once
            answers = list(pool.map(lambda _: request(info, "/v1/actions/sleep", {"seconds": 0.5}), range(4)))
        assert {status for status, _ in answers} == {200} and len({answer["pid"] for _, answer in answers}) == 2
        assert request(info, "/v1/actions/bad_output", {})[0] == 500
    log = process.stderr.read()
    assert "POST /v1/actions/add add 200" in log and "POST /v1/actions/boom boom 500" in log


@pytest.fixture(scope="module")
def flagship_server():
    with reef_serve(FLAGSHIP) as (info, process):
        yield info


def test_flagship_detect_over_http_returns_labelled_detections(flagship_server):
    images, labels = synthetic_frames(4)
    for image, expected in zip(images, labels, strict=True):
        status, answer = request(flagship_server, "/v1/actions/detect", {"image": encode(image), "threshold": 0.5})
        assert status == 200
        found = {item["label"] for item in answer["detections"]}
        assert found and found <= set(expected), (found, expected)
        assert answer["latency_ms"] > 0 and answer["model"] == "ssd-mobilenet-tiny-w100-128"
    status, listed = request(flagship_server, "/v1/actions")
    assert [item["name"] for item in listed["actions"]] == ["detect"]


def write_y4m(path: Path, pixels: np.ndarray, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """A Y4M video (4:2:0) of one still image, for Chromium's fake camera."""
    from PIL import Image

    image = Image.fromarray(pixels).resize((width, height), Image.BILINEAR).convert("YCbCr")
    y, cb, cr = image.split()
    planes = (
        y.tobytes()
        + cb.resize((width // 2, height // 2), Image.BILINEAR).tobytes()
        + cr.resize((width // 2, height // 2), Image.BILINEAR).tobytes()
    )
    with open(path, "wb") as stream:
        stream.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            stream.write(b"FRAME\n" + planes)
    return path


# In the page: the labels drawn on the overlay (x, y, w, h) and whether each has the label background under its edge.
_LABELS = """() => { const c = document.getElementById('overlay'), context = c.getContext('2d');
  return JSON.parse(c.dataset.labels || '[]').map(l => {
    const [r, g, b] = context.getImageData(l.x + 3, l.y + 3, 1, 1).data;
    return { ...l, background: g > 180 && r < 80 && b < 140 }; }); }"""
_GREEN = """() => { const c = document.getElementById('overlay');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 200 && d[i] < 60 && d[i + 2] < 120 && d[i + 3] > 0) n++;
  return n; }"""


def demo_frames(page, threshold: str | None = None, frames: int = 3) -> dict:
    """Wait until the demo has drawn ``frames`` answers (after setting the threshold); what it shows then."""
    if threshold is not None:
        page.wait_for_function("window.reefDemo && window.reefDemo.frames >= 1", timeout=60_000)
        page.fill("#threshold", threshold)
    before = page.evaluate("() => window.reefDemo ? window.reefDemo.frames : 0")
    page.wait_for_function(f"window.reefDemo && window.reefDemo.frames >= {before + frames}", timeout=60_000)
    return {
        "boxes": json.loads(page.locator("#overlay").get_attribute("data-boxes")),
        "labels": page.evaluate(_LABELS),
        "hidden": int(page.locator("#overlay").get_attribute("data-hidden")),
        "green": page.evaluate(_GREEN),
        "shown": page.locator("#labels").inner_text(),
        "answered": page.locator("#answered-by").inner_text(),
        "fps": float(page.locator("#fps").inner_text()),
        "error": page.locator("#error").inner_text(),
    }


def overlapping(labels: list[dict]) -> list:
    def meet(a: dict, b: dict) -> bool:
        return (
            a["x"] < b["x"] + b["w"]
            and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"]
            and b["y"] < a["y"] + a["h"]
        )

    return [(a["label"], b["label"]) for index, a in enumerate(labels) for b in labels[index + 1 :] if meet(a, b)]


def test_live_demo_labels_the_boxes_readably_names_the_backend_and_stops_on_a_refused_token(
    flagship_server, tmp_path, chromium
):
    """The flagship's /demo in Chromium with a fake camera: boxes and labels (black on a green background, none over
    another, even at threshold 0.05), the backend and model that answered; without a token it says how to get one
    and sends nothing; with a wrong one it sends one request, shows the refusal and stops. Screenshots:
    demo-light.png, demo-dark.png (threshold 0.05), demo-no-token-dark.png in tests/artifacts/."""
    images, labels = synthetic_frames(12)
    # a 4:3 image (192x144) the detector gets right, so the camera's stretch to 640x480 keeps its shapes
    chosen = next(
        index for index, image in enumerate(images) if image.shape[:2] == (144, 192) and len(labels[index]) >= 2
    )
    video = write_y4m(tmp_path / "camera.y4m", images[chosen])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors, seen = [], {}
    base = flagship_server["demo"].partition("#")[0]
    browser = chromium(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    for scheme, threshold in (("light", None), ("dark", "0.05")):
        page = browser.new_page(color_scheme=scheme, viewport={"width": 760, "height": 900})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(flagship_server["demo"])
        seen[scheme] = demo_frames(page, threshold)
        seen[scheme]["page"] = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        page.screenshot(path=str(ARTIFACTS / f"demo-{scheme}.png"), full_page=True)
        page.close()
    requests = []
    page = browser.new_page(color_scheme="dark", viewport={"width": 760, "height": 900})
    page.on("request", lambda sent: requests.append(sent.url) if "/v1/actions/detect" in sent.url else None)
    page.goto(base)  # no token: nothing is sent, the page says where the token comes from
    page.wait_for_selector("#no-token:not([hidden])")
    no_token = page.locator("#no-token").inner_text()
    page.screenshot(path=str(ARTIFACTS / "demo-no-token-dark.png"), full_page=True)
    sent_without = len(requests)
    page.goto(base + "#token=wrong")  # refused: one request, then the page stops
    page.reload()
    page.wait_for_function("window.reefDemo.stopped !== null && !window.reefDemo.looping", timeout=60_000)
    refused = page.evaluate("() => ({ requests: window.reefDemo.requests, stopped: window.reefDemo.stopped })")
    refused_text = page.locator("#no-token").inner_text()
    sent_refused = len(requests) - sent_without
    page.close()
    light, dark = seen["light"], seen["dark"]
    found = {item["label"] for item in light["boxes"]}
    assert found and found <= set(labels[chosen]), (found, labels[chosen])
    assert set(light["shown"].split(", ")) == found and light["fps"] > 0 and light["green"] > 100
    for shown in (light, dark):
        assert shown["answered"].startswith("tflite backend, model ssd-mobilenet-tiny-w100-128"), shown["answered"]
        assert len(shown["labels"]) + shown["hidden"] == len(shown["boxes"]) and all(
            label["background"] for label in shown["labels"]
        )
        assert not overlapping(shown["labels"]) and shown["error"] == ""
    assert len(dark["boxes"]) > len(light["boxes"]) and len(dark["labels"]) >= 4  # a low threshold: a crowded frame
    assert light["page"] != dark["page"]  # each theme its own page colours
    assert sent_without == 0 and "reef serve" in no_token and "#token=" in no_token
    assert (
        refused == {"requests": 1, "stopped": "wrong token"}
        and sent_refused == 1
        and "refused this token" in refused_text
    )
    assert errors == []


def test_reef_serve_without_token_generates_one_and_refuses_requests_without_it(tmp_path):
    toy, _ = toy_solution(tmp_path / "toy")
    with reef_serve(toy) as (info, _):
        assert len(info["token"]) >= 24
        assert request(info, "/v1/actions/add", {"a": 1, "b": 2}, token=None)[0] == 401
        assert request(info, "/v1/actions/add", {"a": 1, "b": 2}) == (200, {"sum": 3})


def test_serve_as_a_library_gives_the_callers_signal_handlers_back(tmp_path):
    """serve() in-process, stopped by SIGTERM: the caller's own SIGINT and SIGTERM handlers are back (asyncio's loop
    leaves the defaults: a notebook's own Ctrl-C or SIGTERM handling was gone after it)."""
    from reefnb.frontends.serve import ServeOptions, serve

    folder, _ = toy_solution(tmp_path / "toy")
    returned, began = threading.Event(), time.monotonic()

    def own(signum, frame):  # a SIGTERM sent before the server listens for it lands here
        if time.monotonic() - began > 30:
            raise RuntimeError("serve did not stop on SIGTERM")

    def keep_stopping():
        while not returned.wait(0.05):
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=keep_stopping, daemon=True)
    previous = {signum: signal.signal(signum, own) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve(folder, ServeOptions(port=0, trust=True), lambda info: stopper.start())
        returned.set()
        assert signal.getsignal(signal.SIGINT) is own and signal.getsignal(signal.SIGTERM) is own
    finally:
        returned.set()
        if stopper.is_alive():
            stopper.join()  # its last SIGTERM lands on `own`, not on the default that ends this process
        for signum, handler in previous.items():
            signal.signal(signum, handler)
