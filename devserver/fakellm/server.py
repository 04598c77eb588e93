"""FakeLLMServer: one threaded HTTP/1.1 server on loopback speaking Bedrock InvokeModel, Azure OpenAI and
OpenAI-compatible chat completions, with a script of replies and faults.

A thread per connection (requests never wait for each other), keep-alive so connection reuse is observable
(`connections_opened`), streams sent with chunked encoding.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import ModuleType
from typing import Any

from devserver.fakellm import bedrock, openai_chat
from devserver.fakellm.script import (
    Fault,
    Item,
    Protocol,
    RecordedRequest,
    Reply,
    WireResponse,
    demo_reply,
    json_response,
)

log = logging.getLogger("devserver.fakellm")

_PROTOCOLS: dict[str, ModuleType] = {"bedrock": bedrock, "azure": openai_chat, "openai": openai_chat}


def route(path: str, body: Any) -> tuple[Protocol | None, str | None, bool]:
    """(protocol, model or deployment, streamed?) of a POST path (without its query string)."""
    if match := bedrock.PATH.match(path):
        return "bedrock", urllib.parse.unquote(match["model"]), match["op"] == "invoke-with-response-stream"
    streamed = isinstance(body, dict) and body.get("stream") is True
    if match := openai_chat.AZURE_PATH.match(path):
        return "azure", urllib.parse.unquote(match["model"]), streamed
    if openai_chat.OPENAI_PATH.match(path):
        model = body.get("model") if isinstance(body, dict) else None
        return "openai", model if isinstance(model, str) else None, streamed
    return None, None, False


class FakeLLMServer:
    """A fake LLM provider on `host:port` (port 0: a free port), serving from construction until `stop()`.

    Point the SDKs at it:
        AsyncAnthropicBedrock(base_url=server.url, aws_region="us-east-1", aws_access_key="x", aws_secret_key="y")
        AsyncAzureOpenAI(azure_endpoint=server.url, api_key="k", api_version="2024-10-21")
        AsyncOpenAI(base_url=server.openai_base_url, api_key="k")

    Each `enqueue`d item answers one request, in arrival order; then `default_reply(request)` answers (the offline
    demo model unless replaced). `latency_s` is waited before every answer, in the request's own thread.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_s: float = 0.0,
        default_reply: Callable[[RecordedRequest], Reply | Fault] = demo_reply,
    ) -> None:
        self.latency_s = latency_s
        self.default_reply = default_reply
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[Item] = collections.deque()
        self._lock = threading.Lock()
        self._connections = 0
        self._active: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        bound_host, self.port = self._httpd.socket.getsockname()[:2]  # as bound (port 0: the one chosen)
        self.host = bound_host
        self.url = f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{self.port}"
        self._serve = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fakellm-{self.port}", daemon=True
        )
        self._serve.start()

    # -- scripting -------------------------------------------------------------------------------------------

    def enqueue(self, *items: Item) -> None:
        """Answer the next requests with these items, one each: a Reply, a Fault, or a callable(request) returning
        one of them."""
        for item in items:
            if not (isinstance(item, (Reply, Fault)) or callable(item)):
                raise TypeError(f"expected a Reply, a Fault or a callable, got {item!r}")
        with self._lock:
            self._queue.extend(items)

    @property
    def pending(self) -> int:
        """Scripted items not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted since start (or the last reset)."""
        with self._lock:
            return self._connections

    @property
    def openai_base_url(self) -> str:
        """The base URL for AsyncOpenAI (the `/v1` prefix included)."""
        return f"{self.url}/v1"

    def reset(self) -> None:
        """Forget recorded requests, scripted items and the connection count (open connections stay open)."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self._connections = 0

    # -- lifecycle -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()  # wakes requests waiting out a latency or a timeout fault
        self._httpd.shutdown()
        with self._lock:
            sockets, threads = list(self._active), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._serve.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeLLMServer({self.url}, requests={len(self.requests)}, connections={self.connections_opened})"

    # -- serving ---------------------------------------------------------------------------------------------

    def _opened(self, sock: socket.socket) -> int:
        with self._lock:
            self._connections += 1
            self._active.add(sock)
            return self._connections

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._active.discard(sock)
            self._threads.discard(threading.current_thread())

    def _next_item(self) -> Item:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.default_reply

    def _handle(self, handler: _Handler) -> None:
        received_at = time.monotonic()
        raw_path, _, query_string = handler.path.partition("?")
        raw = handler.rfile.read(int(handler.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        protocol, model, streamed = route(raw_path, body) if handler.command == "POST" else (None, None, False)
        request = RecordedRequest(
            protocol=protocol,
            method=handler.command,
            path=raw_path,
            query=dict(urllib.parse.parse_qsl(query_string)),
            model=model,
            stream=streamed,
            body=body,
            headers={name.lower(): value for name, value in handler.headers.items()},
            connection=handler.connection_number,
            received_at=received_at,
        )
        with self._lock:
            self.requests.append(request)
        if protocol is None:
            _send(handler, json_response(404, {"message": f"fakellm: no route for {handler.command} {raw_path}"}))
            return
        module = _PROTOCOLS[protocol]
        problem = module.validate(request)
        if problem is not None:
            self._wait(self.latency_s)
            _send(handler, problem)
            return
        item = self._next_item()  # taken on arrival: answers go in arrival order, whatever the latency
        self._wait(self.latency_s)
        try:
            answer = item if isinstance(item, (Reply, Fault)) else item(request)
        except Exception as err:  # a broken script must not look like a provider answer
            log.exception("fakellm: the scripted reply raised")
            _send(handler, json_response(500, {"message": f"fakellm: the scripted reply raised {err!r}"}))
            return
        if isinstance(answer, Reply):
            response = module.reply(request, answer)
            if response.chunks is None:
                self._wait(answer.generation_s)
            _send(handler, response, pacing_s=answer.generation_s / max(1, len(response.chunks or ())))
        elif answer.kind == "timeout":
            if not self._wait(answer.seconds):
                _send(handler, module.reply(request, _as_reply(self.default_reply(request))), close=True)
            else:
                handler.close_connection = True
        elif answer.kind == "drop":
            if answer.midstream:
                _send(handler, module.reply(request, _as_reply(self.default_reply(request))), partial=True)
            else:
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
        else:
            _send(handler, module.fault(request, answer))

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`; True when interrupted by stop()."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


def _as_reply(answer: Reply | Fault) -> Reply:
    return answer if isinstance(answer, Reply) else Reply(text="fakellm: late answer")


def _send(
    handler: _Handler, response: WireResponse, *, close: bool = False, partial: bool = False, pacing_s: float = 0.0
) -> None:
    """Write `response`; `partial`: only half of the body or stream, then close the connection."""
    handler.send_response(response.status)
    for name, value in response.headers.items():
        handler.send_header(name, value)
    if close or partial:
        handler.send_header("connection", "close")
    if response.chunks is None:
        body = response.body
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2] if partial else body)
    else:
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        chunks = response.chunks[: max(1, len(response.chunks) // 2)] if partial else response.chunks
        for number, chunk in enumerate(chunks):
            if number and pacing_s:  # the first piece goes at once: the time to the first byte is the latency
                time.sleep(pacing_s)
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.flush()
        if not partial:
            handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "fakellm/1"
    timeout = 300  # an idle keep-alive connection is closed after this
    # Headers and body go out in separate writes; with Nagle's algorithm on, the second waits for the client's
    # delayed ACK (~40 ms), which no real provider adds and which would swamp every latency measured here.
    disable_nagle_algorithm = True
    server: _HTTPServer
    connection_number = 0

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.fake._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._closed(self.connection)

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_PUT = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _HTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], fake: FakeLLMServer) -> None:
        self.fake = fake
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: no reverse DNS lookup of the host
        self.server_name, self.server_port = self.socket.getsockname()[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fakellm-{self.server_port}-conn",
            daemon=True,
        )
        with self.fake._lock:
            self.fake._threads.add(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # the client went away (timeout, reset): not our problem
            return
        log.exception("fakellm: error while serving %s", client_address)
