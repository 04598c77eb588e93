"""Helpers of the devserver tests: paths, a running emulator, a small HTTP client.

Not a conftest.py: the suite's tests import `conftest` by name, which must stay tests/conftest.py."""

from __future__ import annotations

import http.client
import json
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devserver.gateway import ApiGateway
from devserver.runtime import DEFAULT_CONCURRENCY, Concurrency, FunctionRuntime
from devserver.server import serve
from devserver.template import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One connection per request, with Connection: close, as the codeflash client does."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def request(
        self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()


@contextmanager
def running_emulator(
    stack: Stack, concurrency: Concurrency = DEFAULT_CONCURRENCY, stage_in_path: bool = False
) -> Iterator[Client]:
    """The API of `stack` on a free loopback port; every worker process is gone afterwards."""
    already_running = set(multiprocessing.active_children())
    runtime = FunctionRuntime(stack.functions, stack.region, concurrency)
    servers = serve(ApiGateway(stack, runtime, stage_in_path), 0, hosts=("127.0.0.1",))
    try:
        yield Client("127.0.0.1", servers.port)
    finally:
        servers.stop()
        runtime.close()
        assert set(multiprocessing.active_children()) <= already_running, "workers outlived the emulator"
