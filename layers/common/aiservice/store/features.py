"""Optimization features: one item per trace in the OptimizationFeaturesTable (hash key `trace_id`).

The only code that touches that table. Items:
- `trace_id`, `user_id`, `org_id` ("" without an org), `day` (YYYY-MM-DD, UTC, of the trace's first sight),
  `created_at` (ISO 8601), `expires_at` (epoch seconds, DynamoDB TTL, a year and a bit);
- `optimize_requests`: /ai/optimize requests of the trace (`record_run`: the trace is an optimization run);
- `cost_usd`, `llm_calls`: what the trace's model calls cost, added exactly by `UsageStore.settle` in the same
  transaction as the allowance and the daily aggregates (`trace_cost_action`);
- `optimization_found`, `succeeded_at`: set by `mark_success`;
- what the client sends to /ai/log_features (speedups, runtimes, is_correct, best optimization id, and the code
  only outside privacy mode), through `log_features`.

The GSI `by_day` (hash `day`, range `trace_id`) lists a day's traces for the cost report (`traces_of_day`).
Every write sets the identity attributes with if_not_exists, so whichever write comes first creates a whole
item, and later writes never move a trace to another day or owner.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import ClientError

from aiservice.config import get_settings
from aiservice.errors import NotOwner
from aiservice.store.dynamo import dynamodb_client, n, plain, s

FEATURES_TTL_S = 400 * 86_400
BY_DAY_INDEX = "by_day"
# A trace's item is created by its user's first write; every later write must come from the same user.
OWNED_BY_CALLER = "attribute_not_exists(#user_id) OR #user_id = :user_id"

# Written by this module and by settlement only: a client's log_features cannot overwrite them.
PROTECTED_FIELDS = frozenset(
    {
        "trace_id",
        "user_id",
        "org_id",
        "day",
        "created_at",
        "expires_at",
        "cost_usd",
        "llm_calls",
        "optimize_requests",
        "optimization_found",
        "succeeded_at",
        "features_logged_at",
        "dropped_fields",
    }
)
# Fields carrying the user's code or its derivatives: never stored for an org in privacy mode.
CODE_FIELDS = frozenset(
    {
        "optimizations_post",
        "optimizations_raw",
        "original_code",
        "optimized_code",
        "source_code",
        "generated_tests",
        "explanation",
        "original_line_profiler_results",
        "optimized_line_profiler_results",
    }
)
MAX_FIELDS = 64
MAX_STRING_CHARS = 32_000
MAX_FIELD_BYTES = 120_000  # a field bigger than this once serialized is dropped (items cap at 400 KB)
MAX_DEPTH = 8
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Unstorable(ValueError):
    """A value DynamoDB cannot hold (NaN, infinity, an unknown type, nesting too deep)."""


def to_attribute(value: Any, depth: int = 0) -> dict[str, Any] | None:
    """A Python value as a DynamoDB AttributeValue; None (and None inside containers) is dropped.

    Floats become Decimals through str (0.1 stays 0.1); strings are capped at MAX_STRING_CHARS.
    """
    if depth > MAX_DEPTH:
        raise _Unstorable("nested too deep")
    if value is None:
        return None
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unstorable("not a finite number")
        return {"N": str(Decimal(str(value)))}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Unstorable("not a finite number")
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value[:MAX_STRING_CHARS]}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            typed = to_attribute(item, depth + 1)
            if typed is not None:
                out[str(key)[:256]] = typed
        return {"M": out}
    if isinstance(value, (list, tuple)):
        items = [typed for typed in (to_attribute(item, depth + 1) for item in value) if typed is not None]
        return {"L": items}
    raise _Unstorable(f"unsupported type {type(value).__name__}")


def _size(attribute: Mapping[str, Any]) -> int:
    """An upper bound of an AttributeValue's stored size, in bytes."""
    total = 0
    for kind, value in attribute.items():
        if kind == "M":
            total += sum(len(key.encode()) + _size(item) for key, item in value.items()) + 3
        elif kind == "L":
            total += sum(_size(item) + 1 for item in value) + 3
        elif kind == "S":
            total += len(value.encode())
        else:
            total += len(str(value)) + 1
    return total


def _identity(
    trace_id: str, user_id: str, org_id: str | None, now: datetime
) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """SET clauses, names and values that give a new item its owner and day and keep an existing one's."""
    clauses = [
        "#user_id = if_not_exists(#user_id, :user_id)",
        "#org_id = if_not_exists(#org_id, :org_id)",
        "#day = if_not_exists(#day, :day)",
        "#created_at = if_not_exists(#created_at, :created_at)",
        "#expires_at = :expires_at",
    ]
    names = {f"#{name}": name for name in ("user_id", "org_id", "day", "created_at", "expires_at")}
    values = {
        ":user_id": s(user_id),
        ":org_id": s(org_id or ""),
        ":day": s(now.astimezone(UTC).date().isoformat()),
        ":created_at": s(now.astimezone(UTC).isoformat(timespec="seconds")),
        ":expires_at": n(int(now.timestamp()) + FEATURES_TTL_S),
    }
    return clauses, names, values


