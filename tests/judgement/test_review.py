"""POST /ai/optimization_review: a rubric through structured output (prompting.md §8); an unusable reply is
`""` (the client's own "no review"), never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devserver.fakellm import FakeLLMServer
from devserver.fakellm.script import Fault, Reply, ToolCall
from tests.pipelines.harness import Api, sample

pytestmark = pytest.mark.usefixtures("llm")

FINDINGS = {
    "speedup": "911x over 250 loops: far beyond noise.",
    "semantics": "sorted() returns a new list, as before.",
    "test_evidence": "Only generated tests, 100% coverage.",
    "readability": "One line replaces nine.",
}


def verdict(review: str, risks: list[str] | None = None) -> dict[str, Any]:
    return {"findings": FINDINGS, "risks": risks or [], "review": review, "explanation": "A clear, safe win."}


def review_body() -> dict[str, Any]:
    return sample("12_ai_optimization_review")["request_body"]


@pytest.mark.parametrize("rating", ["high", "medium"])
def test_a_rating_is_passed_on(api: Api, key: str, llm: FakeLLMServer, rating: str) -> None:
    llm.default_reply = lambda request: Reply(text=json.dumps(verdict(rating)))
    reply = api.call("OptimizationReviewFunction", review_body(), key)
    assert (reply.status, reply.body["review"]) == (200, rating)
    assert reply.body["review_explanation"].startswith("A clear, safe win.")


def test_low_needs_a_named_risk(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text=json.dumps(verdict("low")))
    assert api.call("OptimizationReviewFunction", review_body(), key).body["review"] == "medium"
    llm.default_reply = lambda request: Reply(text=json.dumps(verdict("low", ["Mutates the caller's list."])))
    reply = api.call("OptimizationReviewFunction", review_body(), key)
    assert reply.body["review"] == "low"
    assert "Mutates the caller's list." in reply.body["review_explanation"]


def test_claude_answers_through_the_respond_tool(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(tool_calls=[ToolCall("respond", verdict("high"))])
    reply = api.call("OptimizationReviewFunction", review_body(), key)
    assert (reply.status, reply.body["review"]) == (200, "high")


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({**verdict("high"), "review": "excellent"}),  # not a rating
        json.dumps({"review": "high"}),  # no findings: the rating must come after them
        "I would rate this high.",  # not JSON
    ],
)
def test_an_unusable_reply_is_no_review(api: Api, key: str, llm: FakeLLMServer, text: str) -> None:
    llm.default_reply = lambda request: Reply(text=text)
    reply = api.call("OptimizationReviewFunction", review_body(), key)
    assert reply.status == 200
    assert reply.body == {"review": "", "review_explanation": ""}
    assert len(llm.requests) == 2  # the reply and its one repair round


def test_a_failed_model_is_no_review(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Fault.status(400, message="bad")
    reply = api.call("OptimizationReviewFunction", review_body(), key)
    assert (reply.status, reply.body["review"]) == (200, "")


def test_the_prompt_is_a_rubric_that_weighs_the_evidence(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text=json.dumps(verdict("high")))
    api.call("OptimizationReviewFunction", review_body(), key)
    prompt = json.dumps(llm.requests[0].body)
    for criterion in ("speedup", "semantics", "test_evidence", "readability"):
        assert criterion in prompt
    assert "91103.36%" in prompt and "250" in prompt and "100.0%" in prompt
    assert "Generated tests" in prompt and "return sorted(arr)" in prompt


def test_review_response_never_passes_an_invalid_value() -> None:
    from aiservice.pipelines.judgement import review_response

    assert review_response(None).review == ""
    assert review_response({"review": "high"}).review == ""
