"""Money on the failure paths, through the deployed shape (authorizer -> handler -> fake providers -> moto): a
request that fails inside `metered` hands back what it did not spend, and bills every attempt the provider
billed. Each test reads the allowance items, the markers and the daily aggregates back, and prices what the fake
server sent on its own (aiservice.llm.cost.cost_of), cross-checked with the llm_call records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from aiservice.store.keys import KeyStore
from devserver.fakellm import Fault, RecordedRequest, Reply
from tests.money.ledger import (
    MODEL_OF_PROTOCOL,
    SORTED,
    assert_released,
    billed_today,
    body_of,
    cached_optimize_body,
    logged_costs,
    price,
)
from tests.pipelines.harness import Api

USER_LIMIT, ORG_LIMIT = Decimal("20"), Decimal("50")
EDITS_THAT_DO_NOT_APPLY = (
    "mypkg/sorter.py\n```python\n<<<<<<< SEARCH\n    return nothing_like_it\n=======\n"
    "    return sorted(arr)\n>>>>>>> REPLACE\n```"
)


@pytest.fixture(scope="module", autouse=True)
def _warm_sdks() -> None:
    """Import the provider SDKs before any deadline runs: a cold import must not eat a short deadline."""
    import anthropic  # noqa: F401
    import openai  # noqa: F401


@pytest.fixture
def limits(key: str, user_id: str) -> tuple[str, str]:
    """Both levels metered: a user allowance and an org allowance (set before the first call is authorized)."""
    keys = KeyStore()
    keys.set_user_allowance(user_id, USER_LIMIT)
    keys.set_org_allowance(f"org-{user_id}", ORG_LIMIT)
    return user_id, f"org-{user_id}"


def assert_billed(user_id: str, org_id: str, expected: dict[tuple[str, str], tuple[int, Decimal]],
                  log_lines: list[dict[str, Any]]) -> None:  # fmt: skip
    """The request's reservation is released at both levels; spent, the daily aggregates and the llm_call
    records all equal the priced attempts: {(model, call type): (billed attempts, cost)}."""
    items = assert_released(user_id, org_id)
    total = sum((cost for _, cost in expected.values()), Decimal(0))
    assert total > 0
    for level in ("USER", "ORG"):
        assert Decimal(items[level].get("spent_usd", 0)) == total, (level, items[level])
    rows = billed_today(user_id)
    assert {key: (row["calls"], Decimal(row["cost_usd"])) for key, row in rows.items()} == expected
    assert sum(logged_costs(log_lines, user_id)) == total


def streamed(request: RecordedRequest) -> bool:
    return request.protocol == "bedrock" and request.stream


# ------------------------------------------------------------------------------------------ 502


@pytest.mark.parametrize("broken", [Fault.stream_error(), Fault.drop(midstream=True)], ids=["stream_error", "drop"])
def test_every_call_failing_is_a_502_that_bills_the_broken_stream_and_releases_the_rest(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]], broken: Fault
) -> None:
    """The primer (the first Claude call, streamed) breaks after Bedrock reported its usage: that attempt is
    billed. Every other attempt is a 500 with no usage: billed nothing. The 502 hands back the rest."""
    llm.default_reply = lambda request: broken if streamed(request) else Fault.status(500)
    reply = api.call("OptimizeFunction", cached_optimize_body(n_candidates=3), key)
    assert reply.status == 502 and reply.error

    (primer,) = [request for request in llm.requests if streamed(request)]
    sent = Reply(text="partial answer") if broken.kind == "stream_error" else Reply(text="fakellm: late answer")
    cost = price(primer, sent, broken_stream=True)
    assert len(llm.requests) > 1  # the others were tried (and retried), and billed nothing
    assert_billed(*limits, {("claude-sonnet-4-5", "optimize"): (1, cost)}, log_lines)


def test_a_repair_whose_retry_fails_bills_the_first_reply_and_answers_502(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]]
) -> None:
    """A successful attempt, then a failure inside the same reservation: the first reply is billed in full."""
    wrong = Reply(text=EDITS_THAT_DO_NOT_APPLY, input_tokens=1500, output_tokens=400)
    llm.enqueue(wrong, Fault.status(400, message="no"), Fault.status(400, message="no"))  # not retried, then fallback
    reply = api.call("CodeRepairFunction", body_of("07_ai_code_repair"), key)
    assert reply.status == 502, reply.body

    first, *failed = llm.requests
    assert [request.protocol for request in failed] == ["bedrock", "azure"]
    assert_billed(*limits, {(MODEL_OF_PROTOCOL[first.protocol], "code_repair"): (1, price(first, wrong))}, log_lines)


# ------------------------------------------------------------------------------------------ 504


def test_calls_cut_off_at_the_deadline_are_a_504_that_bills_what_the_provider_reported(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]]
) -> None:
    """The primer breaks after its usage (billed); the other calls hang and are cancelled at the deadline
    (remaining_ms): the 504 still settles, and their holds go back."""
    llm.default_reply = lambda request: Fault.stream_error() if streamed(request) else Fault.timeout(30)
    reply = api.call("OptimizeFunction", cached_optimize_body(n_candidates=3), key, remaining_ms=2_500)
    assert reply.status == 504, reply.body

    (primer,) = [request for request in llm.requests if streamed(request)]
    cost = price(primer, Reply(text="partial answer"), broken_stream=True)
    assert_billed(*limits, {("claude-sonnet-4-5", "optimize"): (1, cost)}, log_lines)


def test_a_repair_cut_off_at_the_deadline_after_a_reply_is_a_504_that_bills_the_reply(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]]
) -> None:
    """The first reply's edits do not apply; its retry hangs and is cancelled at the deadline, which unwinds
    through `metered` as DeadlineExceeded: the reply is billed, the rest of the reservation handed back."""
    wrong = Reply(text=EDITS_THAT_DO_NOT_APPLY, input_tokens=1100, output_tokens=350)
    llm.enqueue(wrong, Fault.timeout(30))
    reply = api.call("CodeRepairFunction", body_of("07_ai_code_repair"), key, remaining_ms=4_000)
    assert reply.status == 504, reply.body

    first, _hung = llm.requests
    assert_billed(*limits, {(MODEL_OF_PROTOCOL[first.protocol], "code_repair"): (1, price(first, wrong))}, log_lines)


def test_a_504_with_nothing_reported_bills_nothing_and_releases_everything(
    api: Api, key: str, llm: Any, limits: tuple[str, str]
) -> None:
    llm.default_reply = lambda request: Fault.timeout(30)
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2), key, remaining_ms=2_500)
    assert reply.status == 504, reply.body
    items = assert_released(*limits)
    assert all(Decimal(item.get("spent_usd", 0)) == 0 for item in items.values())
    assert billed_today(limits[0]) == {}


# ------------------------------------------------------------------------------------------ handler errors


def test_a_handler_error_after_the_calls_ran_bills_every_reply(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Candidate post-processing raises after both calls answered: a JSON 500, both replies billed."""
    import aiservice.pipelines.generation as generation

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("post-processing broke")

    monkeypatch.setattr(generation, "postprocess", broken)
    answer = Reply(text=SORTED, input_tokens=1200, output_tokens=300)
    llm.default_reply = lambda request: answer
    reply = api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=2), key)
    assert reply.status == 500 and reply.error

    expected = {}
    for request in llm.requests:
        expected[(MODEL_OF_PROTOCOL[request.protocol], "optimize")] = (1, price(request, answer))
    assert len(expected) == 2
    assert_billed(*limits, expected, log_lines)


