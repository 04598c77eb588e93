"""The fake LLM server, driven by the real SDKs over HTTP on loopback: AsyncAnthropicBedrock (InvokeModel and its
event stream), AsyncAzureOpenAI and AsyncOpenAI (chat completions and SSE), scripted faults, connection reuse,
concurrency, the demo model and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic.types import MessageParam
from botocore.eventstream import ChecksumMismatch
from openai.types.chat import ChatCompletionMessageParam

from devserver.fakellm import FakeLLMServer, Fault, RecordedRequest, Reply, ToolCall, eventstream

ROOT = Path(__file__).resolve().parents[2]
SONNET = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU_REGIONAL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
ASK = "Make sort_list faster, please."
USER: list[MessageParam] = [{"role": "user", "content": ASK}]  # the Messages API's type
CHAT_USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": ASK}]  # the same, Chat Completions' type


def _fakellm_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("fakellm-")}


@pytest.fixture
def server():
    before = _fakellm_threads()
    fake = FakeLLMServer()
    yield fake
    fake.stop()
    assert _fakellm_threads() - before == set(), "stop() left server threads behind"


def bedrock(server: FakeLLMServer, **options) -> anthropic.AsyncAnthropicBedrock:
    options.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropicBedrock(
        base_url=server.url, aws_region="us-east-1", aws_access_key="x", aws_secret_key="y", **options
    )


def azure(server: FakeLLMServer, **options) -> openai.AsyncAzureOpenAI:
    options.setdefault("max_retries", 0)
    return openai.AsyncAzureOpenAI(azure_endpoint=server.url, api_key="k", api_version="2024-10-21", **options)


def compatible(server: FakeLLMServer, **options) -> openai.AsyncOpenAI:
    options.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test", **options)


def run(coro):
    return asyncio.run(coro)


# -- Bedrock InvokeModel -------------------------------------------------------------------------------------


def test_bedrock_invoke_parses_thinking_text_tool_use_and_exact_usage(server):
    server.enqueue(
        Reply(
            text="Use sorted().",
            thinking="The list is sorted in pure Python.",
            tool_calls=[ToolCall("apply_patch", {"file": "sorter.py", "lines": [1, 2]})],
            input_tokens=1200,
            output_tokens=345,
            cache_read_tokens=800,
            cache_write_5m_tokens=100,
            cache_write_1h_tokens=50,
        )
    )

    async def call():
        client = bedrock(server)
        try:
            return await client.messages.create(
                model=SONNET,
                max_tokens=1000,
                system="You optimize code.",
                messages=USER,
                thinking={"type": "enabled", "budget_tokens": 1024},
                tools=[{"name": "apply_patch", "description": "d", "input_schema": {"type": "object"}}],
            )
        finally:
            await client.close()

    message = run(call())
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.thinking == "The list is sorted in pure Python." and thinking.signature
    assert text.text == "Use sorted()."
    assert (tool.name, tool.input) == ("apply_patch", {"file": "sorter.py", "lines": [1, 2]})
    assert tool.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"
    assert message.model == "claude-sonnet-4-5-20250929"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (1200, 345)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (800, 150)
    assert usage.cache_creation.ephemeral_5m_input_tokens == 100
    assert usage.cache_creation.ephemeral_1h_input_tokens == 50

    (request,) = server.requests
    assert request.protocol == "bedrock" and request.model == SONNET and not request.stream
    assert request.path == f"/model/{SONNET}/invoke"
    assert "model" not in request.body and request.body["anthropic_version"]
    assert request.body["system"] == "You optimize code." and request.body["thinking"]["budget_tokens"] == 1024
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=x/")


def test_bedrock_default_usage_is_estimated_and_arn_model_ids_are_decoded(server):
    server.enqueue(Reply(text="x" * 40))

    async def call():
        client = bedrock(server)
        try:
            return await client.messages.create(model=PROFILE_ARN, max_tokens=10, messages=USER)
        finally:
            await client.close()

    message = run(call())
    (request,) = server.requests
    assert request.model == PROFILE_ARN
    assert "%2F" in request.path  # the SDK encodes the ARN's slash; the server decodes it
    assert message.usage.input_tokens == len(json.dumps([USER, ""])) // 4
    assert message.usage.output_tokens == 10
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (0, 0)
    assert message.stop_reason == "end_turn"


def test_bedrock_stream_create_yields_deltas_and_usage_in_order(server):
    text = "Replace the bubble sort with sorted(); it runs in C."
    server.enqueue(
        Reply(text=text, input_tokens=900, output_tokens=77, cache_read_tokens=500, cache_write_1h_tokens=40)
    )

    async def call():
        client = bedrock(server)
        try:
            stream = await client.messages.create(model=HAIKU_REGIONAL, max_tokens=100, messages=USER, stream=True)
            return [event async for event in stream]
        finally:
            await client.close()

    events = run(call())
    types = [event.type for event in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types[1] == "content_block_start" and types[-3] == "content_block_stop"
    deltas = [event.delta.text for event in events if event.type == "content_block_delta"]
    assert len(deltas) > 1 and "".join(deltas) == text
    start_usage = events[0].message.usage
    assert (start_usage.input_tokens, start_usage.cache_read_input_tokens) == (900, 500)
    assert start_usage.cache_creation_input_tokens == 40
    assert start_usage.cache_creation.ephemeral_1h_input_tokens == 40
    assert events[-2].usage.output_tokens == 77 and events[-2].delta.stop_reason == "end_turn"
    metrics = events[-1].model_extra["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == 900 and metrics["outputTokenCount"] == 77
    assert metrics["invocationLatency"] >= 1 and metrics["firstByteLatency"] >= 1
    (request,) = server.requests
    assert request.stream and request.path.endswith("/invoke-with-response-stream")
    assert "stream" not in request.body


def test_bedrock_messages_stream_helper_accumulates_blocks_and_final_usage(server):
    server.enqueue(
        Reply(
            text="Here is the patch.",
            thinking="Think about the loop.",
            tool_calls=[ToolCall("apply_patch", {"diff": "--- a\n+++ b\n" * 3})],
            input_tokens=3000,
            output_tokens=250,
            cache_read_tokens=2000,
            cache_write_5m_tokens=300,
            chunk_chars=5,
        )
    )

    async def call():
        client = bedrock(server)
        try:
            async with client.messages.stream(model=SONNET, max_tokens=500, messages=USER) as stream:
                pieces = [piece async for piece in stream.text_stream]
                return pieces, await stream.get_final_message()
        finally:
            await client.close()

    pieces, final = run(call())
    assert "".join(pieces) == "Here is the patch." and len(pieces) == 4
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "Think about the loop." and final.content[0].signature
    assert final.content[2].input == {"diff": "--- a\n+++ b\n" * 3}
    assert final.stop_reason == "tool_use"
    usage = final.usage
    assert (usage.input_tokens, usage.output_tokens) == (3000, 250)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (2000, 300)
    assert usage.cache_creation.ephemeral_5m_input_tokens == 300


def test_eventstream_frames_decode_with_botocore():
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    frame = eventstream.event(b'{"bytes": "e30="}')
    buffer.add_data(frame[:7])
    assert list(buffer) == []
    buffer.add_data(frame[7:] + eventstream.exception("throttlingException", b'{"message": "slow down"}'))
    first, second = (message.to_response_dict() for message in buffer)  # headers decoded as a dict
    assert first["headers"] == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    assert first["body"] == b'{"bytes": "e30="}'
    assert second["status_code"] == 400
    assert second["headers"][":exception-type"] == "throttlingException"


# -- Azure OpenAI and OpenAI-compatible chat completions -------------------------------------------------------


def test_azure_completion_parses_text_tool_calls_and_exact_usage(server):
    server.enqueue(
        Reply(
            text="Calling the tool.",
            tool_calls=[ToolCall("run_tests", {"paths": ["tests/"]}, id="call_abc")],
            input_tokens=1000,
            output_tokens=300,
            cache_read_tokens=600,
            reasoning_tokens=120,
        )
    )

    async def call():
        client = azure(server)
        try:
            return await client.chat.completions.create(
                model="gpt-5-mini-deployment",
                messages=[{"role": "system", "content": "s"}, *CHAT_USER],
                max_completion_tokens=500,
                reasoning_effort="low",
            )
        finally:
            await client.close()

    completion = run(call())
    choice = completion.choices[0]
    assert choice.message.content == "Calling the tool." and choice.finish_reason == "tool_calls"
    (tool_call,) = choice.message.tool_calls
    assert tool_call.id == "call_abc" and tool_call.function.name == "run_tests"
    assert json.loads(tool_call.function.arguments) == {"paths": ["tests/"]}
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1000, 300, 1300)
    assert usage.prompt_tokens_details.cached_tokens == 600
    assert usage.completion_tokens_details.reasoning_tokens == 120

    (request,) = server.requests
    assert request.protocol == "azure" and request.model == "gpt-5-mini-deployment"
    assert request.path == "/openai/deployments/gpt-5-mini-deployment/chat/completions"
    assert request.query == {"api-version": "2024-10-21"} and request.headers["api-key"] == "k"
    assert request.body["max_completion_tokens"] == 500 and request.body["reasoning_effort"] == "low"


def test_azure_stream_with_include_usage_ends_with_a_usage_chunk(server):
    text = "Use a dict for the lookups instead of a list."
    server.enqueue(Reply(text=text, input_tokens=400, output_tokens=90, cache_read_tokens=256, reasoning_tokens=30))

    async def call():
        client = azure(server)
        try:
            stream = await client.chat.completions.create(
                model="gpt-4.1", messages=CHAT_USER, stream=True, stream_options={"include_usage": True}
            )
            return [chunk async for chunk in stream]
        finally:
            await client.close()

    chunks = run(call())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (400, 90)
    assert last.usage.prompt_tokens_details.cached_tokens == 256
    assert last.usage.completion_tokens_details.reasoning_tokens == 30
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[0].choices == []  # Azure's first chunk: prompt filter results only


def test_azure_stream_without_include_usage_has_no_usage_and_streams_tool_call_deltas(server):
    server.enqueue(Reply(tool_calls=[ToolCall("a", {"x": 1}), ToolCall("b", {"long": "y" * 40})], chunk_chars=8))

    async def call():
        client = azure(server)
        try:
            stream = await client.chat.completions.create(model="gpt-4.1", messages=CHAT_USER, stream=True)
            return [chunk async for chunk in stream]
        finally:
            await client.close()

    chunks = run(call())
    assert all(c.usage is None for c in chunks)
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = delta.id or entry["id"]
            entry["name"] = (delta.function.name if delta.function else None) or entry["name"]
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("a", {"x": 1}),
        ("b", {"long": "y" * 40}),
    ]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_openai_compatible_completion_and_stream(server):
    server.enqueue(
        Reply(text="ok", input_tokens=50, output_tokens=5, cache_read_tokens=20, cache_write_tokens=10),
        Reply(text="streamed ok", input_tokens=60, output_tokens=6),
    )

    async def call():
        client = compatible(server)
        try:
            completion = await client.chat.completions.create(model="qwen3-coder", messages=CHAT_USER)
            stream = await client.chat.completions.create(
                model="qwen3-coder", messages=CHAT_USER, stream=True, stream_options={"include_usage": True}
            )
            return completion, [chunk async for chunk in stream]
        finally:
            await client.close()

    completion, chunks = run(call())
    assert completion.choices[0].message.content == "ok" and completion.model == "qwen3-coder"
    assert completion.usage.prompt_tokens == 50 and completion.usage.prompt_tokens_details.cached_tokens == 20
    assert completion.usage.prompt_tokens_details.cache_write_tokens == 10
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed ok"
    assert chunks[-1].usage.prompt_tokens == 60 and chunks[-1].usage.completion_tokens == 6
    first, second = server.requests
    assert first.protocol == second.protocol == "openai" and first.path == "/v1/chat/completions"
    assert first.model == "qwen3-coder" and first.headers["authorization"] == "Bearer sk-test"
    assert second.stream and not first.stream


def test_verbatim_usage_object_is_sent_as_given(server):
    odd = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "surprise_tokens": 7}
    server.enqueue(Reply(text="x", usage=odd))

    async def call():
        client = azure(server)
        try:
            response = await client.chat.completions.with_raw_response.create(model="d", messages=CHAT_USER)
            return json.loads(response.text)
        finally:
            await client.close()

    assert run(call())["usage"] == odd


# -- Faults ----------------------------------------------------------------------------------------------------


async def _bedrock_call(client, stream: bool):
    if not stream:
        return await client.messages.create(model=SONNET, max_tokens=10, messages=USER)
    events = await client.messages.create(model=SONNET, max_tokens=10, messages=USER, stream=True)
    return [event async for event in events]


async def _azure_call(client, stream: bool):
    if not stream:
        return await client.chat.completions.create(model="dep", messages=CHAT_USER)
    chunks = await client.chat.completions.create(model="dep", messages=CHAT_USER, stream=True)
    return [chunk async for chunk in chunks]


FAULTS = {
    "bedrock": [
        (Fault.status(429, retry_after=7), anthropic.RateLimitError, 429),
        (Fault.status(500), anthropic.InternalServerError, 500),
        (Fault.status(503), anthropic.ServiceUnavailableError, 503),
        (Fault.overloaded(), anthropic.APIStatusError, 529),
        (Fault.context_length(), anthropic.BadRequestError, 400),
        (Fault.timeout(3), anthropic.APITimeoutError, None),
        (Fault.drop(), anthropic.APIConnectionError, None),
    ],
    "azure": [
        (Fault.status(429, retry_after=7), openai.RateLimitError, 429),
        (Fault.status(500), openai.InternalServerError, 500),
        (Fault.overloaded(), openai.InternalServerError, 503),
        (Fault.context_length(), openai.BadRequestError, 400),
        (Fault.timeout(3), openai.APITimeoutError, None),
        (Fault.drop(), openai.APIConnectionError, None),
    ],
}
MakeClient = Callable[..., anthropic.AsyncAnthropicBedrock | openai.AsyncAzureOpenAI]
PROTOCOLS: dict[str, tuple[MakeClient, Any, ModuleType]] = {
    "bedrock": (bedrock, _bedrock_call, anthropic),
    "azure": (azure, _azure_call, openai),
}


def _protocol_specifics(protocol: str, fault: Fault, err: Exception, status: int | None) -> None:
    """What each protocol's error looks like on the wire, as the real providers send it."""
    if status is None:
        return  # no answer on the wire
    if protocol == "bedrock":
        assert isinstance(err, anthropic.APIStatusError)
        body: Any = err.body  # the decoded JSON
        if status == 429:
            assert err.response.headers["x-amzn-errortype"].startswith("ThrottlingException")
            assert body == {"message": "Too many requests, please wait before trying again."}
        if status == 529:
            assert body["error"]["type"] == "overloaded_error"
        if fault.kind == "context_length":
            assert body == {"message": "Input is too long for requested model."}
            assert err.response.headers["x-amzn-errortype"].startswith("ValidationException")
    else:
        assert isinstance(err, openai.APIStatusError)
        body = err.body
        if status == 429:
            assert err.response.headers["retry-after-ms"] == "7000"
            assert body["code"] == "429" and "retry after 7 seconds" in body["message"]
        if fault.kind == "context_length":
            assert err.code == "context_length_exceeded"


