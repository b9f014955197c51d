"""reef serve: a solution's actions over HTTP on 127.0.0.1, as a process; the flagship's live demo in Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from action_solutions import FLAGSHIP, encode, reef_serve, synthetic_frames, toy_solution

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def request(info: dict, path: str, body=None, token: str | None = "use", method: str | None = None, raw: bytes | None = None):
    """(status, JSON answer) of one HTTP request to the server."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {info['token'] if token == 'use' else token}"
    call = urllib.request.Request(info["url"] + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
    planes = y.tobytes() + cb.resize((width // 2, height // 2), Image.BILINEAR).tobytes() + cr.resize((width // 2, height // 2), Image.BILINEAR).tobytes()
    with open(path, "wb") as stream:
        stream.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            stream.write(b"FRAME\n" + planes)
    return path


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install -y chromium)")
def test_live_demo_draws_labelled_boxes_from_a_fake_camera(flagship_server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    images, labels = synthetic_frames(12)
    # a 4:3 image (192x144) the detector gets right, so the camera's stretch to 640x480 keeps its shapes
    chosen = next(index for index, image in enumerate(images) if image.shape[:2] == (144, 192) and len(labels[index]) >= 2)
    video = write_y4m(tmp_path / "camera.y4m", images[chosen])
    errors = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(flagship_server["demo"])
            page.wait_for_function("window.reefDemo && window.reefDemo.frames >= 3", timeout=60_000)
            drawn = json.loads(page.locator("#overlay").get_attribute("data-boxes"))
            green = page.evaluate("""() => { const c = document.getElementById('overlay');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 200 && d[i] < 60 && d[i + 2] < 60 && d[i + 3] > 0) n++;
                return n; }""")
            shown = page.locator("#labels").inner_text()
            fps = float(page.locator("#fps").inner_text())
            error_text = page.locator("#error").inner_text()
        finally:
            browser.close()
    found = {item["label"] for item in drawn}
    assert found and found <= set(labels[chosen]), (found, labels[chosen])
    assert green > 100  # the boxes and labels are on the canvas
    assert set(shown.split(", ")) == {item["label"] for item in drawn} and fps > 0
    assert errors == [] and error_text == ""


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