def test_a_handler_error_inside_the_reservation_bills_the_reply(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Code repair checks the model's edits inside its reservation: an error there (after the call answered)
    unwinds through `metered`, which must still settle the reply and hand back the rest."""
    import aiservice.pipelines.followups as followups

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("patching broke")

    monkeypatch.setattr(followups, "_apply_edits", broken)
    answer = Reply(text="anything", input_tokens=900, output_tokens=250)
    llm.enqueue(answer)
    reply = api.call("CodeRepairFunction", body_of("07_ai_code_repair"), key)
    assert reply.status == 500 and reply.error

    (request,) = llm.requests
    assert_billed(*limits, {(MODEL_OF_PROTOCOL[request.protocol], "code_repair"): (1, price(request, answer))},
                  log_lines)  # fmt: skip


def test_a_stream_cut_off_at_the_deadline_bills_the_usage_it_reported(
    api: Api, key: str, llm: Any, limits: tuple[str, str], log_lines: list[dict[str, Any]]
) -> None:
    """The primer's stream began (Bedrock reported its input usage in message_start) and was still going at the
    deadline: cancelled, it is billed what the provider reported, like a stream that broke."""
    slow = Reply(text=SORTED * 40, generation_s=20)  # message_start at once, then the text over 20 s
    llm.default_reply = lambda request: slow if streamed(request) else Fault.timeout(30)
    reply = api.call("OptimizeFunction", cached_optimize_body(n_candidates=3), key, remaining_ms=2_500)
    assert reply.status == 504, reply.body

    (primer,) = [request for request in llm.requests if streamed(request)]
    cost = price(primer, slow, broken_stream=True)
    assert_billed(*limits, {("claude-sonnet-4-5", "optimize"): (1, cost)}, log_lines)
