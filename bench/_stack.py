"""Shared by bench/load.py and bench/forwarder.py: the real `make run` stack as a subprocess, a raw HTTP/1.1
client on asyncio (one connection per request, as the codeflash CLI makes them) and percentiles.

The stack is template.yaml plus the metered test function at POST /ai/metered (tests/fixtures/metered: the real
authorizer, resolver and metering) until the real /ai endpoints exist.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/common")]

from devserver.seed import LOCAL_DEMO_KEY  # noqa: E402 - after the path setup
from devserver.template import CloudFormationLoader  # noqa: E402

AI_ROUTE = "/ai/metered"
AUTHORIZATION = f"Bearer {LOCAL_DEMO_KEY}"
STARTUP_S = 90  # a cold stack on a busy 2-core machine


def metered_body(padding: int = 0, trace_id: str = "bench") -> bytes:
    """A valid request of the metered function (not counted toward the quota); padding makes it bigger."""
    return json.dumps(
        {
            "trace_id": trace_id,
            "estimate_usd": "0.0001",
            "cost_usd": "0.00005",
            "counts_toward_quota": False,
            "padding": "x" * padding,
        }
    ).encode()


def _metered_template(folder: Path) -> Path:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)  # noqa: S506
    for resource in template["Resources"].values():  # absolute paths: the copy lives elsewhere
        properties = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(name), str):
                properties[name] = str(ROOT / properties[name])
    event = {"Type": "Api", "Properties": {"RestApiId": {"Ref": "Api"}, "Path": AI_ROUTE, "Method": "POST"}}
    template["Resources"]["MeteredFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str(ROOT / "tests/fixtures/metered"),
            "Handler": "app.handler",
            "Events": {"Metered": event},
        },
    }
    path = folder / "template.json"  # JSON is YAML
    path.write_text(json.dumps(template))
    return path


@contextmanager
def devserver(log_path: Path, *arguments: str, **environment: str) -> Iterator[tuple[int, str, str]]:
    """`python -m devserver run --port 0 --llm demo ARGUMENTS` with its own moto, its output in `log_path`;
    yields (port, banner URL, banner) once it serves, and stops it after."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/common'}:{ROOT}", "PYTHONUNBUFFERED": "1", **environment}
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # its own moto, with the demo key
    command = [sys.executable, "-m", "devserver", "run", "--port", "0", "--llm", "demo", *arguments]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not (found := re.search(r"on (http://127\.0\.0\.1:(\d+)[^\s,]*)", log_path.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield int(found.group(2)), found.group(1), log_path.read_text()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def local_stack(*extra_args: str) -> Iterator[tuple[int, str]]:
    """`python -m devserver run --port 0` on the metered template; yields (port, banner URL). Logs go to a file."""
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as scratch:
        template = _metered_template(Path(scratch))
        arguments = ["--template", str(template), *extra_args, "--parameter-overrides", "RateLimitMax=100000000"]
        with devserver(Path(scratch) / "devserver.log", *arguments) as (port, url, _):
            yield port, url


# An upstream that costs next to nothing: the shared HTTP front with an app that reads the body and answers a small
# JSON object. Behind the forwarder, the difference to calling it directly is the forwarder's own work.
_NULL_UPSTREAM = """
import json, sys, threading
from devserver.front import HttpResponse, serve

class Null:
    max_body_bytes = 10 << 20
    def handle(self, request):
        size = len(request.body.read())
        return HttpResponse(200, [("Content-Type", "application/json")], json.dumps({"received": size}).encode())
    def refuse(self, kind, status, message):
        return HttpResponse(status, [("Content-Type", "application/json")], json.dumps({"error": message}).encode())

servers = serve(Null(), 0, hosts=("127.0.0.1",))
print(servers.port, flush=True)
sys.stdin.read()  # until the bench closes our stdin
"""


@contextmanager
def null_upstream() -> Iterator[int]:
    """A minimal HTTP upstream in its own process, on loopback; yields its port."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/common'}:{ROOT}"}
    process = subprocess.Popen(
        [sys.executable, "-c", _NULL_UPSTREAM],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its access lines
        text=True,
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=10)


async def http_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"", timeout_s: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection to 127.0.0.1:port; (status, lower-case headers, body)."""

    async def exchange() -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            head = [
                f"{method} {path} HTTP/1.1",
                "Host: localhost",
                "Connection: close",
                f"Content-Length: {len(body)}",
                *(f"{k}: {v}" for k, v in (headers or {}).items()),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
            status_line, *header_lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            received = dict(line.lower().split(": ", 1) for line in header_lines if line)
            content = await reader.readexactly(int(received.get("content-length", 0)))
            return int(status_line.split()[1]), received, content
        finally:
            writer.close()

    return await asyncio.wait_for(exchange(), timeout_s)


def summary(latencies_ms: list[float]) -> tuple[float, float, float]:
    """p50, p95, max."""
    if len(latencies_ms) < 2:
        value = latencies_ms[0] if latencies_ms else float("nan")
        return value, value, value
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return cuts[49], cuts[94], max(latencies_ms)