@pytest.mark.parametrize("stream", [False, True], ids=["once", "stream"])
@pytest.mark.parametrize(
    "protocol, fault, error, status",
    [(protocol, *case) for protocol, cases in FAULTS.items() for case in cases],
    ids=lambda v: getattr(v, "kind", v if isinstance(v, str) else None),
)
def test_faults_surface_as_sdk_errors_and_the_server_recovers(server, protocol, fault, error, status, stream):
    make_client, send, sdk = PROTOCOLS[protocol]
    server.enqueue(fault)

    async def call():
        client = make_client(server, timeout=0.3)
        try:
            with pytest.raises(error) as raised:
                await send(client, stream)
            return raised.value, await send(client, stream)
        finally:
            await client.close()

    err, after = run(call())
    if status is not None:
        assert err.status_code == status
    else:
        assert not isinstance(err, sdk.APIStatusError)
    if fault.kind == "drop":
        assert not isinstance(err, sdk.APITimeoutError)
    if status == 429:
        assert err.response.headers["retry-after"] == "7"
    _protocol_specifics(protocol, fault, err, status)
    assert after  # the next request gets the default reply
    assert len(server.requests) == 2


def test_openai_compatible_errors_use_openai_shape(server):
    server.enqueue(Fault.status(429, retry_after=1), Fault.context_length())

    async def call():
        client = compatible(server)
        try:
            errors = []
            for _ in range(2):
                with pytest.raises(openai.APIStatusError) as raised:
                    await client.chat.completions.create(model="m", messages=CHAT_USER)
                errors.append(raised.value)
            return errors
        finally:
            await client.close()

    rate, context = run(call())
    assert isinstance(rate, openai.RateLimitError) and rate.code == "rate_limit_exceeded"
    assert rate.type == "requests" and rate.response.headers["retry-after"] == "1"
    assert isinstance(context, openai.BadRequestError) and context.code == "context_length_exceeded"


