"""The reservation sweeper: a request whose Lambda was killed between admit and settle leaves its reservation
held, and only its RESERVATION# marker says so. The sweeper (functions/reservation_sweeper) finds the markers
older than the longest metered function's timeout plus a margin with Queries, and releases each in one
conditional transaction, so that a settle racing it and the sweep never both hand the money back."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aiservice.store.usage import Admission, Reservation, UsageLine, UsageStore, month_of
from tests.conftest import ROOT, load_function
from tests.money.ledger import allowance, assert_released, body_of, markers_of
from tests.pipelines.harness import Api, lambda_context

LIMIT = Decimal("10")
MAX_AGE_S = 900 + 300  # the defaults: Lambda's longest timeout plus the margin


def admit(store: UsageStore, user_id: str, amount: str, now: datetime, org: bool = True) -> Reservation:
    return store.admit(
        Admission(user_id=user_id, org_id=f"org-{user_id}" if org else None, trace_id=None,
                  estimate_usd=Decimal(amount), counts_toward_quota=False, monthly_quota=None,
                  user_allowance_usd=LIMIT, org_allowance_usd=LIMIT if org else None),
        now=now,
    )  # fmt: skip


def line(cost: str) -> UsageLine:
    return UsageLine(model="claude-sonnet-4-5", call_type="optimize", cost_usd=Decimal(cost),
                     tokens={"input_tokens": 100, "output_tokens": 10})  # fmt: skip


def held(user_id: str, level: str = "USER", owner: str | None = None) -> tuple[Any, ...]:
    """(reserved, open reservations, headroom, spent) of an allowance item (numbers compare across int/Decimal)."""
    item = allowance(level, owner or user_id)
    return (Decimal(item["reserved_usd"]), item["reservations"], Decimal(item["headroom_usd"]),
            Decimal(item.get("spent_usd", 0)))  # fmt: skip


@pytest.fixture
def sweeper(stack: Any) -> Any:
    return load_function(stack, "ReservationSweeperFunction")


def emf_of(output: str) -> list[dict[str, Any]]:
    return [json.loads(text) for text in output.splitlines() if '"_aws"' in text]


# ------------------------------------------------------------------------------------------ the handler


def test_a_killed_request_is_swept_after_the_age_and_a_fresh_one_is_not(
    settings_env: Any, user_id: str, sweeper: Any, capsys: pytest.CaptureFixture[str], log_lines: list[dict[str, Any]]
) -> None:
    store = UsageStore()
    now = datetime.now(UTC)
    killed = admit(store, user_id, "0.75", now - timedelta(seconds=MAX_AGE_S + 60))  # admitted, never settled
    running = admit(store, user_id, "0.25", now - timedelta(seconds=MAX_AGE_S - 60))  # still within the age
    assert killed.marker and running.marker
    assert held(user_id) == (Decimal("1.00"), 2, LIMIT - Decimal("1.00"), 0)
    capsys.readouterr()

    event = json.loads((ROOT / "events/reservation_sweeper.json").read_text())
    summary = sweeper.handler(event, lambda_context(120_000))

    assert summary["released"] >= 1 and summary["max_age_s"] == MAX_AGE_S and summary["complete"]
    for level, owner in (("USER", user_id), ("ORG", f"org-{user_id}")):  # the killed one only, at both levels
        assert held(user_id, level, owner) == (Decimal("0.25"), 1, LIMIT - Decimal("0.25"), 0)
    assert [r.reservation_id for r in markers_of(user_id)] == [running.reservation_id]

    output = capsys.readouterr().out
    (document,) = [doc for doc in emf_of(output) if "StaleReservationsReleased" in doc]
    assert document["StaleReservationsReleased"] == [float(summary["released"])]
    assert document["StaleReservationsReleasedUSD"] == [float(Decimal(summary["released_usd"]))]
    assert Decimal(summary["released_usd"]) >= Decimal("0.75")
    released = [entry for entry in log_lines if entry["message"].startswith("released a stale reservation")]
    assert any(r["reservation_id"] == killed.reservation_id and r["amount_usd"] == "0.75" for r in released)

    store.settle(running, [line("0.10")])  # the running request ends normally: nothing was taken from it
    assert held(user_id) == (0, 0, LIMIT - Decimal("0.10"), Decimal("0.10"))
    assert_released(user_id, f"org-{user_id}")


def test_a_request_that_never_settled_is_swept_through_the_stack(
    api: Api, key: str, llm: Any, user_id: str, settings_env: Any, sweeper: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real /ai/optimize request whose settlement never happened (the Lambda killed after the calls, here a
    settle that fails: metered logs it and keeps the reservation) is released by the sweeper once old enough."""
    from devserver.fakellm import Reply
    from tests.money.ledger import SORTED

    settings_env(METERED_FUNCTION_TIMEOUT_S="1", RESERVATION_SWEEP_MARGIN_S="0")
    llm.default_reply = lambda request: Reply(text=SORTED)
    with monkeypatch.context() as patch:
        patch.setattr(UsageStore, "settle", lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("killed")))
        assert api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1), key).status == 200
    reserved, count, headroom, spent = held(user_id)
    assert reserved > 0 and count == 1 and len(markers_of(user_id)) == 1

    time.sleep(1.1)
    assert sweeper.handler({}, lambda_context(120_000))["released"] >= 1
    assert held(user_id) == (0, 0, headroom + reserved, spent)
    assert_released(user_id, None)


def test_the_sweep_stops_before_the_function_times_out(settings_env: Any, user_id: str) -> None:
    store = UsageStore()
    old = datetime.now(UTC) - timedelta(seconds=MAX_AGE_S + 60)
    for _ in range(3):
        admit(store, user_id, "0.10", old, org=False)
    result = store.sweep_reservations(MAX_AGE_S, out_of_time=lambda: True)
    assert (result.released, result.complete) == (0, False)
    assert held(user_id)[:2] == (Decimal("0.30"), 3)


