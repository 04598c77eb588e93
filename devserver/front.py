"""The local HTTP front shared by `make run` and `aiservice-forward`: HTTP/1.1 on loopback that holds bursts.

- A listen backlog sized for bursts: http.server's default of 5 overflows when a few dozen clients connect at
  once, the kernel drops their SYNs and they retry only after a second.
- A thread per connection, keep-alive (HTTP/1.1), TCP_NODELAY so that a response's writes never wait for the
  client's delayed ACK.
- The body cap holds before the body is read: a Content-Length over it gets its 413 at once (without the
  `100 Continue` an Expect header asks for), a chunked body stops being read past it. An answer given before the
  whole body was read closes the connection with a lingering close, so the client reads it instead of a reset.
- One access line per request on stderr: method, path, status, time; never the query string or a header
  (Authorization).
"""

from __future__ import annotations

import signal
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Protocol

from devserver.console import line, log

LOOPBACK_HOSTS = ("127.0.0.1", "::1")  # `localhost` may resolve to either; the codeflash client tries both
LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn
IDLE_TIMEOUT_S = 120  # an idle keep-alive connection (or a stalled upload) is dropped after this
LINGER_BYTES = 64 << 20  # after an early answer, at most this much of what the client still sends is read...
LINGER_S = 5.0  # ...for at most this long, before the connection is closed anyway
_CHUNK = 256 << 10
_LINE_MAX = 1 << 12  # a chunk-size line or a trailer


class BadRequest(Exception):
    """The request's framing is broken, and with it the rest of the connection."""


class TooLarge(Exception):
    """The body is over the cap."""


class ClientGone(Exception):
    """The client closed the connection (or stalled) before sending its whole body."""


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class Body:
    """A request body no larger than the cap: either still on the connection (Content-Length, read on demand so
    it can be streamed) or already read (a chunked one, which had to be read to find its size)."""

    def __init__(self, rfile: BufferedIOBase, length: int, data: bytes | None = None):
        self.length = length
        self._rfile = rfile
        self._data = data
        self._unread = 0 if data is not None else length

    @property
    def consumed(self) -> bool:
        return self._unread == 0

    def chunks(self) -> Iterator[bytes]:
        """The body, in pieces as they arrive; raises ClientGone if the client stops sending before its end."""
        if self._data is not None:
            yield self._data
            return
        while self._unread > 0:
            try:
                chunk = self._rfile.read(min(self._unread, _CHUNK))
            except OSError as error:  # including the socket timeout
                raise ClientGone(str(error)) from None
            if not chunk:
                raise ClientGone(f"the body ended {self._unread} bytes short of its Content-Length")
            self._unread -= len(chunk)
            yield chunk

    def read(self) -> bytes:
        return b"".join(self.chunks())


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string, still percent-encoded
    query: str
    headers: list[tuple[str, str]]  # in arrival order, names as sent
    source_ip: str
    body: Body


class App(Protocol):
    """What the front serves: the local API Gateway, or the forwarder to a deployed one."""

    max_body_bytes: int

    def handle(self, request: Request) -> HttpResponse: ...

    def refuse(self, kind: str, status: int, message: str) -> HttpResponse:
        """The front's own refusals as the app renders errors; kind is an API Gateway response type."""
        ...


