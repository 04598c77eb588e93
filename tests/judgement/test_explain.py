"""POST /ai/explain: grounded in the request's diff, runtimes and line profiles; a figure the request does not
carry never reaches the client (prompting.md §7)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devserver.fakellm import FakeLLMServer
from devserver.fakellm.script import Fault, Reply
from tests.pipelines.harness import Api, sample

pytestmark = pytest.mark.usefixtures("llm")

SCRIPTED = """Here is the description:

The nested swap loops of the bubble sort are replaced by a single call to `sorted()`, which sorts in C.
Runtime drops from 10.9 milliseconds to 12.0 microseconds (91103% faster). This makes it 1000x faster on any input.
- The comparison line `if arr[j] > arr[j + 1]` took 45.3% of the original time and is gone.
- Memory use falls by 50% as well.
- The function still returns a new list, so callers see no change."""


def explain_body() -> dict[str, Any]:
    return sample("11_ai_explain")["request_body"]


def test_every_figure_in_the_explanation_comes_from_the_request(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text=SCRIPTED)
    body = explain_body()
    reply = api.call("ExplainFunction", body, key)
    assert reply.status == 200
    explanation = reply.body["explanation"]
    carried = json.dumps(body)
    for figure in re.findall(r"\d[\d,]*(?:\.\d+)?", explanation):
        assert figure.replace(",", "") in carried, figure
    assert "1000x" not in explanation and "50%" not in explanation  # invented: dropped
    assert "sorted()" in explanation and "45.3%" in explanation and "10.9 milliseconds" in explanation
    assert "returns a new list" in explanation
    assert not explanation.startswith("Here is")


def test_the_prompt_carries_the_diff_the_runtimes_and_the_profiles(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text="The loops are replaced by `sorted()`.")
    api.call("ExplainFunction", explain_body(), key)
    (request,) = llm.requests
    prompt = json.dumps(request.body)
    assert "-    for i in range(n):" in prompt and "+    return sorted(arr)" in prompt  # the diff
    assert "10.9 milliseconds" in prompt and "12.0 microseconds" in prompt and "91103%" in prompt
    assert "5.54131e+07" in prompt and "3379.8" in prompt  # both line profiles
    assert "a hint, not evidence" in prompt


def test_nothing_grounded_left_gives_the_measured_summary(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text="It is 500x faster. Up to 99.9% less time.")
    reply = api.call("ExplainFunction", explain_body(), key)
    assert reply.status == 200
    assert reply.body["explanation"] == (
        "The optimized code runs in 12.0 microseconds instead of 10.9 milliseconds (91103% faster) on the measured "
        "tests."
    )


def test_speedup_factors_derived_from_the_percentage_are_allowed() -> None:
    from aiservice.pipelines.judgement import allowed_figures, grounded
    from aiservice.pipelines.schemas import ExplainRequest

    request = ExplainRequest.model_validate(explain_body())
    text, dropped = grounded("About 912x faster. Or 911.03x. Not 2x.", allowed_figures(request))
    assert text == "About 912x faster. Or 911.03x."
    assert dropped == ["Not 2x."]


def test_a_failed_model_is_a_json_error_the_client_survives(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Fault.status(400, message="bad request")
    reply = api.call("ExplainFunction", explain_body(), key)
    assert reply.status >= 400 and reply.error


def test_identical_code_is_a_400(api: Api, key: str) -> None:
    body = explain_body()
    body["optimized_code"] = body["source_code"]
    reply = api.call("ExplainFunction", body, key)
    assert reply.status == 400 and "identical" in reply.error
