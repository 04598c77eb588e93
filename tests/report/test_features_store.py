"""FeaturesStore against moto with the template's table (and its by_day index); the trace cost from settle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiservice.store.usage import Admission, UsageLine

NOW = datetime(2031, 3, 4, 23, 59, 30, tzinfo=UTC)


def trace() -> str:
    return f"t-{uuid.uuid4().hex}"


def test_record_run_log_features_and_success(stores, user_id) -> None:
    _, features = stores
    trace_id = trace()
    features.record_run(trace_id, user_id, "org-1", now=NOW)
    features.record_run(trace_id, user_id, "org-1", now=NOW + timedelta(days=1))  # a retry the next day
    dropped = features.log_features(
        trace_id,
        user_id,
        "org-1",
        {
            "speedup_ratio": 1.1,
            "original_runtime": 1234,
            "is_correct": {"0": True, "1": False},
            "best_optimization_id": "opt-2",
            "optimizations_post": {"opt-2": "def f(): ..."},
            "metadata": None,
            "cost_usd": "0",
            "bad name!": 1,
            "nan": float("nan"),
            "huge": "x" * 500_000,
        },
        privacy_mode=False,
        now=NOW,
    )
    assert dropped == ["bad name!", "cost_usd", "nan"]
    features.mark_success(trace_id, user_id, "org-1", now=NOW + timedelta(minutes=5))
    features.mark_success(trace_id, user_id, "org-1", now=NOW + timedelta(hours=5))
    item = features.get(trace_id)
    assert item is not None
    assert (item["user_id"], item["org_id"], item["day"]) == (user_id, "org-1", "2031-03-04")  # first sight wins
    assert item["optimize_requests"] == 2
    assert item["speedup_ratio"] == Decimal("1.1")  # via str: not 1.100000000000000088817841970012523
    assert item["optimization_found"] is True and item["succeeded_at"] == "2031-03-05T00:04:30+00:00"
    assert (
        "optimizations_post" in item
        and len(item["huge"]["S"] if isinstance(item["huge"], dict) else item["huge"]) == 32_000
    )
    assert item["expires_at"] > NOW.timestamp() + 390 * 86_400
    # idempotent: the same features again change nothing but the timestamp
    features.log_features(trace_id, user_id, "org-1", {"speedup_ratio": 1.1}, privacy_mode=False, now=NOW)
    assert features.get(trace_id)["speedup_ratio"] == Decimal("1.1")


def test_privacy_mode_never_stores_code(stores, user_id) -> None:
    _, features = stores
    trace_id = trace()
    dropped = features.log_features(
        trace_id, user_id, None, {"optimizations_post": {"a": "code"}, "speedup_ratio": 2.0}, privacy_mode=True
    )
    item = features.get(trace_id)
    assert "optimizations_post" not in item and dropped == ["optimizations_post"]
    assert item["speedup_ratio"] == Decimal("2.0") and item["org_id"] == ""


def test_traces_of_day_pages_through_the_index(stores, user_id) -> None:
    _, features = stores
    day = datetime(2032, 7, 1, 12, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 3000)
    ids = {trace() for _ in range(30)}
    for trace_id in ids:
        features.record_run(trace_id, user_id, None, now=day)
    features.record_run(trace(), user_id, None, now=day + timedelta(days=1))
    features._client.meta.events.register("provide-client-params.dynamodb.Query", _small_pages)
    try:
        found = features.traces_of_day(day.date())
    finally:
        features._client.meta.events.unregister("provide-client-params.dynamodb.Query", _small_pages)
    assert {item["trace_id"] for item in found} == ids


def _small_pages(params, **_) -> None:
    params["Limit"] = 7  # force several pages


def test_settle_adds_the_exact_cost_to_the_trace_in_the_same_transaction(stores, user_id) -> None:
    usage, features = stores
    trace_id = trace()
    calls = []
    usage._client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    try:
        for cost in (Decimal("0.0000123"), Decimal("0.25")):
            reservation = usage.admit(
                Admission(
                    user_id=user_id,
                    org_id="org-9",
                    trace_id=trace_id,
                    estimate_usd=Decimal("1"),
                    counts_toward_quota=False,
                    monthly_quota=None,
                    user_allowance_usd=Decimal("10"),
                    org_allowance_usd=None,
                ),
                now=NOW,
            )
            usage.settle(
                reservation,
                [UsageLine("azure/gpt-5", "optimize", cost, calls=2), UsageLine("claude-haiku-4-5", "testgen", cost)],
                now=NOW,
            )
    finally:
        usage._client.meta.events.unregister("before-call.dynamodb", calls.append)
    assert calls == ["TransactWriteItems"] * 4  # still two requests per call
    item = features.get(trace_id)
    assert item["cost_usd"] == Decimal("0.5000246") and item["llm_calls"] == 6
    assert (item["user_id"], item["org_id"], item["day"]) == (user_id, "org-9", "2031-03-04")
    assert "optimize_requests" not in item  # a cost alone does not make the trace an optimization run

    # no trace id, or nothing billed: no features item
    reservation = usage.admit(Admission(user_id, None, None, Decimal(0), False, None, None, None), now=NOW)
    usage.settle(reservation, [UsageLine("azure/gpt-5", "optimize", Decimal("0.1"))], now=NOW)
    other = trace()
    reservation = usage.admit(Admission(user_id, None, other, Decimal(0), False, None, None, None), now=NOW)
    usage.settle(reservation, [], now=NOW)
    assert features.get(other) is None


def test_only_the_traces_owner_may_change_it(stores, user_id) -> None:
    import pytest

    from aiservice.errors import NotOwner

    _, features = stores
    trace_id = trace()
    features.record_run(trace_id, user_id, None, now=NOW)
    for write in (
        lambda: features.record_run(trace_id, "intruder", None, now=NOW),
        lambda: features.mark_success(trace_id, "intruder", None, now=NOW),
        lambda: features.log_features(trace_id, "intruder", None, {"speedup_ratio": 9.9}, privacy_mode=False),
    ):
        with pytest.raises(NotOwner):
            write()
    item = features.get(trace_id)
    assert item is not None and item["user_id"] == user_id
    assert "optimization_found" not in item and "speedup_ratio" not in item and item["optimize_requests"] == 1
