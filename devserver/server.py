"""HTTP/1.1 in front of ApiGateway: threaded, keep-alive aware, on IPv4 and IPv6 loopback."""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devserver.console import log
from devserver.events import HttpRequest
from devserver.gateway import MAX_BODY_BYTES, ApiGateway, HttpResponse

LOOPBACK_HOSTS = ("127.0.0.1", "::1")  # `localhost` may resolve to either; the codeflash client tries both
_READ_CHUNK = 1 << 20


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client sends Connection: close
    server_version = "devserver"
    timeout = 120  # drop idle keep-alive connections
    server: _GatewayServer

    def _serve(self) -> None:
        started = time.monotonic()
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ValueError:  # the request's framing is broken, so is the rest of the connection
            self.close_connection = True
            response = self.server.gateway.responses.render(
                "BAD_REQUEST_BODY", 400, "malformed Content-Length or chunked body", str(uuid.uuid4()))
        else:
            headers = list(self.headers.items())
            response = self.server.gateway.handle(HttpRequest(self.command, path, query, headers, body,
                                                              source_ip=self.client_address[0]))
        # One access line; the path only: query strings and headers (Authorization!) stay out of logs.
        elapsed_ms = (time.monotonic() - started) * 1000
        print(f"{self.command} {path} {response.status} {elapsed_ms:.0f}ms", file=sys.stderr, flush=True)
        self._write(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def _read_body(self) -> bytes:
        """At most MAX_BODY_BYTES + 1 bytes are kept (enough to refuse the request); the rest is drained."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError(f"negative Content-Length {length}")
        body = self.rfile.read(min(length, MAX_BODY_BYTES + 1))
        self._drain(length - len(body))
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            if len(body) <= MAX_BODY_BYTES:
                body += self.rfile.read(size)
            else:
                self._drain(size)
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return bytes(body)

    def _drain(self, remaining: int) -> None:
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _READ_CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)

    def _write(self, response: HttpResponse) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except ConnectionError:  # the client gave up waiting (e.g. its read timeout); nobody to answer
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        """Only our access line (see _serve): the default one would repeat it, with the query string."""


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not block shutdown

    def __init__(self, address: tuple[str, int], gateway: ApiGateway):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.gateway = gateway
        super().__init__(address, _GatewayRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


@dataclass
class LocalServers:
    port: int
    hosts: list[str]
    _servers: list[_GatewayServer]
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


def serve(gateway: ApiGateway, port: int, hosts: tuple[str, ...] = LOOPBACK_HOSTS) -> LocalServers:
    """Serve the gateway on every host that can be bound (the first must be); port 0 picks a free port."""
    servers = [_GatewayServer((hosts[0], port), gateway)]
    port = servers[0].server_port
    for host in hosts[1:]:
        try:
            servers.append(_GatewayServer((host, port), gateway))
        except OSError as error:  # e.g. no IPv6 loopback in this container
            log(f"not listening on {host}:{port}: {error.strerror or error}")
    threads = [
        threading.Thread(target=server.serve_forever, name=f"http-{server.server_name}", daemon=True)
        for server in servers
    ]
    for thread in threads:
        thread.start()
    return LocalServers(port, [str(server.server_name) for server in servers], servers, threads)
