"""Stored endpoint results, for `rerun_trace_id` (the client's `--rerun TRACE_ID`: "use the stored LLM results").

Items in the UsageTable: `RESULT#<user>#<trace id>` / `<endpoint>#<key>` holding the response body (JSON,
gzip-compressed: candidates are code and compress well under DynamoDB's 400 KB item limit) and `expires_at`.
The user is part of the key, so a trace is found only by the user who ran it. The caller decides what may be
stored (never anything in privacy mode).
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from aiservice.config import get_settings
from aiservice.observability import logger
from aiservice.store.dynamo import dynamodb_client, n, s

RESULT_TTL_S = 30 * 86_400
_MAX_STORED_BYTES = 350_000  # under DynamoDB's 400 KB item limit, keys and attributes included


class ResultStore:
    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        self._client = client or dynamodb_client()
        self._table = table or get_settings().usage_table

    def put(self, user_id: str, trace_id: str, endpoint: str, key: str, body: Any) -> None:
        """Keep `body` for reruns. Best effort: a result too large or a failed write is logged, never raised."""
        blob = gzip.compress(json.dumps(body, separators=(",", ":")).encode())
        if len(blob) > _MAX_STORED_BYTES:
            logger.info("result not stored: too large", extra={"endpoint": endpoint, "bytes": len(blob)})
            return
        now = int(datetime.now(UTC).timestamp())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": s(f"RESULT#{user_id}#{trace_id}"),
                    "sk": s(f"{endpoint}#{key}"),
                    "body": {"B": blob},
                    "expires_at": n(now + RESULT_TTL_S),
                },
            )
        except ClientError:
            logger.exception("could not store a result for reruns", extra={"endpoint": endpoint})

    def get(self, user_id: str, trace_id: str, endpoint: str, key: str) -> Any | None:
        """The stored body, or None when there is none (never stored, another user's trace, or expired)."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": s(f"RESULT#{user_id}#{trace_id}"), "sk": s(f"{endpoint}#{key}")},
        ).get("Item")
        if not item or int(item.get("expires_at", {}).get("N", "0")) < datetime.now(UTC).timestamp():
            return None  # TTL deletes lazily: an expired item may still be read
        return json.loads(gzip.decompress(item["body"]["B"]))