def test_malformed_bodies_fail_to_decode_and_the_server_recovers(server):
    server.enqueue(Fault.malformed(), Fault.malformed(), Fault.malformed(), Fault.malformed())
    decoding_errors = (
        ValueError,  # json.JSONDecodeError: what both SDKs raise for a truncated body or SSE line
        ChecksumMismatch,  # a corrupt Bedrock event-stream frame, raised through the SDK by botocore
        anthropic.APIResponseValidationError,
        openai.APIResponseValidationError,
    )

    async def call():
        b, a = bedrock(server), azure(server)
        try:
            for client, attempt in [(b, _bedrock_call), (a, _azure_call)]:
                for stream in (False, True):
                    with pytest.raises(Exception) as raised:
                        await attempt(client, stream)
                    assert isinstance(raised.value, decoding_errors)
            return await _bedrock_call(b, True), await _azure_call(a, True)
        finally:
            await b.close()
            await a.close()

    bedrock_events, azure_chunks = run(call())
    assert bedrock_events[-1].type == "message_stop" and azure_chunks
    assert len(server.requests) == 6


def test_stream_errors_and_midstream_drops(server):
    server.enqueue(Fault.stream_error("boom"), Fault.stream_error("boom"))
    server.enqueue(Fault.drop(midstream=True), Fault.drop(midstream=True))

    async def call():
        b, a = bedrock(server), azure(server)
        try:
            with pytest.raises(anthropic.APIStatusError) as bedrock_error:
                await _bedrock_call(b, True)
            with pytest.raises(openai.APIError) as azure_error:
                await _azure_call(a, True)
            # a connection cut in the middle of a stream: the SDKs raise (httpx's error or their own wrapper)
            with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
                await _bedrock_call(b, True)
            with pytest.raises((openai.APIConnectionError, httpx2.TransportError)):
                await _azure_call(a, True)
            return bedrock_error.value, azure_error.value, await _bedrock_call(b, False)
        finally:
            await b.close()
            await a.close()

    bedrock_error, azure_error, after = run(call())
    assert bedrock_error.body["error"] == {"type": "internalServerException", "message": "boom"}
    assert azure_error.message == "boom"
    assert after.content[0].text


