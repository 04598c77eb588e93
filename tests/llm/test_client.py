"""call_llm / stream_llm with the real SDKs over HTTP against the fake providers on loopback."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from pydantic import BaseModel

from aiservice.access import Ledger, Principal
from aiservice.errors import AllowanceExhausted
from aiservice.llm.client import CallContext, call_llm, stream_llm
from aiservice.llm.cost import cost_of, worst_case_cost
from aiservice.llm.errors import InvalidLLMRequest, LLMCallFailed
from aiservice.llm.models import ContextLengthError, UnknownModelError, estimate_tokens
from aiservice.llm.providers.factory import clear_clients
from aiservice.llm.runtime import Deadline, fan_out, run
from aiservice.llm.types import CallOptions, LLMResult
from devserver.fakellm import FakeLLMServer, Fault, Reply, ToolCall

SONNET, GPT5, GPT41 = "claude-sonnet-4-5", "azure/gpt-5", "azure/gpt-4.1"
ASK = [{"role": "system", "content": "You optimize Python."}, {"role": "user", "content": "Make sort_list faster."}]
CONTEXT = CallContext(call_type="optimize", trace_id="trace-1")


@pytest.fixture
def provider(monkeypatch):
    """The fake providers, with every LLM setting pointed at them and retries quick."""
    from aiservice.config import get_settings

    server = FakeLLMServer()
    for name, value in {
        "BEDROCK_BASE_URL": server.url,
        "AZURE_OPENAI_ENDPOINT": server.url,
        "AZURE_OPENAI_API_KEY": "test-azure-key",
        "LLM_BACKOFF_BASE_S": "0.01",
        "LLM_BACKOFF_CAP_S": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    clear_clients()
    yield server
    server.stop()
    clear_clients()
    get_settings.cache_clear()


def call(messages=ASK, model=SONNET, context=CONTEXT, **kwargs):
    return run(call_llm(messages, model=model, context=context, **kwargs))


# ------------------------------------------------------------------------------------------ Bedrock


def test_bedrock_call_translates_the_request_and_prices_the_reply(provider):
    provider.enqueue(
        Reply(
            text="Use sorted().",
            thinking="Bubble sort is quadratic.",
            input_tokens=1000,
            output_tokens=200,
            cache_read_tokens=300,
            cache_write_1h_tokens=50,
        )
    )
    result = call(options=CallOptions(max_tokens=1024, thinking_budget=512, cache_system="1h"))

    sent = provider.requests[-1]
    assert sent.protocol == "bedrock" and sent.model == "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert sent.body["system"] == [
        {"type": "text", "text": "You optimize Python.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    assert sent.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Make sort_list faster."}]}]
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 512}
    assert (result.content, result.reasoning, result.model_id) == ("Use sorted().", "Bubble sort is quadratic.", SONNET)
    expected = (Decimal("3.00") * 1000 + Decimal("0.30") * 300 + Decimal("6.00") * 50 + Decimal("15.00") * 200) / 10**6
    assert result.cost.total_usd == expected == result.total_cost_usd
    assert [attempt.error for attempt in result.attempts] == [None]


def test_tools_images_and_tool_results_cross_to_claude_and_back(provider):
    provider.enqueue(Reply(tool_calls=[ToolCall("run_tests", {"path": "tests/"}, id="toolu_1")]))
    tools = (
        {
            "type": "function",
            "function": {
                "name": "run_tests",
                "description": "Run pytest",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        },
    )
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "What is slow here?"}, image]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "toolu_0", "type": "function", "function": {"name": "run_tests", "arguments": '{"path": "a"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_0", "content": "3 passed"},
    ]
    result = call(messages, options=CallOptions(tools=tools, tool_choice="required"))
    body = provider.requests[-1].body
    assert body["tools"][0]["input_schema"]["properties"] == {"path": {"type": "string"}}
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"][0]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_0", "name": "run_tests", "input": {"path": "a"}}
    ]
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "3 passed"}]
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("toolu_1", "run_tests", {"path": "tests/"})]


# ------------------------------------------------------------------------------------------ Azure


@pytest.mark.parametrize(("model", "token_param"), [(GPT5, "max_completion_tokens"), (GPT41, "max_tokens")])
def test_azure_takes_the_token_parameter_of_the_model(provider, model, token_param):
    provider.enqueue(
        Reply(text="ok", input_tokens=2000, cache_read_tokens=500, output_tokens=300, reasoning_tokens=100)
    )
    result = call(model=model, options=CallOptions(max_tokens=777, temperature=0.2, reasoning_effort="low"))
    sent = provider.requests[-1]
    assert sent.protocol == "azure" and sent.headers["api-key"] == "test-azure-key"
    assert (
        sent.body[token_param] == 777
        and "max_completion_tokens max_tokens".replace(token_param, "").strip() not in sent.body
    )
    assert ("reasoning_effort" in sent.body) == (model == GPT5)
    assert ("temperature" in sent.body) == (model == GPT41)  # reasoning models take only their default
    assert result.cost == cost_of(model, result.raw_usage)


# ------------------------------------------------------------------------------------------ structured output


class Verdict(BaseModel):
    faster: bool
    reason: str


@pytest.mark.parametrize("model", [SONNET, GPT5])
def test_structured_output_is_validated_with_one_repair_round(provider, model):
    good = {"faster": True, "reason": "sorted() is O(n log n)"}
    if model == SONNET:  # Claude answers through the forced respond tool
        provider.enqueue(
            Reply(tool_calls=[ToolCall("respond", {"faster": "maybe"})]), Reply(tool_calls=[ToolCall("respond", good)])
        )
    else:
        provider.enqueue(Reply(text='{"faster": "maybe"}'), Reply(text=json.dumps(good)))
    result = call(model=model, schema=Verdict)
    assert result.parsed == Verdict.model_validate(good)
    assert len(result.attempts) == 2
    first, repair = provider.requests[-2].body, provider.requests[-1].body
    if model == SONNET:
        assert first["tool_choice"] == {"type": "tool", "name": "respond"}
    else:
        assert first["response_format"]["json_schema"]["schema"] == Verdict.model_json_schema()
    assert "did not match the required JSON schema" in json.dumps(repair["messages"][-1])


def test_structured_output_that_stays_invalid_fails(provider):
    provider.enqueue(Reply(text="not json"), Reply(text="still not json"))
    with pytest.raises(LLMCallFailed, match="after a repair round"):
        call(model=GPT5, schema={"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]})


# ------------------------------------------------------------------------------------------ retries and fallbacks


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(429, retry_after=0.2),
        Fault.status(500),
        Fault.overloaded(),
        Fault.timeout(2),
        Fault.drop(),
        Fault.malformed(),
    ],
    ids=["429", "500", "529", "timeout", "drop", "malformed"],
)
def test_transient_failures_are_retried(provider, fault):
    provider.enqueue(fault, Reply(text="second time lucky"))
    started = time.perf_counter()
    result = call(options=CallOptions(timeout_s=0.5))
    assert result.content == "second time lucky"
    assert [attempt.error is None for attempt in result.attempts] == [False, True]
    if fault.kind == "status" and fault.status == 429:
        assert time.perf_counter() - started >= 0.2  # retry-after honoured


def test_permanent_failures_move_to_the_fallback_without_retrying(provider):
    provider.enqueue(Fault.status(403), Reply(text="from azure"))
    result = call(fallbacks=[GPT5])
    assert (result.content, result.model_id) == ("from azure", GPT5)
    assert [(a.model_id, a.status_code) for a in result.attempts] == [(SONNET, 403), (GPT5, None)]


def test_when_every_attempt_fails_the_error_lists_them(provider, settings_env):
    settings_env(LLM_MAX_ATTEMPTS="2")
    provider.enqueue(*[Fault.status(500)] * 4)
    with pytest.raises(LLMCallFailed) as failure:
        call(fallbacks=[GPT5])
    assert [(a.model_id, a.status_code) for a in failure.value.attempts] == [(SONNET, 500)] * 2 + [(GPT5, 500)] * 2


def test_no_retry_sleeps_past_the_deadline(provider):
    provider.enqueue(Fault.status(429, retry_after=30))
    started = time.perf_counter()
    with pytest.raises(LLMCallFailed):
        call(context=CallContext(call_type="optimize", deadline=Deadline.after(2)))
    assert time.perf_counter() - started < 1.5


# ------------------------------------------------------------------------------------------ bad input, no network


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"model": "gpt-17"}, UnknownModelError),
        ({"messages": []}, InvalidLLMRequest),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, InvalidLLMRequest),
        ({"messages": [{"role": "user", "content": "x" * 800_000}]}, ContextLengthError),
        ({"schema": {"type": "object", "properties": {"x": {"type": "integr"}}}}, InvalidLLMRequest),
        ({"schema": int}, InvalidLLMRequest),
        ({"options": CallOptions(max_tokens=10**6)}, InvalidLLMRequest),
    ],
)
def test_bad_input_fails_before_any_request(provider, kwargs, error):
    with pytest.raises(error):
        call(**kwargs)
    assert provider.requests == []


# ------------------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("model", [SONNET, GPT5])
def test_a_streamed_call_yields_deltas_and_ends_with_its_cost(provider, model):
    provider.enqueue(
        Reply(text="Use sorted() instead of the bubble sort.", input_tokens=900, output_tokens=40, chunk_chars=8)
    )

    async def collect():
        return [item async for item in stream_llm(ASK, model=model, context=CONTEXT)]

    items = run(collect())
    *deltas, result = items
    assert len(deltas) > 1 and "".join(deltas) == result.content == "Use sorted() instead of the bubble sort."
    assert result.cost.total_usd > 0 and result.cost == cost_of(model, result.raw_usage)
    assert result.cost.output_tokens == 40


def test_a_stream_is_retried_only_before_its_first_delta(provider):
    provider.enqueue(Fault.status(500), Reply(text="fine"))

    async def collect():
        return [item async for item in stream_llm(ASK, model=GPT5, context=CONTEXT)]

    *deltas, result = run(collect())
    assert "".join(deltas) == "fine" and len(result.attempts) == 2


# ------------------------------------------------------------------------------------------ money


def test_calls_hold_their_worst_case_in_the_request_reservation(provider):
    provider.latency_s = 0.2
    worst = worst_case_cost(SONNET, estimate_tokens(json.dumps([ASK, (), None], default=str)), 1000)
    ledger = Ledger(budget_usd=worst * Decimal("2.5"))  # a nearly spent allowance: room for two calls at once
    context = CallContext(call_type="optimize", ledger=ledger)
    options = CallOptions(max_tokens=1000)
    results = run(
        fan_out([call_llm(ASK, model=SONNET, context=context, options=options) for _ in range(6)], Deadline.after(10))
    )
    refused = [r for r in results if isinstance(r, AllowanceExhausted)]
    answered = [r for r in results if isinstance(r, LLMResult)]
    assert len(answered) == 2 and len(refused) == 4
    assert len(provider.requests) == 2  # the refused never reached the provider
    spent = sum(line.cost_usd for line in ledger.lines)
    assert spent == sum(r.cost.total_usd for r in answered) <= ledger.budget_usd
    assert ledger.committed_usd == spent  # no hold left behind


def test_warm_calls_reuse_the_providers_connection(provider):
    call()
    call()
    assert provider.connections_opened == 1


# ------------------------------------------------------------------------------------------ records


def test_each_attempt_is_recorded_without_secrets(provider, log_lines, capsys, settings_env):
    settings_env(LOG_LLM_CONTENT="true")
    private = Principal(
        user_id="u-1",
        org_id="o-1",
        plan="pro",
        privacy_mode=True,
        key_id="k",
        monthly_quota=None,
        user_allowance_usd=None,
        org_allowance_usd=None,
    )
    provider.enqueue(Fault.status(500), Reply(text="ok", input_tokens=10, output_tokens=5))
    call(model=GPT5, context=CallContext(call_type="explain", trace_id="trace-9", principal=private))
    records = [line for line in log_lines if line["message"] == "llm_call"]
    assert [(r["attempt"], r.get("status_code"), r["model"], r["call_type"], r["user_id"]) for r in records] == [
        (1, 500, GPT5, "explain", "u-1"),
        (2, None, GPT5, "explain", "u-1"),
    ]
    assert records[1]["cost"]["total_usd"] == str(
        cost_of(GPT5, {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}).total_usd
    )
    assert "messages" not in records[1]  # privacy mode wins over LOG_LLM_CONTENT
    output = capsys.readouterr().out
    emf = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    assert {(doc["model"], doc["call_type"]) for doc in emf} == {(GPT5, "explain")}
    assert "test-azure-key" not in json.dumps(log_lines) + output


def test_a_call_with_a_principal_and_no_ledger_meters_itself_through_the_store(provider, settings_env, user_id):
    from datetime import UTC, datetime

    from aiservice.store.usage import UsageStore, month_of

    you = Principal(
        user_id=user_id,
        org_id=None,
        plan="free",
        privacy_mode=False,
        key_id="k",
        monthly_quota=None,
        user_allowance_usd=Decimal("0.05"),
        org_allowance_usd=None,
    )
    provider.enqueue(Reply(text="ok", input_tokens=1000, output_tokens=100))
    result = call(context=CallContext(call_type="explain", principal=you), options=CallOptions(max_tokens=1000))
    store, month = UsageStore(), month_of(datetime.now(UTC))
    allowance = store.allowance("USER", user_id, month)
    assert allowance is not None
    assert allowance["spent_usd"] == result.cost.total_usd and allowance["reserved_usd"] == 0
    day = store.daily_usage_of_user(user_id, datetime.now(UTC).date())
    assert [(row["model"], row["call_type"], row["input_tokens"]) for row in day] == [(SONNET, "explain", 1000)]
    # $0.0455 left; a call that may write 3,100 tokens ($0.0465 of output alone) no longer fits: refused before
    # any request reaches the provider.
    requests_before = len(provider.requests)
    with pytest.raises(AllowanceExhausted):
        call(context=CallContext(call_type="explain", principal=you), options=CallOptions(max_tokens=3100))
    assert len(provider.requests) == requests_before
