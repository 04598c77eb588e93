"""Reading the money back: the allowance items, the reservation markers, the daily aggregates, and what the fake
providers reported, priced independently of the service's billing path."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiservice.llm.cost import cost_of
from aiservice.store.usage import UsageStore, month_of
from devserver.fakellm import RecordedRequest, Reply, bedrock, openai_chat
from tests.pipelines.harness import sample

SORTED = "```python:mypkg/sorter.py\ndef sort_list(arr):\n    return sorted(arr)\n```"
# Which model a recorded request was for, under the default routing profile.
MODEL_OF_PROTOCOL = {"bedrock": "claude-sonnet-4-5", "azure": "azure/gpt-5"}


def body_of(name: str, **changes: Any) -> Any:
    body = copy.deepcopy(sample(name)["request_body"])
    body.update(changes, trace_id=changes.get("trace_id", str(uuid.uuid4())))
    return body


def cached_optimize_body(n_candidates: int) -> Any:
    """An /ai/optimize body whose system prompt is long enough to be cached: the first Claude call streams (the
    primer) and the other Claude calls wait for it to begin answering."""
    long_module = "\n\n".join(f"def helper_{i}(values):\n    return [v * {i} for v in values]" for i in range(150))
    body = body_of("03_ai_optimize", n_candidates=n_candidates)
    body["source_code"] = body["source_code"].replace("def sort_list", long_module + "\n\n\ndef sort_list")
    return body


def sent_usage(request: RecordedRequest, reply: Reply, *, broken_stream: bool = False) -> dict[str, Any]:
    """The usage object the fake server sent for `reply`; a broken Bedrock stream reported only its
    message_start usage (input, and 1 output token)."""
    if request.protocol == "bedrock":
        usage = bedrock.usage(request, reply)
        return {**usage, "output_tokens": 1} if broken_stream else usage
    return openai_chat.usage(request, reply)


def price(request: RecordedRequest, reply: Reply, *, broken_stream: bool = False) -> Decimal:
    assert request.protocol is not None
    return cost_of(
        MODEL_OF_PROTOCOL[request.protocol], sent_usage(request, reply, broken_stream=broken_stream)
    ).total_usd


def allowance(level: str, owner: str) -> dict[str, Any]:
    item = UsageStore().allowance(level, owner, month_of(datetime.now(UTC)))
    assert item is not None, f"no {level} allowance item for {owner}"
    return item


def markers_of(user_id: str) -> list[Any]:
    """The user's reservation markers, of any age."""
    later = datetime.now(UTC) + timedelta(days=1)
    return [r for r in UsageStore().stale_reservations(later) if r.user_id == user_id]


def assert_released(user_id: str, org_id: str | None) -> dict[str, dict[str, Any]]:
    """Every level's reservation handed back: nothing reserved, no reservation open, headroom = limit - spent,
    and no marker left for the sweeper. Returns the allowance items by level."""
    items = {}
    for level, owner in (("USER", user_id), ("ORG", org_id)):
        if owner is None:
            continue
        item = allowance(level, owner)
        assert Decimal(item["reserved_usd"]) == 0, item
        assert item["reservations"] == 0, item
        assert Decimal(item["headroom_usd"]) == Decimal(item["limit_usd"]) - Decimal(item.get("spent_usd", 0)), item
        items[level] = item
    assert markers_of(user_id) == []
    return items


def billed_today(user_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The user's daily aggregates of today, by (model, call type)."""
    rows = UsageStore().daily_usage_of_user(user_id, datetime.now(UTC).date())
    return {(row["model"], row["call_type"]): row for row in rows}


def logged_costs(log_lines: Iterable[dict[str, Any]], user_id: str) -> list[Decimal]:
    """The cost of every billed attempt in the llm_call records of the user."""
    return [
        Decimal(line["cost"]["total_usd"])
        for line in log_lines
        if line.get("message") == "llm_call" and line.get("user_id") == user_id and line.get("cost")
    ]
