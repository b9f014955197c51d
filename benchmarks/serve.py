"""The flagship's ``detect`` action called in-process, through a worker process, and over HTTP (``reef serve``).

Sends REQUESTS ``detect`` calls (synthetic images, base64 PNG) from 1, 4 and 16 concurrent clients to ``reef serve``
(started here as a process on 127.0.0.1 with --workers WORKERS; each client keeps one HTTP/1.1 connection) and prints
throughput, p50/p90/p99 latency and errors; beside it the same calls in-process (``reefnb.use``) and through one
worker process (JSON lines over pipes). Goal: 0 errors, HTTP adding at most 2 ms to the in-process p50.

What HTTP adds is measured paired, as the machine's load changes by the second: ROUNDS rounds, each a batch of
in-process calls and a batch over one HTTP connection (in alternating order), the difference of the two batches'
p50s per round; it prints the median difference and its spread.
Run: .venv/bin/python benchmarks/serve.py [REQUESTS] [WORKERS] [ROUNDS]
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FLAGSHIP = REPO / "solutions" / "obj-detection-coco-tf"


def bodies(count: int = 50) -> list[bytes]:
    sys.path.insert(0, str(FLAGSHIP))
    from detbench.data import synthetic_images
    from PIL import Image

    encoded = []
    for pixels in synthetic_images(count, 2017)[0]:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        encoded.append(json.dumps({"image": base64.b64encode(buffer.getvalue()).decode()}).encode())
    return encoded


def summary(name: str, latencies: list[float], errors: int, seconds: float) -> str:
    p50, p90, p99 = (float(np.percentile(latencies, q)) for q in (50, 90, 99)) if latencies else (float("nan"),) * 3
    return (
        f"{name:<28} {len(latencies) / seconds:8.1f} req/s  p50 {p50:7.2f} ms  p90 {p90:7.2f} ms  p99 {p99:7.2f} "
        f"ms  errors {errors}"
    )


def direct(actions, requests: list[bytes], total: int) -> tuple[list[float], int, float]:
    payloads = [json.loads(body) for body in requests]
    latencies, errors = [], 0
    start = time.perf_counter()
    for index in range(total):
        began = time.perf_counter()
        try:
            actions.call("detect", payloads[index % len(payloads)])
        except Exception:
            errors += 1
            continue
        latencies.append(1000 * (time.perf_counter() - began))
    return latencies, errors, time.perf_counter() - start


def over_http(
    host: str, port: int, token: str, requests: list[bytes], total: int, clients: int
) -> tuple[list[float], int, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(share: range) -> tuple[list[float], int]:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        latencies, errors = [], 0
        for index in share:
            began = time.perf_counter()
            try:
                connection.request("POST", "/v1/actions/detect", body=requests[index % len(requests)], headers=headers)
                response = connection.getresponse()
                answer = response.read()
                ok = response.status == 200 and b'"detections"' in answer
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
            if ok:
                latencies.append(1000 * (time.perf_counter() - began))
            else:
                errors += 1
        connection.close()
        return latencies, errors

    shares = [range(start, total, clients) for start in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, shares))
    seconds = time.perf_counter() - start
    return [value for latencies, _ in results for value in latencies], sum(errors for _, errors in results), seconds


def paired(
    actions, host: str, port: int, token: str, requests: list[bytes], rounds: int, batch: int = 50
) -> list[float]:
    """Per round, the HTTP batch's p50 minus the in-process batch's p50 (ms); the two batches alternate in order."""
    differences = []
    for index in range(rounds):
        p50 = {}
        for where in ("local", "http") if index % 2 == 0 else ("http", "local"):
            latencies = (
                direct(actions, requests, batch)[0]
                if where == "local"
                else over_http(host, port, token, requests, batch, 1)[0]
            )
            p50[where] = float(np.percentile(latencies, 50))
        differences.append(p50["http"] - p50["local"])
    return differences


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    import reefnb

    requests = bodies()
    print(
        f"{total} detect calls, {len(requests)} synthetic images (PNG, base64), {os.cpu_count()} cores; reef "
        f"serve --workers {workers}"
    )
    with reefnb.use(FLAGSHIP) as actions:
        direct(actions, requests, 20)  # warm up
        print(summary("in-process (reefnb.use)", *direct(actions, requests, total)))
    with reefnb.use(FLAGSHIP, workers=2) as actions:  # two workers: the calls go through a worker process
        direct(actions, requests, 20)
        print(summary("worker process (JSON lines)", *direct(actions, requests, total)))
    process = subprocess.Popen(
        [sys.executable, "-m", "reefnb", "serve", str(FLAGSHIP), "--port", "0", "--json", "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        info = json.loads(process.stdout.readline())
        host, port = info["url"].removeprefix("http://").split(":")
        over_http(host, int(port), info["token"], requests, 20, 1)  # warm up
        for clients in (1, 4, 16):
            print(
                summary(
                    f"HTTP, {clients:>2} client(s)",
                    *over_http(host, int(port), info["token"], requests, total, clients),
                )
            )
        with reefnb.use(FLAGSHIP) as actions:
            direct(actions, requests, 20)
            added = paired(actions, host, int(port), info["token"], requests, rounds)
        quartiles = statistics.quantiles(added, n=4) if len(added) > 1 else added * 3
        print(
            f"HTTP adds to the p50 (1 client, {rounds} paired rounds): median {statistics.median(added):.2f} ms, "
            f"quartiles {quartiles[0]:.2f} / {quartiles[2]:.2f} ms, range {min(added):.2f} to {max(added):.2f} ms"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
