"""`make run`'s HTTP: the local API Gateway on the shared front (devserver.front), on IPv4 and IPv6 loopback."""

from __future__ import annotations

import uuid

from devserver.events import HttpRequest
from devserver.front import LOOPBACK_HOSTS, HttpResponse, LocalServers, Request
from devserver.front import serve as serve_app
from devserver.gateway import MAX_BODY_BYTES, ApiGateway
from devserver.openapi import LocalDocs


class _GatewayApp:
    """The gateway as the front's App: whole bodies in, its gateway responses for the front's refusals."""

    max_body_bytes = MAX_BODY_BYTES

    def __init__(self, gateway: ApiGateway):
        self._gateway = gateway
        self._docs = LocalDocs(gateway.stack)  # GET /openapi.json and /docs: the local run only

    def handle(self, request: Request) -> HttpResponse:
        docs = self._docs.answer(request.method, request.path)
        if docs is not None:
            return docs
        return self._gateway.handle(
            HttpRequest(
                request.method,
                request.path,
                request.query,
                request.headers,
                request.body.read(),
                source_ip=request.source_ip,
            )
        )

    def refuse(self, kind: str, status: int, message: str) -> HttpResponse:
        return self._gateway.responses.render(kind, status, message, str(uuid.uuid4()))


def serve(gateway: ApiGateway, port: int, hosts: tuple[str, ...] = LOOPBACK_HOSTS) -> LocalServers:
    """Serve the gateway on every host that can be bound (the first must be); port 0 picks a free port."""
    return serve_app(_GatewayApp(gateway), port, hosts)