def test_sdk_retry_honours_retry_after(server):
    server.enqueue(Fault.status(429, retry_after=0.3), Reply(text="second time lucky"))

    async def call():
        client = bedrock(server, max_retries=1)
        try:
            started = time.monotonic()
            message = await client.messages.create(model=SONNET, max_tokens=10, messages=USER)
            return message, time.monotonic() - started
        finally:
            await client.close()

    message, elapsed = run(call())
    assert message.content[0].text == "second time lucky"
    assert elapsed >= 0.3 and len(server.requests) == 2
    assert server.requests[1].headers["x-stainless-retry-count"] == "1"


def test_requests_the_protocols_would_reject(server):
    with httpx2.Client(base_url=server.url) as http:
        invoke = {"anthropic_version": "v", "max_tokens": 1, "messages": USER}
        unsigned = http.post(f"/model/{SONNET}/invoke", json=invoke)
        with_model = http.post(
            f"/model/{SONNET}/invoke",
            json={"model": SONNET, **invoke},
            headers={"authorization": "Bearer token"},
        )
        azure_path = "/openai/deployments/d/chat/completions"
        no_version = http.post(azure_path, json={"messages": USER}, headers={"api-key": "k"})
        no_key = http.post("/v1/chat/completions", json={"model": "m", "messages": USER})
        unknown = http.get("/nothing/here")
    assert unsigned.status_code == 403
    assert with_model.status_code == 400 and "extraneous key [model]" in with_model.json()["message"]
    assert with_model.headers["x-amzn-errortype"].startswith("ValidationException")
    assert no_version.status_code == 404 and no_version.json()["error"]["message"] == "Resource not found"
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
    assert unknown.status_code == 404 and server.requests[-1].protocol is None
    assert server.pending == 0


