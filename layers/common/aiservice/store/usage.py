"""Rate limits, plan quotas, spend allowances and daily usage, in the UsageTable (keys `pk`, `sk`).

The hot path of an authenticated call makes two requests, each a single TransactWriteItems:
- `admit`: the rate-limit window counter, the monthly quota (a trace counts once) and the worst-case cost
  reserved against the user's and the org's monthly allowance. All conditions hold together or nothing is
  written, so concurrent requests can never spend past an allowance or slip past a limit.
- `settle`: the reservation turned into the real cost (the unused part handed back) and the daily aggregates.
A reservation also writes a marker item in the admit transaction, which settle deletes (condition: it exists),
so that `sweep_reservations` can find and release the reservations of a Lambda killed between admit and settle;
its release deletes the marker under the same condition, so a settle and a sweep never both return the money.

Items:
- `RATE#<user>` / `<window start ms>`: n                                        (fixed window)
- `QUOTA#<user>` / `<YYYY-MM>`: count                                           (optimizations this month)
- `TRACE#<user>#<trace id>` / `QUOTA`: marks a trace as counted
- `ALLOWANCE#USER#<user>` or `ALLOWANCE#ORG#<org>` / `<YYYY-MM>`:
  limit_usd, headroom_usd (= limit - spent - reserved), spent_usd, reserved_usd, reservations
- `RESERVATION#<YYYY-MM>#<shard>` / `<created ms, 13 digits>#<reservation id>`: user_id, org_id, amount_usd,
  user_level, org_level, created_ms (a reservation not settled yet; sorted by age, so the stale ones are a Query)
- `DAY#<YYYY-MM-DD>#<shard>` / `<user>#<org>#<model>#<call type>`: calls, tokens by kind, cost_usd.
  The shard is a stable hash of the user, so one user's day is one query and a whole day is `shards` queries
  spread over as many partitions (no hot partition for the cost report).
Every item carries `expires_at` (epoch seconds) for DynamoDB TTL; the window and month in the key, not TTL,
scope a count (TTL deletes lazily).
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from botocore.exceptions import ClientError

from aiservice.config import get_settings
from aiservice.errors import AllowanceExhausted, NotOwner, QuotaExceeded, RateLimited
from aiservice.store.dynamo import condition_failures, dynamodb_client, n, plain, s
from aiservice.store.features import trace_cost_action, trace_owner_check

if TYPE_CHECKING:  # the stubs are a dev dependency, not in the layer
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Action: TypeAlias = dict[str, Any]  # one TransactWriteItems entry, as the low-level client takes it

_DAY = 86_400
_TRACE_TTL_S = 62 * _DAY  # longer than a month: a trace can straddle a month boundary
_COUNTER_TTL_S = 400 * _DAY  # a year of history for reports and disputes
_MARKER_TTL_S = 62 * _DAY  # far past any sweep: TTL must never delete a marker before the sweeper releases it
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class Admission:
    """What one request asks of the limits. A limit of None is unlimited."""

    user_id: str
    org_id: str | None
    trace_id: str | None
    estimate_usd: Decimal
    counts_toward_quota: bool
    monthly_quota: int | None
    user_allowance_usd: Decimal | None
    org_allowance_usd: Decimal | None


@dataclass(frozen=True)
class Reservation:
    """Money held by `admit` until `settle`. Settle it exactly once, whatever happens to the request."""

    reservation_id: str
    user_id: str
    org_id: str | None
    period: str
    amount_usd: Decimal
    user_level: bool
    org_level: bool
    trace_id: str | None = None  # settle adds the cost to this trace's optimization features
    marker: tuple[str, str] | None = None  # (pk, sk) of its RESERVATION# item; None: no money held, no marker


@dataclass(frozen=True)
class UsageLine:
    """The billed usage of one model for one call type within a request."""

    model: str
    call_type: str
    cost_usd: Decimal
    calls: int = 1
    tokens: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.tokens) - set(TOKEN_KINDS)
        if unknown:  # a kind we would silently drop from the aggregates
            raise ValueError(f"unknown token kinds {sorted(unknown)}; expected some of {TOKEN_KINDS}")


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def seconds_to_next_month(moment: datetime) -> int:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return max(1, math.ceil((next_month - moment).total_seconds()))


def shard_of(user_id: str, shards: int) -> int:
    """Stable across processes and deploys (unlike hash())."""
    return int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:4], "big") % shards


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class UsageStore:
    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        settings = get_settings()
        self._client = client or dynamodb_client()
        self._table = table or settings.usage_table
        self._rate_max = settings.rate_limit_max
        self._rate_window_ms = settings.rate_limit_window_ms
        self._shards = settings.usage_shards
        self._features_table = settings.features_table

    # ------------------------------------------------------------------ admit
    def admit(self, admission: Admission, now: datetime | None = None) -> Reservation:
        """Count the request against the rate limit and quota and reserve its worst-case cost, atomically.

        Raises RateLimited, QuotaExceeded or AllowanceExhausted; on any of them nothing was written.
        """
        now = now or datetime.now(UTC)
        for level, limit in (("user", admission.user_allowance_usd), ("org", admission.org_allowance_usd)):
            if limit is not None and admission.estimate_usd > limit:
                raise AllowanceExhausted(
                    f"the {level} monthly spend allowance (${limit}) is below this request's worst-case cost "
                    f"(${admission.estimate_usd})"
                )
        count_quota = admission.counts_toward_quota and admission.trace_id is not None
        try:
            return self._admit(admission, now, count_quota)
        except _TraceAlreadyCounted:
            # A retry or a follow-up call of an optimization already counted: admit it without the quota.
            return self._admit(admission, now, count_quota=False)

    def _admit(self, admission: Admission, now: datetime, count_quota: bool) -> Reservation:
        period = month_of(now)
        reservation = Reservation(
            reservation_id=uuid.uuid4().hex,
            user_id=admission.user_id,
            org_id=admission.org_id,
            period=period,
            amount_usd=admission.estimate_usd,
            user_level=admission.estimate_usd > 0 and admission.user_allowance_usd is not None,
            org_level=admission.estimate_usd > 0
            and admission.org_id is not None
            and admission.org_allowance_usd is not None,
            trace_id=admission.trace_id,
        )
        if reservation.user_level or reservation.org_level:
            created_ms = int(now.timestamp() * 1000)
            marker = (
                f"RESERVATION#{period}#{shard_of(admission.user_id, self._shards):03d}",
                f"{created_ms:013d}#{reservation.reservation_id}",
            )
            reservation = replace(reservation, marker=marker)
        window_start_ms = int(now.timestamp() * 1000) // self._rate_window_ms * self._rate_window_ms
        window_end = datetime.fromtimestamp((window_start_ms + self._rate_window_ms) / 1000, UTC)

        items: list[tuple[str, Action]] = [("rate", self._rate_update(admission.user_id, window_start_ms, window_end))]
        if count_quota and admission.monthly_quota is not None:
            assert admission.trace_id is not None  # count_quota: there is a trace to count
            items.append(("trace", self._trace_put(admission.user_id, admission.trace_id, now)))
            items.append(("quota", self._quota_update(admission.user_id, period, admission.monthly_quota, now)))
        if reservation.user_level:
            assert admission.user_allowance_usd is not None  # user_level: the user has a limit
            user_pk = f"ALLOWANCE#USER#{admission.user_id}"
            items.append(("user", self._reserve(user_pk, reservation, admission.user_allowance_usd, now)))
        if reservation.org_level:
            assert admission.org_allowance_usd is not None  # org_level: the org has a limit
            org_pk = f"ALLOWANCE#ORG#{admission.org_id}"
            items.append(("org", self._reserve(org_pk, reservation, admission.org_allowance_usd, now)))
        if reservation.marker is not None:
            items.append(("marker", self._marker_put(reservation, now)))
        if admission.trace_id is not None:  # another user's trace is refused before anything is spent on it
            items.append(("owner", trace_owner_check(self._features_table, admission.trace_id, admission.user_id)))

        try:
            self._client.transact_write_items(
                TransactItems=_transaction(action for _, action in items),
                ClientRequestToken=reservation.reservation_id,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            failed = {name for (name, _), did_fail in zip(items, condition_failures(error), strict=False) if did_fail}
            self._raise_refusal(failed, admission, now, window_end)
            raise
        return reservation

    def _raise_refusal(self, failed: set[str], admission: Admission, now: datetime, window_end: datetime) -> None:
        if "owner" in failed:
            raise NotOwner(f"trace {admission.trace_id} belongs to another user")
        if "rate" in failed:
            retry_after = max(1, math.ceil((window_end - now).total_seconds()))
            raise RateLimited(
                f"rate limit of {self._rate_max} requests per {self._rate_window_ms // 1000} s reached; "
                f"retry after {retry_after} s",
                retry_after_s=retry_after,
            )
        if "trace" in failed:
            raise _TraceAlreadyCounted
        if "quota" in failed:
            raise QuotaExceeded(
                f"monthly optimization quota of {admission.monthly_quota} reached for this plan; "
                f"it resets on the 1st (UTC)",
                retry_after_s=seconds_to_next_month(now),
            )
        for level in ("user", "org"):
            if level in failed:
                limit = admission.user_allowance_usd if level == "user" else admission.org_allowance_usd
                raise AllowanceExhausted(
                    f"the {level} monthly spend allowance (${limit}) cannot cover this request's worst-case "
                    f"cost (${admission.estimate_usd})"
                )

    def _rate_update(self, user_id: str, window_start_ms: int, window_end: datetime) -> Action:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": s(f"RATE#{user_id}"), "sk": s(str(window_start_ms))},
                "UpdateExpression": "ADD n :one SET expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(n) OR n < :max",
                "ExpressionAttributeValues": {
                    ":one": n(1),
                    ":max": n(self._rate_max),
                    ":expires": n(_epoch(window_end) + 3600),
                },
            }
        }

    def _trace_put(self, user_id: str, trace_id: str, now: datetime) -> Action:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": s(f"TRACE#{user_id}#{trace_id}"),
                    "sk": s("QUOTA"),
                    "expires_at": n(_epoch(now) + _TRACE_TTL_S),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _quota_update(self, user_id: str, period: str, quota: int, now: datetime) -> Action:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": s(f"QUOTA#{user_id}"), "sk": s(period)},
                "UpdateExpression": "ADD #count :one SET expires_at = if_not_exists(expires_at, :expires)",
                "ConditionExpression": "attribute_not_exists(#count) OR #count < :quota",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": {
                    ":one": n(1),
                    ":quota": n(quota),
                    ":expires": n(_epoch(now) + _COUNTER_TTL_S),
                },
            }
        }

    def _reserve(self, pk: str, reservation: Reservation, limit: Decimal, now: datetime) -> Action:
        # DynamoDB conditions cannot add, so the item keeps headroom = limit - spent - reserved and the
        # condition compares it with the amount. The first reservation of a month starts it at the limit.
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": s(pk), "sk": s(reservation.period)},
                "UpdateExpression": (
                    "SET headroom_usd = if_not_exists(headroom_usd, :limit) - :amount, "
                    "limit_usd = if_not_exists(limit_usd, :limit), "
                    "expires_at = if_not_exists(expires_at, :expires) "
                    "ADD reserved_usd :amount, reservations :one"
                ),
                "ConditionExpression": "attribute_not_exists(headroom_usd) OR headroom_usd >= :amount",
                "ExpressionAttributeValues": {
                    ":limit": n(limit),
                    ":amount": n(reservation.amount_usd),
                    ":one": n(1),
                    ":expires": n(_epoch(now) + _COUNTER_TTL_S),
                },
            }
        }

    def _marker_put(self, reservation: Reservation, now: datetime) -> Action:
        assert reservation.marker is not None
        pk, sk = reservation.marker
        item = {
            "pk": s(pk),
            "sk": s(sk),
            "reservation_id": s(reservation.reservation_id),
            "user_id": s(reservation.user_id),
            "period": s(reservation.period),
            "amount_usd": n(reservation.amount_usd),
            "user_level": {"BOOL": reservation.user_level},
            "org_level": {"BOOL": reservation.org_level},
            "created_ms": n(int(sk.split("#", 1)[0])),
            "expires_at": n(_epoch(now) + _MARKER_TTL_S),
        }
        if reservation.org_id is not None:
            item["org_id"] = s(reservation.org_id)
        if reservation.trace_id is not None:
            item["trace_id"] = s(reservation.trace_id)
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    # ------------------------------------------------------------------ settle
    def settle(self, reservation: Reservation, lines: Iterable[UsageLine], now: datetime | None = None) -> Decimal:
        """Turn the reservation into the real cost of `lines` and add them to the daily aggregates.

        With no lines this is a release. The actual cost may exceed the reservation (an input estimate that
        fell short): it is recorded as spent all the same, and the headroom goes below zero.
        The reservation's marker is deleted in the same transaction, on condition that it still exists. If the
        sweeper released the reservation first (a request that outlived the sweep age), the release is not made
        again: the cost alone is billed, in a second transaction. Returns the settled cost.
        """
        now = now or datetime.now(UTC)
        merged = _merge(lines)
        actual = sum((line.cost_usd for line in merged), Decimal(0))
        actions: list[Action] = []
        if reservation.marker is not None:
            actions.append(self._marker_delete(reservation.marker))
        for level, enabled, owner in (
            ("USER", reservation.user_level, reservation.user_id),
            ("ORG", reservation.org_level, reservation.org_id),
        ):
            if enabled:
                actions.append(self._settle_allowance(f"ALLOWANCE#{level}#{owner}", reservation, actual))
        billing = self._billing(reservation, merged, actual, now)
        if not actions and not billing:
            return actual
        try:
            self._client.transact_write_items(
                TransactItems=_transaction(actions + billing),
                ClientRequestToken=f"{reservation.reservation_id[:28]}sttl",
            )
        except ClientError as error:
            if reservation.marker is None or not _marker_gone(error):
                raise
            # The sweeper released the reservation: bill the cost, without releasing the amount a second time.
            late = [
                self._spend_allowance(f"ALLOWANCE#{level}#{owner}", reservation.period, actual)
                for level, enabled, owner in (
                    ("USER", reservation.user_level, reservation.user_id),
                    ("ORG", reservation.org_level, reservation.org_id),
                )
                if enabled and actual
            ]
            if late or billing:
                self._client.transact_write_items(
                    TransactItems=_transaction(late + billing),
                    ClientRequestToken=f"{reservation.reservation_id[:28]}late",
                )
        return actual

    def _billing(
        self, reservation: Reservation, merged: list[UsageLine], actual: Decimal, now: datetime
    ) -> list[Action]:
        """The daily aggregates and the trace's cost: what a settlement adds besides the allowance items."""
        actions: list[Action] = []
        day = now.date()
        actions.extend(self._aggregate(day, reservation.user_id, reservation.org_id, line, now) for line in merged)
        if reservation.trace_id and actual > 0:  # the trace's exact cost, for the cost report (store.features)
            calls = sum(line.calls for line in merged)
            actions.append(
                trace_cost_action(
                    self._features_table,
                    reservation.trace_id,
                    reservation.user_id,
                    reservation.org_id,
                    actual,
                    calls,
                    now,
                )
            )
        return actions

    def _marker_delete(self, marker: tuple[str, str]) -> Action:
        pk, sk = marker
        return {
            "Delete": {
                "TableName": self._table,
                "Key": {"pk": s(pk), "sk": s(sk)},
                "ConditionExpression": "attribute_exists(pk)",
            }
        }

    def _spend_allowance(self, pk: str, period: str, actual: Decimal) -> Action:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": s(pk), "sk": s(period)},
                "UpdateExpression": "ADD headroom_usd :minus_actual, spent_usd :actual",
                "ExpressionAttributeValues": {":minus_actual": n(-actual), ":actual": n(actual)},
            }
        }

    def _settle_allowance(self, pk: str, reservation: Reservation, actual: Decimal) -> Action:
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": s(pk), "sk": s(reservation.period)},
                "UpdateExpression": (
                    "ADD headroom_usd :refund, spent_usd :actual, reserved_usd :release, reservations :minus_one"
                ),
                "ExpressionAttributeValues": {
                    ":refund": n(reservation.amount_usd - actual),
                    ":actual": n(actual),
                    ":release": n(-reservation.amount_usd),
                    ":minus_one": n(-1),
                },
            }
        }

    def _aggregate(self, day: date, user_id: str, org_id: str | None, line: UsageLine, now: datetime) -> Action:
        values = {":calls": n(line.calls), ":cost": n(line.cost_usd)}
        adds = ["calls :calls", "cost_usd :cost"]
        for kind in TOKEN_KINDS:
            values[f":{kind}"] = n(line.tokens.get(kind, 0))
            adds.append(f"{kind} :{kind}")
        values.update(
            {
                ":user": s(user_id),
                ":org": s(org_id or ""),
                ":model": s(line.model),
                ":call_type": s(line.call_type),
                ":expires": n(_epoch(now) + _COUNTER_TTL_S),
            }
        )
        return {
            "Update": {
                "TableName": self._table,
                "Key": {
                    "pk": s(f"DAY#{day.isoformat()}#{shard_of(user_id, self._shards):03d}"),
                    "sk": s(f"{user_id}#{org_id or '-'}#{line.model}#{line.call_type}"),
                },
                "UpdateExpression": (
                    "ADD " + ", ".join(adds) + " SET user_id = :user, org_id = :org, model = :model, "
                    "call_type = :call_type, expires_at = if_not_exists(expires_at, :expires)"
                ),
                "ExpressionAttributeValues": values,
            }
        }

    # ------------------------------------------------------------------ sweeper
    def stale_reservations(self, older_than: datetime, now: datetime | None = None) -> Iterator[Reservation]:
        """The reservations admitted before `older_than` and never settled: per shard, one Query of last month's
        markers and one of this month's (a reservation keeps the month it was admitted in), each oldest first."""
        now = now or datetime.now(UTC)
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        periods = (month_of(first - timedelta(days=1)), month_of(now))
        cutoff = f"{int(older_than.timestamp() * 1000):013d}"  # sk < cutoff: admitted strictly before it
        pages = self._client.get_paginator("query")
        for period in periods:
            for shard in range(self._shards):
                for page in pages.paginate(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk AND sk < :cutoff",
                    ExpressionAttributeValues={":pk": s(f"RESERVATION#{period}#{shard:03d}"), ":cutoff": s(cutoff)},
                ):
                    for item in page["Items"]:
                        yield _reservation_of(plain(item))

    def release(self, reservation: Reservation) -> bool:
        """Hand a stale reservation back to its allowances: one transaction that deletes its marker, on condition
        that it still exists, and releases the amount. False: the marker was gone (settled, or released by
        another sweep), and nothing was written."""
        if reservation.marker is None:
            raise ValueError("only a reservation with a marker can be released")
        actions = [self._marker_delete(reservation.marker)]
        for level, enabled, owner in (
            ("USER", reservation.user_level, reservation.user_id),
            ("ORG", reservation.org_level, reservation.org_id),
        ):
            if enabled:
                actions.append(
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"pk": s(f"ALLOWANCE#{level}#{owner}"), "sk": s(reservation.period)},
                            "UpdateExpression": (
                                "ADD headroom_usd :amount, reserved_usd :release, reservations :minus_one"
                            ),
                            "ExpressionAttributeValues": {
                                ":amount": n(reservation.amount_usd),
                                ":release": n(-reservation.amount_usd),
                                ":minus_one": n(-1),
                            },
                        }
                    }
                )
        try:
            # No ClientRequestToken: a repeat within its 10 minutes would "succeed" without writing, and count a
            # release that did not happen. The marker's condition already makes a repeat harmless.
            self._client.transact_write_items(TransactItems=_transaction(actions))
        except ClientError as error:
            if _marker_gone(error):
                return False
            raise
        return True

    def sweep_reservations(
        self, max_age_s: float, now: datetime | None = None, out_of_time: Callable[[], bool] | None = None
    ) -> SweepResult:
        """Release every reservation older than `max_age_s` (its request can no longer be running), oldest first;
        stop early when `out_of_time()` says so (the result is then not `complete`; the next sweep goes on)."""
        now = now or datetime.now(UTC)
        result = SweepResult()
        for reservation in self.stale_reservations(now - timedelta(seconds=max_age_s), now):
            if out_of_time is not None and out_of_time():
                result.complete = False
                break
            if self.release(reservation):
                result.released += 1
                result.released_usd += reservation.amount_usd
                result.released_reservations.append(reservation)
            else:
                result.already_settled += 1
        return result

    # ------------------------------------------------------------------ reads (admin, reports)
    def allowance(self, level: str, owner_id: str, period: str) -> dict[str, Any] | None:
        """The allowance item of `USER` or `ORG` owner for a month, as plain values."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": s(f"ALLOWANCE#{level}#{owner_id}"), "sk": s(period)},
            ConsistentRead=True,
        ).get("Item")
        return plain(item) if item else None

    def adjust_allowance_limit(self, level: str, owner_id: str, period: str, new_limit: Decimal | None) -> None:
        """Apply a changed limit to the month already under way (headroom moves by the difference)."""
        current = self.allowance(level, owner_id, period)
        if current is None or new_limit is None:
            # No item yet: the month's first reservation starts from the new limit. Unlimited: admissions
            # stop consulting the item, and only settlements of earlier reservations still touch it.
            return
        self._client.update_item(
            TableName=self._table,
            Key={"pk": s(f"ALLOWANCE#{level}#{owner_id}"), "sk": s(period)},
            UpdateExpression="SET limit_usd = :new ADD headroom_usd :delta",
            ConditionExpression="limit_usd = :old",
            ExpressionAttributeValues={
                ":new": n(new_limit),
                ":old": n(current["limit_usd"]),
                ":delta": n(new_limit - Decimal(current["limit_usd"])),
            },
        )

    def quota_used(self, user_id: str, period: str) -> int:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": s(f"QUOTA#{user_id}"), "sk": s(period)}, ConsistentRead=True
        ).get("Item")
        return int(plain(item).get("count", 0)) if item else 0

    def daily_usage_of_user(self, user_id: str, day: date) -> list[dict[str, Any]]:
        return self._query_day(day, shard_of(user_id, self._shards), prefix=f"{user_id}#")

    def daily_usage(self, day: date) -> list[dict[str, Any]]:
        """Every aggregate of a day, across all shards (the cost report's read)."""
        return list(self.iter_daily_usage(day))

    def iter_daily_usage(self, day: date) -> Iterator[dict[str, Any]]:
        """daily_usage one page at a time: a day of any size is read in bounded memory."""
        for shard in range(self._shards):
            yield from self._iter_day(day, shard)

    def allowances(self, owners: Iterable[tuple[str, str]], period: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The allowance items of (level, owner) pairs for a month, 100 keys a BatchGetItem; absent ones omitted."""
        keys = [{"pk": s(f"ALLOWANCE#{level}#{owner}"), "sk": s(period)} for level, owner in dict.fromkeys(owners)]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self._table: {"Keys": keys[start : start + 100]}}
            for _attempt in range(10):
                answer = self._client.batch_get_item(RequestItems=pending)
                for item in answer.get("Responses", {}).get(self._table, []):
                    row = plain(item)
                    _, level, owner = row["pk"].split("#", 2)
                    found[(level, owner)] = row
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(1.0, 0.05 * 2**_attempt))  # throttled: back off, then ask for the rest
            else:
                raise RuntimeError(f"allowances: keys still unprocessed after retries ({period})")
        return found

    def _query_day(self, day: date, shard: int, prefix: str | None = None) -> list[dict[str, Any]]:
        return list(self._iter_day(day, shard, prefix))

    def _iter_day(self, day: date, shard: int, prefix: str | None = None) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk"
        values = {":pk": s(f"DAY#{day.isoformat()}#{shard:03d}")}
        if prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = s(prefix)
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression=condition, ExpressionAttributeValues=values
        )
        for page in pages:
            for item in page["Items"]:
                yield plain(item)


@dataclass
class SweepResult:
    """What one sweep freed: reservations released and their amount; markers a settle removed first."""

    released: int = 0
    released_usd: Decimal = Decimal(0)
    already_settled: int = 0
    complete: bool = True
    released_reservations: list[Reservation] = field(default_factory=list)


def _marker_gone(error: ClientError) -> bool:
    """A transaction whose first action, the marker's conditional delete, failed: the marker was already gone."""
    cancelled = error.response.get("Error", {}).get("Code") == "TransactionCanceledException"
    return cancelled and condition_failures(error)[:1] == [True]


def _transaction(actions: Iterable[Action]) -> list[TransactWriteItemTypeDef]:
    """The actions as the client's stubs type them (built as plain dicts, checked by DynamoDB)."""
    return cast("list[TransactWriteItemTypeDef]", list(actions))


def _reservation_of(marker: dict[str, Any]) -> Reservation:
    return Reservation(
        reservation_id=str(marker["reservation_id"]),
        user_id=str(marker["user_id"]),
        org_id=marker.get("org_id"),
        period=str(marker["period"]),
        amount_usd=Decimal(marker["amount_usd"]),
        user_level=bool(marker["user_level"]),
        org_level=bool(marker["org_level"]),
        trace_id=marker.get("trace_id"),
        marker=(str(marker["pk"]), str(marker["sk"])),
    )


class _TraceAlreadyCounted(Exception):
    """The trace marker exists: this trace's optimization was counted by an earlier request."""


def _merge(lines: Iterable[UsageLine]) -> list[UsageLine]:
    """One line per (model, call type): a transaction may touch each aggregate item once."""
    merged: dict[tuple[str, str], UsageLine] = {}
    for line in lines:
        key = (line.model, line.call_type)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = line
            continue
        tokens = {kind: earlier.tokens.get(kind, 0) + line.tokens.get(kind, 0) for kind in TOKEN_KINDS}
        merged[key] = UsageLine(
            model=line.model,
            call_type=line.call_type,
            cost_usd=earlier.cost_usd + line.cost_usd,
            calls=earlier.calls + line.calls,
            tokens=tokens,
        )
    return list(merged.values())
