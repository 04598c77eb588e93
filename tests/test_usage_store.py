"""The money-and-limits store against moto's DynamoDB, with real threads where concurrency matters."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from aiservice.config import get_settings
from aiservice.errors import AllowanceExhausted, QuotaExceeded, RateLimited
from aiservice.store.dynamo import dynamodb_client
from aiservice.store.usage import Admission, UsageLine, UsageStore, month_of, seconds_to_next_month, shard_of

# Mid-window and mid-month, so a slow run never crosses a window or month boundary.
NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)


def admission(user_id: str, **overrides: Any) -> Admission:
    unlimited = Admission(
        user_id=user_id,
        org_id=None,
        trace_id=None,
        estimate_usd=Decimal(0),
        counts_toward_quota=False,
        monthly_quota=None,
        user_allowance_usd=None,
        org_allowance_usd=None,
    )
    return replace(unlimited, **overrides)


def allowance(store: UsageStore, level: str, owner: str) -> dict[str, Any]:
    """This month's allowance item, which must exist."""
    item = store.allowance(level, owner, month_of(NOW))
    assert item is not None
    return item


def test_rate_limit_admits_exactly_the_maximum_under_concurrency(settings_env, user_id):
    settings_env(RATE_LIMIT_MAX="40", RATE_LIMIT_WINDOW_MS="60000")
    store = UsageStore()

    def attempt(_: int) -> str:
        try:
            store.admit(admission(user_id), now=NOW)
            return "admitted"
        except RateLimited as refusal:
            assert 1 <= refusal.retry_after_s <= 30
            return "limited"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(100)))
    assert outcomes.count("admitted") == 40
    assert outcomes.count("limited") == 60


def test_rate_limit_window_resets(settings_env, user_id):
    settings_env(RATE_LIMIT_MAX="2", RATE_LIMIT_WINDOW_MS="1000")
    store = UsageStore()
    start = datetime(2026, 11, 22, 12, 0, 0, 100_000, tzinfo=UTC)
    store.admit(admission(user_id), now=start)
    store.admit(admission(user_id), now=start)
    with pytest.raises(RateLimited, match="2 requests per 1 s") as refusal:
        store.admit(admission(user_id), now=start)
    assert refusal.value.retry_after_s == 1
    store.admit(admission(user_id), now=start.replace(second=1))


def test_concurrent_reservations_never_spend_past_the_allowance(settings_env, user_id):
    store = UsageStore()
    limit, estimate = Decimal("1.00"), Decimal("0.05")
    rng = random.Random(7)

    def request(index: int) -> Decimal | None:
        try:
            reservation = store.admit(admission(user_id, estimate_usd=estimate, user_allowance_usd=limit), now=NOW)
        except AllowanceExhausted:
            return None
        if index % 5 == 0:  # a failed call: nothing billed, the reservation is released
            return store.settle(reservation, [], now=NOW)
        actual = Decimal(rng.randint(1, 5)) / 100
        line = UsageLine(model="m", call_type="optimize", cost_usd=actual, tokens={"output_tokens": 10})
        return store.settle(reservation, [line], now=NOW)

    with ThreadPoolExecutor(max_workers=25) as pool:
        settled = list(pool.map(request, range(50)))
    admitted = [amount for amount in settled if amount is not None]
    # 50 x $0.05 asked, $1.00 allowed: settlement frees unused money while others are still asking, so at
    # least 20 get in, and what they spent can never pass the limit.
    assert len(admitted) >= 20
    item = allowance(store, "USER", user_id)
    assert item["spent_usd"] == sum(admitted) <= limit
    assert item["reserved_usd"] == 0
    assert item["reservations"] == 0
    assert item["headroom_usd"] == limit - item["spent_usd"]


def test_allowance_spent_to_the_cent_then_refused(settings_env, user_id):
    store = UsageStore()
    ask = admission(user_id, estimate_usd=Decimal("0.05"), user_allowance_usd=Decimal("1.00"))

    def spend_all(_: int) -> bool:
        try:
            reservation = store.admit(ask, now=NOW)
        except AllowanceExhausted:
            return False
        store.settle(reservation, [UsageLine(model="m", call_type="t", cost_usd=Decimal("0.05"))], now=NOW)
        return True

    with ThreadPoolExecutor(max_workers=25) as pool:
        assert sum(pool.map(spend_all, range(50))) == 20
    assert allowance(store, "USER", user_id)["spent_usd"] == Decimal("1.00")
    with pytest.raises(AllowanceExhausted, match=r"user monthly spend allowance \(\$1.00\)"):
        store.admit(ask, now=NOW)