# -- Scripting ------------------------------------------------------------------------------------------------


def test_callables_and_a_replaced_default_reply(server):
    server.enqueue(lambda request: Reply(text=f"you asked {request.model}"))
    server.default_reply = lambda request: Fault.status(500) if request.stream else Reply(text="default")

    async def call():
        client = azure(server)
        try:
            first = await _azure_call(client, False)
            second = await _azure_call(client, False)
            with pytest.raises(openai.InternalServerError):
                await _azure_call(client, True)
            return first, second
        finally:
            await client.close()

    first, second = run(call())
    assert first.choices[0].message.content == "you asked dep"
    assert second.choices[0].message.content == "default"
    with pytest.raises(TypeError):
        server.enqueue("not an item")


def test_demo_model_is_labelled_deterministic_and_echoes_the_user(server):
    code = "```python:sorter.py\ndef sort_list(xs):\n    return sorted(xs)\n```"

    async def call():
        b, a = bedrock(server), azure(server)
        try:
            plain = await b.messages.create(model=SONNET, max_tokens=10, messages=USER)
            again = await b.messages.create(model=SONNET, max_tokens=10, messages=USER)
            with_code = await a.chat.completions.create(
                model="dep", messages=[{"role": "user", "content": [{"type": "text", "text": f"Optimize:\n{code}"}]}]
            )
            thinking = await b.messages.create(
                model=SONNET, max_tokens=2000, messages=USER, thinking={"type": "enabled", "budget_tokens": 1024}
            )
            return plain, again, with_code, thinking
        finally:
            await b.close()
            await a.close()

    plain, again, with_code, thinking = run(call())
    text = plain.content[0].text
    assert text.startswith("offline demo model:") and "Make sort_list faster, please." in text
    assert again.content[0].text == text
    assert plain.usage.input_tokens > 0 and plain.usage.output_tokens == len(text) // 4
    assert code in with_code.choices[0].message.content
    assert with_code.usage.prompt_tokens > 0 and with_code.usage.completion_tokens > 0
    assert [block.type for block in thinking.content] == ["thinking", "text"]


