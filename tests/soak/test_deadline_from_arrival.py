"""What the fault soak found (bench/soak.py): the handlers' deadline counted from the handler's start, while API
Gateway's timeout runs from the request's arrival. Whatever came first (the authorizer, a cold start, a restore)
pushed the handler's answer past the gateway's 504: the client lost the candidates it was billed for, and the
local stack, which stops a worker at the integration timeout, left its reservation held. The deadline now counts
from `requestContext.requestTimeEpoch`."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from aiservice.http import received_at, request_scope

AUTHORIZER = {"user_id": "u-1", "plan": "pro", "org_id": "", "privacy_mode": "false", "key_id": "k"}


def scope_of(event: dict[str, Any], remaining_ms: int = 31_000) -> Any:
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: remaining_ms)
    app: Any = SimpleNamespace(current_event=SimpleNamespace(raw_event=event), lambda_context=context)
    return request_scope(app)


def event_received(seconds_ago: float) -> dict[str, Any]:
    epoch_ms = int((time.time() - seconds_ago) * 1000)
    return {"requestContext": {"requestTimeEpoch": epoch_ms, "authorizer": AUTHORIZER}}


def test_the_deadline_counts_from_the_requests_arrival():
    # 6 s went to a cold start before the handler ran: 29 s from arrival, less the margin, leaves 22 s.
    assert 21.5 < scope_of(event_received(6)).deadline.remaining_s() <= 22.0


def test_a_fresh_request_keeps_the_whole_budget():
    assert 27.5 < scope_of(event_received(0)).deadline.remaining_s() <= 28.0


def test_the_lambdas_own_remaining_time_still_wins_when_sooner():
    assert 8.5 < scope_of(event_received(1), remaining_ms=10_000).deadline.remaining_s() <= 9.0


@pytest.mark.parametrize(
    "context",
    [
        {"requestTimeEpoch": 1428582896000},  # the sample events' (2015): no gateway still waits for it
        {"requestTimeEpoch": int((time.time() + 60) * 1000)},  # in the future: a skewed clock
        {"requestTimeEpoch": "1428582896000"},
        {},
    ],
)
def test_an_arrival_no_waiting_gateway_can_have_sent_counts_from_the_handlers_start(context):
    assert received_at({"requestContext": context}) is None
    event = {"requestContext": {**context, "authorizer": AUTHORIZER}}
    assert 27.5 < scope_of(event).deadline.remaining_s() <= 28.0
