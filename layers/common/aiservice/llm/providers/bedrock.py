"""Anthropic Claude on AWS Bedrock (InvokeModel) through `anthropic[bedrock]`'s AsyncAnthropicBedrock.

OpenAI-format messages in: the system prompt goes to `system=`, images become base64 image blocks, assistant
tool calls become tool_use blocks and tool messages tool_result blocks. Out: text blocks concatenated, thinking
blocks as the reasoning, tool_use blocks as tool calls. A JSON schema is enforced with a forced `respond` tool,
whose input is the structured reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from aiservice.llm.errors import InvalidLLMRequest, ProviderError
from aiservice.llm.providers.sdk_errors import classify
from aiservice.llm.schema import RESPOND_TOOL
from aiservice.llm.types import JsonObject, Message, ProviderReply, ProviderRequest, StreamUsage, ToolCall

_DATA_URL = re.compile(r"data:(image/[a-z+.-]+);base64,(.+)", re.DOTALL)


def to_anthropic(request: ProviderRequest) -> dict[str, Any]:
    """The InvokeModel body (as messages.create keyword arguments) for an OpenAI-format request."""
    options = request.options
    system = "\n\n".join(_text_of(m["content"]) for m in request.messages if m["role"] == "system")
    kwargs: dict[str, Any] = {
        "model": request.model.provider_model_id,
        "max_tokens": options.max_tokens,
        "messages": _messages(request.messages),
    }
    if system:
        kwargs["system"] = (
            [{"type": "text", "text": system, "cache_control": {"type": "ephemeral", "ttl": options.cache_system}}]
            if options.cache_system
            else system
        )
    if options.thinking_budget:
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": options.thinking_budget}
    elif options.temperature is not None:  # Claude refuses a temperature with thinking on
        # The SDK's create() no longer takes `temperature`; the Messages API still does for these models.
        kwargs["extra_body"] = {"temperature": options.temperature}
    tools = [_tool(tool) for tool in options.tools]
    tool_choice = _tool_choice(options.tool_choice)
    if options.json_schema is not None:
        tools.append({"name": RESPOND_TOOL, "description": "Give your answer.", "input_schema": options.json_schema})
        # Thinking allows only "auto" or "none": then the instruction, not the choice, asks for the tool.
        tool_choice = {"type": "auto"} if options.thinking_budget else {"type": "tool", "name": RESPOND_TOOL}
    if tools:
        kwargs["tools"] = tools
    if tool_choice is not None:
        kwargs["tool_choice"] = tool_choice
    return kwargs


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _messages(messages: tuple[Message, ...]) -> list[JsonObject]:
    converted: list[JsonObject] = []
    for message in messages:
        role = message["role"]
        if role == "system":
            continue
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": _text_of(message["content"]),
            }
            if converted and converted[-1]["role"] == "user" and isinstance(converted[-1]["content"], list):
                converted[-1]["content"].append(block)  # results of parallel calls travel in one user turn
            else:
                converted.append({"role": "user", "content": [block]})
            continue
        blocks = _blocks(message.get("content"))
        for call in message.get("tool_calls") or ():
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "input": json.loads(call["function"]["arguments"] or "{}"),
                }
            )
        converted.append({"role": role, "content": blocks})
    return converted


def _blocks(content: Any) -> list[JsonObject]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part["type"] == "text":
            block = {"type": "text", "text": part["text"]}
            if "cache_control" in part:  # a block the caller marked for prompt caching
                block["cache_control"] = part["cache_control"]
            blocks.append(block)
        elif part["type"] == "image_url":
            match = _DATA_URL.fullmatch(part["image_url"]["url"])
            if match is None:
                raise InvalidLLMRequest("Claude on Bedrock takes images as data: URLs (base64), not links")
            blocks.append(
                {"type": "image", "source": {"type": "base64", "media_type": match.group(1), "data": match.group(2)}}
            )
        else:
            raise InvalidLLMRequest(f"unsupported content part type {part['type']!r}")
    return blocks


def _tool(tool: JsonObject) -> JsonObject:
    function = tool["function"]
    return {
        "name": function["name"],
        "description": function.get("description", ""),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }


def _tool_choice(choice: str | JsonObject | None) -> JsonObject | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        return {"type": "tool", "name": choice["function"]["name"]}
    return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}[choice]


def from_anthropic(message: dict[str, Any]) -> ProviderReply:
    texts, thoughts, calls = [], [], []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "thinking":
            thoughts.append(block.get("thinking", ""))
        elif kind == "tool_use":
            calls.append(ToolCall(id=block["id"], name=block["name"], arguments=block.get("input") or {}))
    return ProviderReply(
        content="".join(texts),
        reasoning="".join(thoughts) or None,
        tool_calls=tuple(calls),
        raw_usage=message["usage"],
        stop_reason=message.get("stop_reason"),
        raw=message,
    )


class BedrockProvider:
    name = "bedrock"

    def __init__(self, region: str, base_url: str | None) -> None:
        import anthropic  # the SDK loads here, on the first call that needs it

        self._sdk = anthropic
        # Retries are ours (each attempt is recorded and billed), so the SDK makes exactly one.
        self._client = anthropic.AsyncAnthropicBedrock(aws_region=region, base_url=base_url, max_retries=0)

    async def complete(self, request: ProviderRequest) -> ProviderReply:
        try:
            message = await self._client.messages.create(**to_anthropic(request), timeout=request.options.timeout_s)
        except Exception as error:
            raise classify(error, self._sdk) from error
        return from_anthropic(message.model_dump(mode="json"))

    async def stream(self, request: ProviderRequest) -> AsyncIterator[str | StreamUsage | ProviderReply]:
        message: dict[str, Any] = {}
        blocks: dict[int, JsonObject] = {}
        partial_json: dict[int, str] = {}
        try:
            events = await self._client.messages.create(
                **to_anthropic(request), stream=True, timeout=request.options.timeout_s
            )
            async for event in events:
                kind = event.type
                if kind == "message_start":
                    message = event.message.model_dump(mode="json")
                    yield StreamUsage(dict(message["usage"]))  # billed from here on, even if cut off
                elif kind == "content_block_start":
                    blocks[event.index] = event.content_block.model_dump(mode="json")
                elif kind == "content_block_delta":
                    delta = event.delta
                    block = blocks[event.index]
                    if delta.type == "text_delta":
                        block["text"] = block.get("text", "") + delta.text
                        yield delta.text
                    elif delta.type == "thinking_delta":
                        block["thinking"] = block.get("thinking", "") + delta.thinking
                    elif delta.type == "input_json_delta":
                        partial_json[event.index] = partial_json.get(event.index, "") + delta.partial_json
                elif kind == "message_delta":
                    message["stop_reason"] = event.delta.stop_reason
                    message["usage"].update(
                        {k: v for k, v in event.usage.model_dump(mode="json").items() if v is not None}
                    )
        except Exception as error:
            failure = classify(error, self._sdk)
            failure.raw_usage = message.get("usage")  # input is billed once the stream started
            raise failure from error
        for index, text in partial_json.items():
            try:
                blocks[index]["input"] = json.loads(text) if text else {}
            except ValueError as error:
                raise ProviderError(
                    f"malformed tool input in the stream: {error}", retryable=True, raw_usage=message.get("usage")
                ) from error
        message["content"] = [blocks[index] for index in sorted(blocks)]
        yield from_anthropic(message)