# -- Connections and concurrency ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_client, do_call", [(bedrock, _bedrock_call), (azure, _azure_call)], ids=["bedrock", "azure"]
)
def test_sequential_requests_on_one_client_reuse_one_connection(server, make_client, do_call):
    async def call():
        client = make_client(server)
        try:
            await do_call(client, False)
            await do_call(client, True)
            await do_call(client, False)
        finally:
            await client.close()

    run(call())
    assert server.connections_opened == 1
    assert {request.connection for request in server.requests} == {1}


def test_six_concurrent_requests_with_one_second_latency_take_about_one_second(server):
    server.latency_s = 1.0

    async def call():
        b, a = bedrock(server), azure(server)
        try:
            started = time.monotonic()
            calls = [_bedrock_call(b, i % 2 == 0) for i in range(3)] + [_azure_call(a, i % 2 == 0) for i in range(3)]
            results = await asyncio.gather(*calls)
            return results, time.monotonic() - started
        finally:
            await b.close()
            await a.close()

    results, elapsed = run(call())
    assert len(results) == 6 and all(results)
    assert 1.0 <= elapsed < 1.5
    assert server.connections_opened == 6


def test_reset_forgets_requests_script_and_connection_count(server):
    server.enqueue(Reply(text="unused"))

    async def call():
        client = azure(server)
        try:
            await client.chat.completions.create(model="d", messages=CHAT_USER)
        finally:
            await client.close()

    run(call())
    server.enqueue(Reply(text="unused"))
    server.reset()
    assert (server.requests, server.pending, server.connections_opened) == ([], 0, 0)


def test_stop_closes_kept_alive_connections_and_interrupts_waits_promptly():
    body = json.dumps({"model": "m", "messages": USER}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with FakeLLMServer() as fake:
        idle = socket.create_connection((fake.host, fake.port))
        busy = socket.create_connection((fake.host, fake.port))
        idle.sendall(request)
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        fake.latency_s = 30
        busy.sendall(request)  # waits out the 30 s latency
        while len(fake.requests) < 2:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    for sock in (idle, busy):
        sock.settimeout(2)
        while sock.recv(65536):  # the rest of an answer, then EOF: the server closed the connection
            pass
        sock.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_loopback():
    with FakeLLMServer("::1") as fake:
        assert fake.url.startswith("http://[::1]:")

        async def call():
            client = compatible(fake)
            try:
                return await client.chat.completions.create(model="m", messages=CHAT_USER)
            finally:
                await client.close()

        assert run(call()).choices[0].message.content.startswith("offline demo model:")


def test_recorded_request_type(server):
    run(_one_azure_call(server))
    (request,) = server.requests
    assert isinstance(request, RecordedRequest) and request.method == "POST" and request.received_at > 0


async def _one_azure_call(server):
    client = azure(server)
    try:
        await client.chat.completions.create(model="d", messages=CHAT_USER)
    finally:
        await client.close()


# -- The CLI --------------------------------------------------------------------------------------------------


def test_cli_serves_the_demo_model_until_ctrl_c():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "devserver.fakellm", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        first = process.stdout.readline()
        assert first.startswith("fake LLM server (offline demo model) on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        response = httpx2.post(
            f"{url}/v1/chat/completions", json={"model": "m", "messages": USER}, headers={"authorization": "Bearer k"}
        )
        assert response.json()["choices"][0]["message"]["content"].startswith("offline demo model:")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
