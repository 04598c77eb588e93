"""Chat Completions through the `openai` SDK: Azure OpenAI (AsyncAzureOpenAI) and any OpenAI-compatible
endpoint (AsyncOpenAI with a base URL: Gemini's OpenAI endpoint, OpenRouter, vLLM, Ollama), which differ only
in how the client is made."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiservice.llm.errors import ProviderError
from aiservice.llm.providers.sdk_errors import classify
from aiservice.llm.types import JsonObject, Message, ProviderReply, ProviderRequest, ToolCall


def to_chat(request: ProviderRequest) -> dict[str, Any]:
    """chat.completions.create keyword arguments for a request."""
    model, options = request.model, request.options
    kwargs: dict[str, Any] = {
        "model": model.provider_model_id,
        "messages": [_plain(message) for message in request.messages],
        # GPT-5 and the reasoning models take max_completion_tokens; older ones max_tokens.
        model.token_param: options.max_tokens,
    }
    if options.temperature is not None and "reasoning" not in model.capabilities:
        kwargs["temperature"] = options.temperature  # reasoning models accept only their default
    if options.reasoning_effort and model.reasoning_effort:
        kwargs["reasoning_effort"] = options.reasoning_effort
    if options.tools:
        kwargs["tools"] = list(options.tools)
    if options.tool_choice is not None:
        kwargs["tool_choice"] = options.tool_choice
    if options.json_schema is not None:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": options.json_schema},
        }
    return kwargs


def _plain(message: Message) -> Message:
    """Drops the Claude-only cache_control marks from content parts."""
    content = message.get("content")
    if not isinstance(content, list):
        return message
    return {**message, "content": [{k: v for k, v in part.items() if k != "cache_control"} for part in content]}


def from_chat(completion: dict[str, Any]) -> ProviderReply:
    if not completion.get("choices"):
        raise ProviderError("malformed response: no choices", retryable=True, raw_usage=completion.get("usage"))
    choice = completion["choices"][0]
    message = choice.get("message") or {}
    calls = []
    for call in message.get("tool_calls") or ():
        try:
            arguments = json.loads(call["function"]["arguments"] or "{}")
        except ValueError as error:
            raise ProviderError(
                f"malformed tool call arguments: {error}", retryable=True, raw_usage=completion.get("usage")
            ) from error
        calls.append(ToolCall(id=call["id"], name=call["function"]["name"], arguments=arguments))
    if completion.get("usage") is None:
        raise ProviderError("malformed response: no usage", retryable=True)
    return ProviderReply(
        content=message.get("content") or "",
        reasoning=message.get("reasoning_content"),  # some compatible servers return the model's reasoning
        tool_calls=tuple(calls),
        raw_usage=completion["usage"],
        stop_reason=choice.get("finish_reason"),
        raw=completion,
    )


class ChatCompletionsProvider:
    """One SDK client; `name` says which provider it speaks for in records."""

    def __init__(self, name: str, client: Any, sdk: Any) -> None:
        self.name = name
        self._client = client
        self._sdk = sdk

    async def complete(self, request: ProviderRequest) -> ProviderReply:
        try:
            completion = await self._client.chat.completions.create(
                **to_chat(request), timeout=request.options.timeout_s
            )
        except Exception as error:
            raise classify(error, self._sdk) from error
        return from_chat(completion.model_dump(mode="json"))

    async def stream(self, request: ProviderRequest) -> AsyncIterator[str | ProviderReply]:
        content: list[str] = []
        calls: dict[int, JsonObject] = {}
        usage = finish = None
        try:
            chunks = await self._client.chat.completions.create(
                **to_chat(request),
                stream=True,
                stream_options={"include_usage": True},  # else a streamed call reports no usage: never free
                timeout=request.options.timeout_s,
            )
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = chunk.usage.model_dump(mode="json")
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    delta = choice.delta
                    if delta.content:
                        content.append(delta.content)
                        yield delta.content
                    for call in delta.tool_calls or ():
                        entry = calls.setdefault(call.index, {"id": "", "function": {"name": "", "arguments": ""}})
                        entry["id"] = call.id or entry["id"]
                        if call.function is not None:
                            entry["function"]["name"] += call.function.name or ""
                            entry["function"]["arguments"] += call.function.arguments or ""
        except Exception as error:
            failure = classify(error, self._sdk)
            failure.raw_usage = usage
            raise failure from error
        message = {"content": "".join(content), "tool_calls": [calls[i] for i in sorted(calls)] or None}
        yield from_chat({"choices": [{"message": message, "finish_reason": finish}], "usage": usage})


def load_sdk() -> None:
    """Import the openai SDK now, without building a client (which needs a key): SnapStart's warm-up."""
    import openai  # noqa: F401


def azure_provider(endpoint: str, api_key: str, api_version: str) -> ChatCompletionsProvider:
    import openai  # the SDK loads here, on the first call that needs it

    client = openai.AsyncAzureOpenAI(azure_endpoint=endpoint, api_key=api_key, api_version=api_version, max_retries=0)
    return ChatCompletionsProvider("azure", client, openai)


def compatible_provider(base_url: str, api_key: str) -> ChatCompletionsProvider:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    return ChatCompletionsProvider("openai_compatible", client, openai)