# ------------------------------------------------------------------------------------------ keys and requests


def test_stale_markers_are_found_with_queries_and_released_with_one_transaction_each(
    settings_env: Any, user_id: str
) -> None:
    store = UsageStore()
    calls: list[str] = []
    store._client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    old = datetime.now(UTC) - timedelta(seconds=MAX_AGE_S + 60)
    first, second = admit(store, user_id, "0.10", old - timedelta(seconds=5)), admit(store, user_id, "0.20", old)
    assert calls == ["TransactWriteItems", "TransactWriteItems"]  # the marker rides in the admit transaction
    calls.clear()
    stale = [r for r in store.stale_reservations(datetime.now(UTC) - timedelta(seconds=MAX_AGE_S))
             if r.user_id == user_id]  # fmt: skip
    assert set(calls) == {"Query"}  # this month's and last month's markers, per shard: never a Scan
    assert [r.reservation_id for r in stale] == [first.reservation_id, second.reservation_id]  # oldest first
    assert stale == [first, second]  # the marker carries all a release needs
    calls.clear()
    assert store.release(first) and not store.release(first)  # once: the marker's condition
    assert calls == ["TransactWriteItems", "TransactWriteItems"]


def test_a_reservation_without_money_held_writes_no_marker(settings_env: Any, user_id: str) -> None:
    store = UsageStore()
    free = store.admit(Admission(user_id=user_id, org_id=None, trace_id=None, estimate_usd=Decimal(0),
                                 counts_toward_quota=False, monthly_quota=None, user_allowance_usd=LIMIT,
                                 org_allowance_usd=None))  # fmt: skip
    assert free.marker is None and markers_of(user_id) == []
    store.settle(free, [])


# ------------------------------------------------------------------------------------------ settle vs sweep


def test_a_sweep_after_the_settle_releases_nothing(settings_env: Any, user_id: str) -> None:
    store = UsageStore()
    reservation = admit(store, user_id, "0.50", datetime.now(UTC) - timedelta(seconds=MAX_AGE_S + 60))
    store.settle(reservation, [line("0.20")])
    assert not store.release(reservation)
    assert held(user_id) == (0, 0, LIMIT - Decimal("0.20"), Decimal("0.20"))


def test_a_settle_after_the_sweep_bills_the_cost_without_releasing_twice(settings_env: Any, user_id: str) -> None:
    """A request that outlived the sweep age (it should not, but a clock or a timeout can be wrong): its late
    settle still bills what it spent, and hands nothing back a second time."""
    store = UsageStore()
    reservation = admit(store, user_id, "0.50", datetime.now(UTC) - timedelta(seconds=MAX_AGE_S + 60))
    assert store.release(reservation)
    assert held(user_id) == (0, 0, LIMIT, 0)
    assert store.settle(reservation, [line("0.20")]) == Decimal("0.20")
    for level, owner in (("USER", user_id), ("ORG", f"org-{user_id}")):
        assert held(user_id, level, owner) == (0, 0, LIMIT - Decimal("0.20"), Decimal("0.20"))
    rows = store.daily_usage_of_user(user_id, datetime.now(UTC).date())
    assert [(row["calls"], Decimal(row["cost_usd"])) for row in rows] == [(1, Decimal("0.20"))]


def test_settle_and_sweep_racing_return_the_money_exactly_once(settings_env: Any, user_id: str) -> None:
    store = UsageStore()
    old = datetime.now(UTC) - timedelta(seconds=MAX_AGE_S + 60)
    rounds = 24
    reservations = [admit(store, user_id, "0.30", old) for _ in range(rounds)]
    costs = [Decimal("0.01") * (index + 1) for index in range(rounds)]
    swept: list[bool] = []

    def settle(reservation: Reservation, cost: Decimal, start: threading.Barrier) -> None:
        start.wait()
        store.settle(reservation, [line(str(cost))])

    def sweep(reservation: Reservation, start: threading.Barrier) -> None:
        start.wait()
        swept.append(store.release(reservation))

    for reservation, cost in zip(reservations, costs, strict=True):
        start = threading.Barrier(2)
        racers = [threading.Thread(target=settle, args=(reservation, cost, start)),
                  threading.Thread(target=sweep, args=(reservation, start))]  # fmt: skip
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()

    spent = sum(costs, Decimal(0))
    for level, owner in (("USER", user_id), ("ORG", f"org-{user_id}")):
        # Returned exactly once each: a double release would leave headroom above limit - spent.
        assert held(user_id, level, owner) == (0, 0, LIMIT - spent, spent)
    assert markers_of(user_id) == []
    (row,) = store.daily_usage_of_user(user_id, datetime.now(UTC).date())
    assert (row["calls"], Decimal(row["cost_usd"])) == (rounds, spent)  # every settle billed, swept or not
    assert len(swept) == rounds


def test_a_marker_lives_in_the_month_of_its_reservation(settings_env: Any, user_id: str) -> None:
    store = UsageStore()
    now = datetime.now(UTC)
    last_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(seconds=30)
    reservation = admit(store, user_id, "0.40", last_month)
    assert reservation.period == month_of(last_month) and reservation.marker is not None
    assert reservation.marker[0].startswith(f"RESERVATION#{month_of(last_month)}#")
    assert (
        store.sweep_reservations(MAX_AGE_S, now=max(now, last_month + timedelta(seconds=MAX_AGE_S + 1))).released >= 1
    )
    item = store.allowance("USER", user_id, month_of(last_month))
    assert item is not None and (item["reserved_usd"], item["reservations"]) == (0, 0)
