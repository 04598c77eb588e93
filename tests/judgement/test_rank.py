"""POST /ai/rank: always a permutation of the request's indices; measurements first, the model only for ties
within noise, asked in two orders, and only agreement counts (prompting.md §6)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from devserver.fakellm import FakeLLMServer
from devserver.fakellm.script import Reply, last_user_text
from tests.pipelines.harness import Api, sample

pytestmark = pytest.mark.usefixtures("llm")


def rank_body(speedups: list[float | None], diffs: list[str] | None = None) -> dict[str, Any]:
    diffs = diffs or [f"--- a\n+++ b\n@@ -1 +1 @@\n-x = {i}\n+y = {i}" for i in range(len(speedups))]
    return {"trace_id": f"trace-rank-{uuid.uuid4()}", "diffs": diffs, "speedups": speedups,
            "optimization_ids": [f"opt-{i}" for i in range(len(speedups))], "function_references": ""}  # fmt: skip


def shown_numbers(text: str) -> dict[str, int]:
    """'### Candidate N' -> the candidate's diff marker ('y = I') -> N."""
    found = re.findall(r"### Candidate (\d+)\n\n```diff\n.*?\+y = (\d+)", text, re.DOTALL)
    return {index: int(number) for number, index in found}


def picks(index: int):  # a consistent judge: always the candidate with this request index, wherever it is shown
    return lambda request: Reply(text=json.dumps({"best": shown_numbers(last_user_text(request.body))[str(index)],
                                                  "reason": "smallest diff"}))  # fmt: skip


def test_sample_is_answered_with_a_permutation_in_speed_order(api: Api, key: str, llm: FakeLLMServer) -> None:
    body = sample("09_ai_rank")["request_body"]
    reply = api.call("RankFunction", body, key)
    assert reply.status == 200
    # 1184 is more than 5% above every other: measurement decides, no model call
    assert reply.body["ranking"][0] == 1
    assert sorted(reply.body["ranking"]) == list(range(5))
    assert reply.body["ranking"] == [1, 2, 0, 3, 4]
    assert llm.requests == []


def test_ties_within_noise_go_to_the_model_in_two_orders(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = picks(2)
    reply = api.call("RankFunction", rank_body([10.0, 10.2, 10.1, 3.0]), key)
    assert reply.status == 200
    assert reply.body["ranking"] == [2, 1, 0, 3]  # the agreed pick, then speed order
    assert len(llm.requests) == 2
    first, second = (shown_numbers(last_user_text(request.body)) for request in llm.requests)
    assert set(first) == set(second) == {"0", "1", "2"}  # the slow candidate is not a contender
    assert all(first[index] != second[index] for index in first)  # every candidate shown at another position
    system = json.dumps(llm.requests[0].body)
    assert "readab" in system.lower() and "do not guess which one is faster" in system


def test_position_bias_falls_back_to_the_fastest(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text=json.dumps({"best": 1, "reason": "the first one"}))
    reply = api.call("RankFunction", rank_body([10.0, 10.2, 10.1]), key)
    assert reply.status == 200
    assert reply.body["ranking"] == [1, 2, 0]  # disagreement: speed order


@pytest.mark.parametrize("best", [0, 7, -1, 2])
def test_an_out_of_range_pick_never_reaches_the_client(api: Api, key: str, llm: FakeLLMServer, best: int) -> None:
    llm.default_reply = lambda request: Reply(text=json.dumps({"best": best, "reason": "x"}))
    reply = api.call("RankFunction", rank_body([10.0, 10.2, 10.1]), key)
    assert reply.status == 200
    assert sorted(reply.body["ranking"]) == [0, 1, 2]
    assert reply.body["ranking"] == [1, 2, 0]


def test_an_unusable_reply_or_a_failed_model_gives_the_speed_order(api: Api, key: str, llm: FakeLLMServer) -> None:
    from devserver.fakellm.script import Fault

    llm.default_reply = lambda request: Fault.status(400, message="bad")
    reply = api.call("RankFunction", rank_body([10.0, 10.2, 10.1, None]), key)
    assert reply.status == 200
    assert reply.body["ranking"] == [1, 2, 0, 3]


def test_mismatched_lists_are_a_400(api: Api, key: str) -> None:
    body = rank_body([1.5, 2.0])
    body["speedups"] = [1.5]
    reply = api.call("RankFunction", body, key)
    assert reply.status == 400 and "speedups" in reply.error


def test_as_permutation_rejects_every_non_permutation() -> None:
    from aiservice.pipelines.judgement import as_permutation

    assert as_permutation([2, 0, 1], 3, [0, 1, 2]) == [2, 0, 1]
    for bad in ([3, 0, 1], [0, 0, 1], [0, 1], [0, 1, 2, 3], [True, 0, 2], [0.0, 1, 2]):
        assert as_permutation(bad, 3, [0, 1, 2]) == [0, 1, 2], bad