def _read_chunked(rfile: BufferedIOBase, cap: int) -> bytes:
    body = bytearray()
    while True:
        line = rfile.readline(_LINE_MAX)
        if not line:
            raise ClientGone("the chunked body ended early")
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise BadRequest("malformed chunked body") from None
        if size < 0:
            raise BadRequest("malformed chunked body")
        if size == 0:
            break
        if len(body) + size > cap:
            raise TooLarge(f"request body larger than {cap} bytes")
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise ClientGone("the chunked body ended early")
        body += chunk
        if rfile.readline(_LINE_MAX).strip():
            raise BadRequest("malformed chunked body")
    while rfile.readline(_LINE_MAX).strip():  # trailers, up to the blank line
        pass
    return bytes(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client sends Connection: close
    server_version = "devserver"
    timeout = IDLE_TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_expect_100(self) -> bool:
        return True  # deferred to _body: an oversized body is refused without a 100 Continue first

    def _serve(self) -> None:
        started = time.monotonic()
        app = self.server.app
        path, _, query = self.path.partition("?")
        body: Body | None = None
        try:
            body = self._body(app.max_body_bytes)
            response = app.handle(
                Request(self.command, path, query, list(self.headers.items()), self.client_address[0], body)
            )
        except BadRequest as error:
            response = app.refuse("BAD_REQUEST_BODY", 400, str(error))
        except TooLarge as error:
            response = app.refuse("REQUEST_TOO_LARGE", 413, str(error))
        except ClientGone as gone:
            self._access_line(path, f"- client went away ({gone})", started)
            self.close_connection = True
            return
        self._access_line(path, str(response.status), started)
        early = body is None or not body.consumed
        self._write(response, close=early)
        if early:
            self._linger()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def _body(self, cap: int) -> Body:
        transfer_encoding = self.headers.get("Transfer-Encoding")
        if transfer_encoding is not None:
            if transfer_encoding.strip().lower() != "chunked":
                raise BadRequest(f"unsupported Transfer-Encoding {transfer_encoding!r}")
            self._continue()
            data = _read_chunked(self.rfile, cap)
            return Body(self.rfile, len(data), data)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise BadRequest("malformed Content-Length")
        if length > cap:
            raise TooLarge(f"request body larger than {cap} bytes")
        if length:
            self._continue()
        return Body(self.rfile, length)

    def _continue(self) -> None:
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1":
            self.send_response_only(100)
            self.end_headers()

    def _write(self, response: HttpResponse, close: bool) -> None:
        self.close_connection = self.close_connection or close
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client gave up waiting (e.g. its read timeout); nobody to answer
            self.close_connection = True

    def _linger(self) -> None:
        """Closing a socket with unread data makes the kernel send a reset, which can destroy the answer before
        the client reads it. So: say we are done (FIN), then read what the client still sends, bounded."""
        deadline = time.monotonic() + LINGER_S
        budget = LINGER_BYTES
        try:
            self.connection.shutdown(socket.SHUT_WR)
            while budget > 0 and (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(budget, _CHUNK))
                if not chunk:  # the client read the answer and closed
                    return
                budget -= len(chunk)
        except OSError:
            pass

    def _access_line(self, path: str, outcome: str, started: float) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        line(f"{self.command} {path} {outcome} {elapsed_ms:.0f}ms")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        """Only our access line: the default one would repeat it, with the query string."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not block shutdown
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], app: App):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


@dataclass
class LocalServers:
    port: int
    hosts: list[str]
    _servers: list[_Server]
    _threads: list[threading.Thread]

    @property
    def urls(self) -> list[str]:
        return [f"http://{f'[{host}]' if ':' in host else host}:{self.port}" for host in self.hosts]

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)


def serve(app: App, port: int, hosts: tuple[str, ...] = LOOPBACK_HOSTS) -> LocalServers:
    """Serve the app on every host that can be bound (the first must be); port 0 picks a free port."""
    servers = [_Server((hosts[0], port), app)]
    port = servers[0].server_port
    for host in hosts[1:]:
        try:
            servers.append(_Server((host, port), app))
        except OSError as error:  # e.g. no IPv6 loopback in this container
            log(f"not listening on {host}:{port}: {error.strerror or error}")
    threads = [
        threading.Thread(target=server.serve_forever, name=f"http-{server.server_name}", daemon=True)
        for server in servers
    ]
    for thread in threads:
        thread.start()
    return LocalServers(port, [server.server_name for server in servers], servers, threads)


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, so the caller unwinds its servers and processes in order."""
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    return stop