def trace_cost_action(
    table: str, trace_id: str, user_id: str, org_id: str | None, cost_usd: Decimal, calls: int, now: datetime
) -> dict[str, Any]:
    """The TransactWriteItems Update with which UsageStore.settle adds a request's exact cost to its trace."""
    clauses, names, values = _identity(trace_id, user_id, org_id, now)
    values.update({":cost": n(cost_usd), ":calls": n(calls)})
    return {
        "Update": {
            "TableName": table,
            "Key": {"trace_id": s(trace_id)},
            "UpdateExpression": "SET " + ", ".join(clauses) + " ADD cost_usd :cost, llm_calls :calls",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def trace_owner_check(table: str, trace_id: str, user_id: str) -> dict[str, Any]:
    """The TransactWriteItems ConditionCheck with which UsageStore.admit refuses another user's trace."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"trace_id": s(trace_id)},
            "ConditionExpression": OWNED_BY_CALLER,
            "ExpressionAttributeNames": {"#user_id": "user_id"},
            "ExpressionAttributeValues": {":user_id": s(user_id)},
        }
    }


class FeaturesStore:
    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        self._client = client or dynamodb_client()
        self._table = table or get_settings().features_table

    def record_run(self, trace_id: str, user_id: str, org_id: str | None, now: datetime | None = None) -> None:
        """Mark the trace as an optimization run: called once per /ai/optimize request."""
        clauses, names, values = _identity(trace_id, user_id, org_id, now or datetime.now(UTC))
        values[":one"] = n(1)
        self._update(trace_id, "SET " + ", ".join(clauses) + " ADD optimize_requests :one", names, values)

    def log_features(
        self,
        trace_id: str,
        user_id: str,
        org_id: str | None,
        fields: Mapping[str, Any],
        privacy_mode: bool,
        now: datetime | None = None,
    ) -> list[str]:
        """Upsert what the client reported for the trace (/ai/log_features); the same call twice is a no-op.

        Drops None values, protected names (owner, day, cost, success), malformed names, the code fields in
        privacy mode, and values DynamoDB cannot store or that are too big; returns the names dropped (also
        stored as `dropped_fields` when the call dropped some).
        """
        moment = now or datetime.now(UTC)
        clauses, names, values = _identity(trace_id, user_id, org_id, moment)
        dropped: list[str] = []
        kept = 0
        for name, value in fields.items():
            if value is None:
                continue
            if (
                not isinstance(name, str)
                or not _FIELD_NAME.match(name)
                or name in PROTECTED_FIELDS
                or (privacy_mode and name in CODE_FIELDS)
                or kept >= MAX_FIELDS
            ):
                dropped.append(str(name)[:64])
                continue
            try:
                typed = to_attribute(value)
            except (_Unstorable, InvalidOperation):
                dropped.append(name)
                continue
            if typed is None or _size(typed) > MAX_FIELD_BYTES:
                dropped.append(name)
                continue
            kept += 1
            names[f"#f{kept}"] = name
            values[f":f{kept}"] = typed
            clauses.append(f"#f{kept} = :f{kept}")
        names["#logged"] = "features_logged_at"
        values[":logged"] = s(moment.astimezone(UTC).isoformat(timespec="seconds"))
        clauses.append("#logged = :logged")
        if dropped:
            names["#dropped"] = "dropped_fields"
            values[":dropped"] = {"L": [s(name) for name in sorted(set(dropped))]}
            clauses.append("#dropped = :dropped")
        self._update(trace_id, "SET " + ", ".join(clauses), names, values)
        return sorted(set(dropped))

    def mark_success(self, trace_id: str, user_id: str, org_id: str | None, now: datetime | None = None) -> None:
        """The trace found an optimization: `optimization_found = true`, `succeeded_at` (the first time)."""
        moment = now or datetime.now(UTC)
        clauses, names, values = _identity(trace_id, user_id, org_id, moment)
        clauses += ["optimization_found = :true", "succeeded_at = if_not_exists(succeeded_at, :at)"]
        values.update({":true": {"BOOL": True}, ":at": s(moment.astimezone(UTC).isoformat(timespec="seconds"))})
        self._update(trace_id, "SET " + ", ".join(clauses), names, values)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key={"trace_id": s(trace_id)}, ConsistentRead=True).get(
            "Item"
        )
        return plain_item(item) if item else None

    def traces_of_day(self, day: date | str) -> list[dict[str, Any]]:
        """Every trace first seen on `day` (UTC), through the by_day index, all pages."""
        return list(self.iter_traces_of_day(day))

    def iter_traces_of_day(self, day: date | str) -> Iterator[dict[str, Any]]:
        key = day.isoformat() if isinstance(day, date) else day
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=BY_DAY_INDEX,
            KeyConditionExpression="#day = :day",
            ExpressionAttributeNames={"#day": "day"},
            ExpressionAttributeValues={":day": s(key)},
        )
        for page in pages:
            for item in page["Items"]:
                yield plain_item(item)

    def _update(self, trace_id: str, expression: str, names: dict[str, str], values: dict[str, Any]) -> None:
        """Only the user who created the trace may change it; NotOwner for anybody else."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"trace_id": s(trace_id)},
                UpdateExpression=expression,
                ConditionExpression=OWNED_BY_CALLER,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise NotOwner(f"trace {trace_id} belongs to another user") from None


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A features item as plain values: scalars through store.dynamo.plain, BOOL as bool, M/L kept as-is
    (the report reads only scalars)."""
    scalars = {name: typed for name, typed in item.items() if next(iter(typed)) in ("S", "N", "NULL")}
    out = plain(scalars)
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "BOOL":
            out[name] = bool(value)
        elif kind not in ("S", "N", "NULL"):
            out[name] = typed
    return out
