"""What aiservice-forward adds to a request: a 1 MiB POST to the local stack, direct and through the forwarder.

The stack (`python -m devserver run --stage-in-path`, see _stack.py) stands in for the deployed API at its stage
URL; the forwarder runs as its own process in front of it, as a developer runs it. Requests alternate between
the two paths, one at a time, each on a new connection (as the CLI makes them), so both see the same stack; the
added latency is the median of the per-pair differences. Loopback only, bounded by the request count.

    .venv/bin/python bench/forwarder.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _stack import AI_ROUTE, AUTHORIZATION, ROOT, http_request, local_stack, metered_body, summary

ADDED_P50_TARGET_MS = 2.0
BODY = metered_body(padding=1 << 20)
HEADERS = {"Authorization": AUTHORIZATION, "Content-Type": "application/json"}


def start_forwarder(url: str, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/common'}:{ROOT}", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "devserver.forward", "--url", url, "--ai-port", "0", "--cfapi-port", "0"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (found := re.search(r"ai on http://127\.0\.0\.1:(\d+)", log_path.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the forwarder did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    return process, int(found.group(1))


async def timed(port: int, path: str) -> float:
    started = time.perf_counter()
    status, _, body = await http_request(port, "POST", path, HEADERS, BODY)
    if status != 200:
        raise RuntimeError(f"{path} on port {port}: {status} {body[:200]!r}")
    return (time.perf_counter() - started) * 1000


async def measure(direct_port: int, stage: str, forwarder_port: int, requests: int) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    forwarded: list[float] = []
    for _ in range(5):  # warm: workers started, authorizer answer cached, upstream connection pooled
        await timed(direct_port, stage + AI_ROUTE)
        await timed(forwarder_port, AI_ROUTE)
    for index in range(requests):
        pair = [timed(direct_port, stage + AI_ROUTE), timed(forwarder_port, AI_ROUTE)]
        first, second = pair if index % 2 else pair[::-1]  # alternate the order: no drift favours one
        results = [await first, await second]
        direct_ms, forwarded_ms = results if index % 2 else results[::-1]
        direct.append(direct_ms)
        forwarded.append(forwarded_ms)
    return direct, forwarded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="per path")
    args = parser.parse_args()
    with local_stack("--stage-in-path") as (port, url), tempfile.TemporaryDirectory() as scratch:
        stage = url.split(str(port), 1)[1]
        forwarder, forwarder_port = start_forwarder(f"http://127.0.0.1:{port}{stage}", Path(scratch) / "fw.log")
        try:
            direct, forwarded = asyncio.run(measure(port, stage, forwarder_port, args.requests))
        finally:
            forwarder.terminate()
            forwarder.wait(timeout=10)
    print(
        f"POST {AI_ROUTE} with a {len(BODY) / (1 << 20):.2f} MiB body, {args.requests} requests per path, "
        "alternating, one connection per request"
    )
    print(f"{'path':<18} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, latencies in (("direct", direct), ("through forwarder", forwarded)):
        p50, p95, worst = summary(latencies)
        print(f"{name:<18} {p50:>8.2f} {p95:>8.2f} {worst:>8.2f}")
    added = statistics.median(f - d for d, f in zip(direct, forwarded, strict=True))
    print(
        f"added by the forwarder: p50 of per-pair differences {added:.2f} ms, difference of p50s "
        f"{summary(forwarded)[0] - summary(direct)[0]:.2f} ms (target p50 <= {ADDED_P50_TARGET_MS} ms)"
    )


if __name__ == "__main__":
    main()