def test_user_and_org_are_reserved_together_or_not_at_all(settings_env, user_id):
    store = UsageStore()
    org = f"org-{user_id}"
    ask = admission(
        user_id,
        org_id=org,
        estimate_usd=Decimal("0.05"),
        user_allowance_usd=Decimal("10"),
        org_allowance_usd=Decimal("0.10"),
    )
    store.admit(ask, now=NOW)
    store.admit(ask, now=NOW)
    with pytest.raises(AllowanceExhausted, match="org monthly spend allowance"):
        store.admit(ask, now=NOW)
    user_item = allowance(store, "USER", user_id)
    assert user_item["reserved_usd"] == Decimal("0.10")  # the refused request left nothing on the user
    assert allowance(store, "ORG", org)["headroom_usd"] == 0


def test_a_request_dearer_than_the_whole_allowance_is_refused_before_any_write(settings_env, user_id):
    store = UsageStore()
    with pytest.raises(AllowanceExhausted, match="below this request's worst-case cost"):
        store.admit(admission(user_id, estimate_usd=Decimal("6"), user_allowance_usd=Decimal("5")), now=NOW)
    assert store.allowance("USER", user_id, month_of(NOW)) is None


def test_actual_cost_above_the_estimate_is_billed_in_full(settings_env, user_id):
    store = UsageStore()
    ask = admission(user_id, estimate_usd=Decimal("0.40"), user_allowance_usd=Decimal("0.50"))
    reservation = store.admit(ask, now=NOW)
    store.settle(reservation, [UsageLine(model="m", call_type="t", cost_usd=Decimal("0.60"))], now=NOW)
    item = allowance(store, "USER", user_id)
    assert item["spent_usd"] == Decimal("0.60")
    assert item["headroom_usd"] == Decimal("-0.10")
    with pytest.raises(AllowanceExhausted):
        store.admit(admission(user_id, estimate_usd=Decimal("0.01"), user_allowance_usd=Decimal("0.50")), now=NOW)


def test_a_trace_counts_once_against_the_quota(settings_env, user_id):
    store = UsageStore()

    def optimize(trace: str) -> Admission:
        return admission(user_id, trace_id=trace, counts_toward_quota=True, monthly_quota=2)

    store.admit(optimize(f"{user_id}-trace-1"), now=NOW)
    store.admit(optimize(f"{user_id}-trace-1"), now=NOW)  # a retry of the same optimization
    store.admit(optimize(f"{user_id}-trace-2"), now=NOW)
    assert store.quota_used(user_id, month_of(NOW)) == 2
    with pytest.raises(QuotaExceeded, match="monthly optimization quota of 2") as refusal:
        store.admit(optimize(f"{user_id}-trace-3"), now=NOW)
    assert refusal.value.retry_after_s == seconds_to_next_month(NOW)
    store.admit(optimize(f"{user_id}-trace-1"), now=NOW)  # follow-ups of counted traces still go through
    store.admit(admission(user_id, trace_id=f"{user_id}-trace-3"), now=NOW)  # calls that do not count go through
    assert store.quota_used(user_id, month_of(NOW)) == 2


def test_concurrent_calls_of_one_new_trace_count_once(settings_env, user_id):
    store = UsageStore()
    ask = admission(user_id, trace_id=f"{user_id}-trace-x", counts_toward_quota=True, monthly_quota=5)
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda _: store.admit(ask, now=NOW), range(10)))
    assert store.quota_used(user_id, month_of(NOW)) == 1


