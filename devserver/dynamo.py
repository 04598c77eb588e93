"""DynamoDB for local runs: an in-process moto server on loopback, and the template's tables created in it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from devserver.template import Stack, local_region

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def use_local_credentials() -> None:
    """Dummy credentials so botocore can sign requests to moto, unless the caller configured any."""
    if not any(name in os.environ for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE")):
        os.environ.update(LOCAL_CREDENTIALS)


@dataclass
class MotoServer:
    url: str
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_moto_server(host: str = "127.0.0.1", port: int = 0) -> MotoServer:
    """Start moto's DynamoDB (all of moto, in fact) on host:port; port 0 picks a free port.

    The data lives in moto's process-wide backends (per account and region), not in the server: servers in
    one process share it, and it outlives stop() until the process exits.
    """
    # Imported here: moto takes about a second to import and worker processes never need it.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    use_local_credentials()
    honour_client_request_tokens()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one access line per DynamoDB call
    app = DomainDispatcherApplication(create_backend_app)
    # threaded=False on purpose: moto's in-memory backend is not thread-safe (a conditional update is a
    # read-then-write). One request at a time makes each request atomic, as DynamoDB guarantees; concurrent
    # Lambda workers still get correct conditional writes and transactions.
    server = make_server(host, port, app, threaded=False, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-dynamodb", daemon=True)
    thread.start()
    bound_host, bound_port = server.socket.getsockname()[:2]  # as bound (port 0: the one chosen)
    return MotoServer(url=f"http://{_url_host(bound_host)}:{bound_port}", _server=server, _thread=thread)


IDEMPOTENCY_WINDOW_S = 600  # DynamoDB: a client request token is valid for 10 minutes after its request


def honour_client_request_tokens() -> None:
    """Make moto's TransactWriteItems idempotent per ClientRequestToken, as DynamoDB's is (moto ignores the token).

    botocore retries a request whose answer did not come within its read timeout, with the same token. DynamoDB
    answers the retry of a transaction it already committed with success and applies nothing; moto applied it
    again. A settlement retried that way (a busy local stack: moto serves one request at a time) then failed on
    its own deleted reservation marker, took the sweeper's path and billed the request a second time (daily
    aggregates and spent), and a retried admission answered 500 with its reservation held. Here, as in
    DynamoDB: the same token with the same items within the window is a success without effect; with other
    items, IdempotentParameterMismatchException. Only committed transactions are remembered (a cancelled one
    wrote nothing). Idempotent itself: patching twice is patching once."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    if getattr(original, "honours_client_request_tokens", False):
        return
    committed: dict[tuple[str, str, str], tuple[str, float]] = {}  # (account, region, token) -> (items, when)
    lock = threading.Lock()

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        key = (str(self.current_account), str(self.region), str(token))
        items = hashlib.sha256(json.dumps(self.body["TransactItems"], sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        with lock:
            for old in [old for old, (_, at) in committed.items() if now - at > IDEMPOTENCY_WINDOW_S]:
                del committed[old]
            seen = committed.get(key)
        if seen is not None:
            if seen[0] != items:
                raise DynamodbException(
                    "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "The request uses the same client token as a previous, but non-identical request.",
                )
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})  # what the commit answered
        result = original(self)
        with lock:
            committed[key] = (items, now)
        return result

    transact_write_items.honours_client_request_tokens = True  # type: ignore[attr-defined]
    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def dynamodb_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 DynamoDB client; endpoint_url None means AWS_ENDPOINT_URL_DYNAMODB or AWS itself."""
    import boto3
    from botocore.config import Config

    # A local endpoint answers at once or not at all: fail in seconds rather than retry for half a minute.
    config = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})
    region_name = region or local_region()
    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region_name, config=config)


def create_tables(client: Any, stack: Stack) -> list[str]:
    """Create the template's tables that do not exist yet (and enable their TTL); returns the created names."""
    existing = set(client.get_paginator("list_tables").paginate().build_full_result().get("TableNames", []))
    created = []
    for table in stack.tables.values():
        name = table.create_table_kwargs["TableName"]
        if name in existing:
            continue
        client.create_table(**table.create_table_kwargs)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True}
            )
        created.append(name)
    return created
