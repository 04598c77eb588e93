"""The HTTP front under load: concurrency limits and their 429s, the listen backlog, early 413s without resets."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devserver.front import LISTEN_BACKLOG, App, HttpResponse, Request, serve
from devserver.gateway import MAX_BODY_BYTES
from devserver.runtime import Concurrency
from devserver.template import Stack
from tests.devserver.devserver_harness import FIXTURE_TEMPLATE, Client, Reply, running_emulator


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack.load(FIXTURE_TEMPLATE)


class _ProcessCounter:
    """The most worker processes of one function alive at any moment, sampled every few milliseconds."""

    def __init__(self, function_id: str):
        self._name = f"lambda-{function_id}"
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            alive = sum(child.name == self._name for child in multiprocessing.active_children())
            self.peak = max(self.peak, alive)

    def __enter__(self) -> _ProcessCounter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _burst(client: Client, paths: list[str]) -> list[Reply]:
    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(lambda path: client.request("GET", path), paths))


def _assert_throttled(reply: Reply) -> None:
    assert reply.status == 429
    assert reply.headers["retry-after"] == "1"
    assert reply.headers["content-type"] == "application/json"
    assert "SlowFunction" in reply.json()["error"]


def test_a_function_busy_beyond_its_limit_and_queue_throttles_the_surplus(stack):
    with (
        running_emulator(stack, Concurrency(limit=2, queue=1, queue_wait_s=10)) as client,
        _ProcessCounter("SlowFunction") as processes,
    ):
        replies = _burst(client, ["/slow?s=1.5"] * 6)
        assert processes.peak == 2  # the pool grew to its limit, never past it
        again = _burst(client, ["/slow?s=0.5"] * 3)  # once the burst is over, the limit and queue are whole again
    served = [reply for reply in replies if reply.status == 200]
    throttled = [reply for reply in replies if reply.status != 200]
    assert len(served) == 3  # two running, one queued
    assert len(throttled) == 3
    for reply in throttled:
        _assert_throttled(reply)
    assert [reply.status for reply in again] == [200] * 3


def test_a_queued_invocation_waits_no_longer_than_the_bound(stack):
    with running_emulator(stack, Concurrency(limit=1, queue=5, queue_wait_s=0.3)) as client:
        started = time.monotonic()
        replies = _burst(client, ["/slow?s=2", "/slow?s=2"])
        statuses = sorted(reply.status for reply in replies)
        refused = next(reply for reply in replies if reply.status != 200)
    assert statuses == [200, 429]
    _assert_throttled(refused)
    assert time.monotonic() - started < 4  # the refused one did not wait for the first to finish, then run


def test_other_functions_are_not_held_up_by_a_saturated_one(stack):
    with running_emulator(stack, Concurrency(limit=1, queue=0, queue_wait_s=0)) as client:
        slow = threading.Thread(target=client.request, args=("GET", "/slow?s=1.5"))
        slow.start()
        time.sleep(0.5)
        started = time.monotonic()
        assert client.request("GET", "/public").status == 200
        assert time.monotonic() - started < 1.0
        slow.join()


# ----------------------------------------------------------------------------------------------- the front


class _Echo:
    """The smallest App: answers with the body's length."""

    max_body_bytes = 1000

    def handle(self, request: Request) -> HttpResponse:
        return HttpResponse(
            200, [("Content-Type", "application/json")], json.dumps({"length": len(request.body.read())}).encode()
        )

    def refuse(self, kind: str, status: int, message: str) -> HttpResponse:
        return HttpResponse(status, [("Content-Type", "application/json")], json.dumps({"error": message}).encode())


@pytest.fixture
def echo_port():
    app: App = _Echo()
    servers = serve(app, 0, hosts=("127.0.0.1",))
    yield servers.port
    servers.stop()


def _read_answer(raw: socket.socket) -> tuple[bytes, dict]:
    """Status line and JSON body of an answer the server closes the connection after."""
    data = raw.makefile("rb").read()  # up to the server's FIN; a reset raises
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


def test_the_listen_backlog_holds_a_burst_of_connections_nobody_accepts_yet():
    """http.server's backlog of 5 drops the SYNs of a burst (clients retry after 1 s); ours queues them."""
    from devserver.front import _Server

    burst = 64
    assert burst <= LISTEN_BACKLOG
    server = _Server(("127.0.0.1", 0), _Echo())  # listening, but not accepting
    sockets = []
    try:
        for _ in range(burst):
            raw = socket.socket()
            raw.setblocking(False)
            raw.connect_ex(("127.0.0.1", server.server_port))
            sockets.append(raw)
        time.sleep(0.3)  # handshakes complete at once when the accept queue has room
        connected = sum(
            raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and _established(raw) for raw in sockets
        )
        assert connected == burst
    finally:
        for raw in sockets:
            raw.close()
        server.server_close()


def _established(raw: socket.socket) -> bool:
    try:
        raw.getpeername()
        return True
    except OSError:
        return False


def test_content_length_over_the_cap_is_refused_before_the_body_is_sent(echo_port):
    with socket.create_connection(("127.0.0.1", echo_port), timeout=5) as raw:
        raw.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n")
        status, body = _read_answer(raw)  # nothing of the body was sent: no 100 Continue, no waiting for it
    assert status.startswith(b"HTTP/1.1 413 ")
    assert body == {"error": "request body larger than 1000 bytes"}


def test_a_chunked_body_stops_being_read_past_the_cap(echo_port):
    with socket.create_connection(("127.0.0.1", echo_port), timeout=5) as raw:
        raw.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        raw.sendall(b"258\r\n" + b"x" * 600 + b"\r\n" + b"258\r\n" + b"x" * 600 + b"\r\n")  # no last chunk
        status, body = _read_answer(raw)
    assert status.startswith(b"HTTP/1.1 413 ")
    assert body == {"error": "request body larger than 1000 bytes"}


def test_a_client_that_sends_its_whole_oversized_body_first_reads_the_413_not_a_reset(echo_port):
    """http.client (like requests) writes the whole body before it reads: the server must not close on it."""
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", echo_port, timeout=10)
        try:
            connection.request("POST", "/x", body=b"x" * (4 << 20))  # far more than the socket buffers hold
            response = connection.getresponse()
            assert (response.status, json.loads(response.read())) == (
                413,
                {"error": "request body larger than 1000 bytes"},
            )
            assert response.getheader("Connection") == "close"
        finally:
            connection.close()


def test_a_body_under_the_cap_is_served_on_a_kept_alive_connection(echo_port):
    connection = http.client.HTTPConnection("127.0.0.1", echo_port, timeout=10)
    try:
        for size in (0, 10, 1000):
            connection.request("POST", "/x", body=b"x" * size)
            response = connection.getresponse()
            assert json.loads(response.read()) == {"length": size}
        assert connection.sock is not None  # the same connection served all three
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/public", "/private", "/nowhere"])
def test_the_gateway_refuses_a_large_body_on_every_route_before_auth_or_routing(stack, path):
    with running_emulator(stack) as client:
        reply = client.request("POST", path, body=b"x" * (MAX_BODY_BYTES + 1))
    assert (reply.status, reply.json()) == (413, {"error": f"request body larger than {MAX_BODY_BYTES} bytes"})
