"""What aiservice-forward adds to a request: a 1 MiB POST, direct and through the forwarder.

Two upstreams, each with the forwarder as its own process in front of it, as a developer runs it:
1. the stack (`python -m devserver run --stage-in-path`, see _stack.py) as the deployed API at its stage URL,
   POST /ai/metered (the authorizer's cached answer, two moto transactions);
2. a null upstream (the HTTP front with an app that reads the body and answers at once): the stack's own
   variance (tens of ms on a shared machine) hides a millisecond; this one does not.
Requests alternate between the direct and the forwarded path, one at a time, each on a new connection (as the CLI
makes them), so both see the same upstream; the added latency is the median of the per-pair differences.
Loopback only, bounded by the request count.

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

from _stack import AI_ROUTE, AUTHORIZATION, ROOT, http_request, local_stack, metered_body, null_upstream, summary

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


async def measure(
    direct_port: int, stage: str, forwarder_port: int, requests: int, route: str = AI_ROUTE
) -> tuple[list[float], list[float]]:
    direct: list[float] = []
    forwarded: list[float] = []
    for _ in range(5):  # warm: workers started, authorizer answer cached, upstream connection pooled
        await timed(direct_port, stage + route)
        await timed(forwarder_port, route)
    for index in range(requests):
        pair = [timed(direct_port, stage + route), timed(forwarder_port, route)]
        first, second = pair if index % 2 else pair[::-1]  # alternate the order: no drift favours one
        results = [await first, await second]
        direct_ms, forwarded_ms = results if index % 2 else results[::-1]
        direct.append(direct_ms)
        forwarded.append(forwarded_ms)
    return direct, forwarded


def through_forwarder(port: int, stage: str, requests: int, route: str) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as scratch:
        forwarder, forwarder_port = start_forwarder(f"http://127.0.0.1:{port}{stage}", Path(scratch) / "fw.log")
        try:
            return asyncio.run(measure(port, stage, forwarder_port, requests, route))
        finally:
            forwarder.terminate()
            forwarder.wait(timeout=10)


def report(title: str, direct: list[float], forwarded: list[float]) -> float:
    print(title)
    print(f"  {'path':<18} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, latencies in (("direct", direct), ("through forwarder", forwarded)):
        p50, p95, worst = summary(latencies)
        print(f"  {name:<18} {p50:>8.2f} {p95:>8.2f} {worst:>8.2f}")
    added = statistics.median(f - d for d, f in zip(direct, forwarded, strict=True))
    print(
        f"  added by the forwarder: p50 of per-pair differences {added:.2f} ms, difference of p50s "
        f"{summary(forwarded)[0] - summary(direct)[0]:.2f} ms (target p50 <= {ADDED_P50_TARGET_MS} ms)"
    )
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="per path and upstream")
    args = parser.parse_args()
    size = f"{len(BODY) / (1 << 20):.2f} MiB"
    print(f"POST with a {size} body, {args.requests} requests per path, alternating, one connection per request")
    with local_stack("--stage-in-path") as (port, url):
        stage = url.split(str(port), 1)[1]
        direct, forwarded = through_forwarder(port, stage, args.requests, AI_ROUTE)
    report(f"(1) the stack at its stage URL, POST {AI_ROUTE}", direct, forwarded)
    with null_upstream() as port:
        direct, forwarded = through_forwarder(port, "/v1", args.requests, AI_ROUTE)
    added = report("(2) a null upstream (reads the body, answers at once)", direct, forwarded)
    return 0 if added <= ADDED_P50_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