def test_settlement_feeds_the_daily_aggregates(settings_env, user_id):
    store = UsageStore()
    other = f"{user_id}-other"
    for who, cost in ((user_id, "0.25"), (user_id, "0.50"), (other, "1.00")):
        reservation = store.admit(admission(who, org_id="org-a"), now=NOW)
        store.settle(
            reservation,
            [
                UsageLine(
                    model="claude-sonnet-4-5",
                    call_type="optimize",
                    cost_usd=Decimal(cost),
                    tokens={"input_tokens": 100, "output_tokens": 20},
                ),
                UsageLine(
                    model="claude-sonnet-4-5",
                    call_type="optimize",
                    cost_usd=Decimal(0),
                    tokens={"cache_read_tokens": 7},
                ),
            ],
            now=NOW,
        )
    rows = store.daily_usage_of_user(user_id, NOW.date())
    assert len(rows) == 1
    row = rows[0]
    assert (row["calls"], row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (4, 200, 40, 14)
    assert row["cost_usd"] == Decimal("0.75")
    assert (row["user_id"], row["org_id"], row["model"], row["call_type"]) == (
        user_id,
        "org-a",
        "claude-sonnet-4-5",
        "optimize",
    )
    day = {(r["user_id"], r["cost_usd"]) for r in store.daily_usage(NOW.date()) if r["user_id"] in (user_id, other)}
    assert day == {(user_id, Decimal("0.75")), (other, Decimal("1.00"))}
    assert store.daily_usage_of_user(user_id, date(2026, 11, 21)) == []


def test_a_usage_line_refuses_token_kinds_it_would_drop():
    with pytest.raises(ValueError, match="unknown token kinds"):
        UsageLine(model="m", call_type="t", cost_usd=Decimal(0), tokens={"prompt_tokens": 5})


def test_two_users_with_the_same_trace_id_each_count_it(settings_env, user_id):
    """The trace marker is the user's own (TRACE#<user>#<trace>): trace ids come from the client, so another
    user's trace of the same id must not pass as already counted."""
    store = UsageStore()
    other = f"{user_id}-other"
    for who in (user_id, other):
        store.admit(admission(who, trace_id="shared-trace", counts_toward_quota=True, monthly_quota=5), now=NOW)
    assert store.quota_used(user_id, month_of(NOW)) == 1
    assert store.quota_used(other, month_of(NOW)) == 1
    for who in (user_id, other):
        marker = dynamodb_client().get_item(
            TableName=get_settings().usage_table, Key={"pk": {"S": f"TRACE#{who}#shared-trace"}, "sk": {"S": "QUOTA"}}
        )
        assert "Item" in marker


# sha256(user)[:4] as a big-endian integer, modulo the shard count: computed once, by hand, and pinned, because
# aggregates written by one deploy are read by the next (a process-seeded hash() would scatter them).
@pytest.mark.parametrize(
    "user, shards, shard",
    [("user-1", 16, 4), ("alice", 16, 9), ("u", 16, 14), ("org-admin@example.com", 16, 5), ("user-1", 1000, 52),
     ("alice", 1000, 801), ("alice", 7, 0), ("pinned-shard-user", 16, 9)],
)  # fmt: skip
def test_the_shard_of_a_user_is_pinned(user, shards, shard):
    assert shard_of(user, shards) == shard


def test_a_users_aggregates_live_in_the_pinned_shard(settings_env):
    settings_env(USAGE_SHARDS="16")
    store, model = UsageStore(), f"model-{uuid.uuid4().hex[:8]}"  # a fresh aggregate item in a shared table
    reservation = store.admit(admission("pinned-shard-user"), now=NOW)
    store.settle(reservation, [UsageLine(model=model, call_type="optimize", cost_usd=Decimal("0.01"))], now=NOW)
    item = dynamodb_client().get_item(
        TableName=get_settings().usage_table,
        Key={"pk": {"S": "DAY#2026-11-22#009"}, "sk": {"S": f"pinned-shard-user#-#{model}#optimize"}},
    )
    assert item["Item"]["cost_usd"] == {"N": "0.01"}


def test_numbers_are_written_in_positional_notation():
    from aiservice.store.dynamo import n

    assert n(Decimal("0E-7")) == {"N": "0.0000000"}
    assert n(Decimal("0.0026000") - Decimal("0.002600")) == {"N": "0.0000000"}
    assert n(Decimal("1E+2")) == {"N": "100"}
    assert n(7) == {"N": "7"}


def test_admission_refuses_another_users_trace_and_writes_nothing(settings_env, user_id):
    from aiservice.errors import NotOwner
    from aiservice.store.features import FeaturesStore

    store = UsageStore()
    trace = f"trace-{uuid.uuid4().hex}"
    FeaturesStore().record_run(trace, "the-owner", None)
    with pytest.raises(NotOwner):
        store.admit(admission(user_id, trace_id=trace, counts_toward_quota=True, monthly_quota=10))
    assert store.quota_used(user_id, month_of(datetime.now(UTC))) == 0
    store.admit(admission("the-owner", trace_id=trace))  # its owner is admitted
