"""What the fake server answers: reply specs, faults, the recorded request and the offline demo model.

Protocol-neutral. Each protocol module (bedrock, openai_chat) turns a `Reply` into its own wire format and a
`Fault` into its own error shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Protocol = Literal["bedrock", "azure", "openai"]


@dataclass(frozen=True)
class ToolCall:
    """One tool call in a reply: Anthropic `tool_use` block / OpenAI `tool_calls[i]` (arguments as JSON)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None  # default: toolu_bdrk_fake_<n> / call_fake_<n>


@dataclass(frozen=True)
class Reply:
    """A successful answer. Usage numbers left as None are computed from the request and the reply.

    Usage fields use each protocol's own meaning (see shared/reference/pricing.md):
    - `input_tokens`: Anthropic `usage.input_tokens` (cache tokens NOT included); OpenAI/Azure
      `usage.prompt_tokens` (cached tokens included). Default: len(json(messages + system)) // 4, and for
      OpenAI plus `cache_read_tokens` and `cache_write_tokens`, so the cached part stays a subset.
    - `output_tokens`: Anthropic `output_tokens` (thinking included); OpenAI `completion_tokens` (reasoning
      included). Default: len(thinking + text + tool arguments) // 4, for OpenAI plus `reasoning_tokens`.
    - `cache_read_tokens`: Anthropic `cache_read_input_tokens`; OpenAI `prompt_tokens_details.cached_tokens`.
    - `cache_write_5m_tokens` / `cache_write_1h_tokens`: Anthropic `cache_creation.ephemeral_5m/1h_input_tokens`,
      their sum is `cache_creation_input_tokens`.
    - `cache_write_tokens`: OpenAI `prompt_tokens_details.cache_write_tokens` (sent only when set).
    - `reasoning_tokens`: OpenAI `completion_tokens_details.reasoning_tokens`.
    - `usage`: the exact usage object to send instead of the computed one (for odd or unknown shapes).

    `thinking` is sent only by Bedrock (a `thinking` block with `signature`); the OpenAI protocols carry no
    reasoning text. `stop_reason` accepts Anthropic or OpenAI names and is translated (end_turn <-> stop,
    tool_use <-> tool_calls, max_tokens <-> length); default: tool_use when there are tool calls, else end_turn.
    """

    text: str = ""
    thinking: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_write_tokens: int | None = None
    reasoning_tokens: int = 0
    usage: Mapping[str, Any] | None = None
    stop_reason: str | None = None
    model: str | None = None  # the `model` field of the response; default derived from the request
    chunk_chars: int = 16  # size of the streamed text / thinking / tool-argument pieces
    # Time spent writing the reply after the server's latency (its time to the first byte): a stream's pieces are
    # spread over it, a whole reply waits it out before its body, as a model generating tokens would.
    generation_s: float = 0.0

    def __post_init__(self) -> None:
        calls = tuple(_tool_call(call) for call in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)

    def output_estimate(self) -> int:
        arguments = "".join(json.dumps(dict(call.arguments)) for call in self.tool_calls)
        return max(1, len((self.thinking or "") + self.text + arguments) // 4)


def _tool_call(call: ToolCall | Mapping[str, Any] | tuple) -> ToolCall:
    if isinstance(call, ToolCall):
        return call
    if isinstance(call, Mapping):
        return ToolCall(name=call["name"], arguments=call.get("arguments", {}), id=call.get("id"))
    return ToolCall(*call)


FaultKind = Literal["status", "overloaded", "timeout", "drop", "malformed", "context_length", "stream_error"]


@dataclass(frozen=True)
class Fault:
    """A scripted failure, answered in the protocol's own error shape. Build one with the class methods."""

    kind: FaultKind
    status_code: int = 0
    retry_after: float | None = None
    seconds: float = 0.0
    midstream: bool = False
    message: str | None = None

    @classmethod
    def status(cls, code: int, *, retry_after: float | None = None, message: str | None = None) -> Fault:
        """An HTTP error: Bedrock `x-amzn-ErrorType` + {"message"}; Azure/OpenAI {"error": {"code", "message"}}.
        `retry_after` (seconds) is sent as `retry-after` (and `retry-after-ms`)."""
        return cls("status", status_code=code, retry_after=retry_after, message=message)

    @classmethod
    def overloaded(cls, *, retry_after: float | None = None) -> Fault:
        """Bedrock: 529 {"type": "error", "error": {"type": "overloaded_error"}}; Azure/OpenAI: 503."""
        return cls("overloaded", retry_after=retry_after)

    @classmethod
    def timeout(cls, seconds: float) -> Fault:
        """Wait `seconds` before answering (with the default reply), then close the connection: a client with a
        shorter timeout times out."""
        return cls("timeout", seconds=seconds)

    @classmethod
    def drop(cls, *, midstream: bool = False) -> Fault:
        """Close the socket without a response; with midstream=True a streamed request first gets the headers
        and part of the stream (a non-streamed one half of the body)."""
        return cls("drop", midstream=midstream)

    @classmethod
    def malformed(cls) -> Fault:
        """200 with a truncated JSON body; for streams a good first event, then a corrupt frame / SSE line."""
        return cls("malformed")

    @classmethod
    def context_length(cls) -> Fault:
        """400: Bedrock ValidationException "Input is too long for requested model."; Azure/OpenAI
        code `context_length_exceeded`."""
        return cls("context_length")

    @classmethod
    def stream_error(cls, message: str = "The system encountered an unexpected error during processing.") -> Fault:
        """A streamed request starts fine, then gets an error event: Bedrock an `internalServerException`
        exception frame, Azure/OpenAI `data: {"error": ...}`. A non-streamed request gets a 500."""
        return cls("stream_error", message=message)


@dataclass
class WireResponse:
    """What the server writes: a body sent with Content-Length, or chunks sent with chunked encoding."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[bytes] | None = None  # a stream (Bedrock event stream frames, SSE lines)


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    protocol: Protocol | None  # None: a path no protocol serves (answered 404)
    method: str
    path: str  # without the query string, still URL-encoded
    query: dict[str, str]
    model: str | None  # Bedrock modelId (decoded), Azure deployment, or the OpenAI body's model
    stream: bool
    body: Any  # parsed JSON, or None when the body was not JSON
    headers: dict[str, str]  # lower-cased names
    connection: int  # 1-based number of the TCP connection it arrived on
    received_at: float  # time.monotonic()


Item = Reply | Fault | Callable[[RecordedRequest], "Reply | Fault"]


def estimate_input_tokens(body: Any) -> int:
    """len(json(messages + system)) // 4, at least 1."""
    if not isinstance(body, Mapping):
        return 1
    parts = [body.get("messages") or [], body.get("system") or ""]
    return max(1, len(json.dumps(parts)) // 4)


def last_user_text(body: Any) -> str:
    """The text of the last user message, for either message format (string or list of text parts/blocks)."""
    messages = body.get("messages") if isinstance(body, Mapping) else None
    for message in reversed(messages or []):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                str(part.get("text", "")) for part in content if isinstance(part, Mapping) and "text" in part
            )
    return ""


_CODE_BLOCK = re.compile(r"```[^\n`]*\n.*?```", re.DOTALL)


def demo_reply(request: RecordedRequest) -> Reply:
    """The offline demo model: a deterministic, clearly labelled answer that echoes the last user message
    (its first fenced code block when it has one, so code-parsing callers get something to parse)."""
    said = last_user_text(request.body)
    block = _CODE_BLOCK.search(said)
    if block:
        echo = "Here is your code back, unchanged:\n\n" + block.group(0)
    else:
        quoted = " ".join(said.split())
        echo = f'You said: "{quoted[:200]}{"..." if len(quoted) > 200 else ""}"'
    text = (
        "offline demo model: no LLM provider credentials are set, so this canned answer comes from the local "
        f"fake server, not from a real model.\n\n{echo}\n"
    )
    body = request.body if isinstance(request.body, Mapping) else {}
    thinking_on = isinstance(body.get("thinking"), Mapping) and body["thinking"].get("type") in ("enabled", "adaptive")
    thinking = "offline demo model: no real reasoning happened." if thinking_on else None
    return Reply(text=text, thinking=thinking)


def anthropic_stop_reason(reply: Reply) -> str:
    reason = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
    return {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}.get(
        reason, reason
    )


def openai_finish_reason(reply: Reply) -> str:
    reason = reply.stop_reason or ("tool_calls" if reply.tool_calls else "stop")
    return {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "tool_use": "tool_calls",
        "max_tokens": "length",
        "refusal": "content_filter",
    }.get(reason, reason)


def pieces(text: str, size: int) -> list[str]:
    """`text` cut into pieces of at most `size` characters (none for an empty text)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> WireResponse:
    return WireResponse(status, {"content-type": "application/json", **(headers or {})}, json.dumps(payload).encode())


def retry_after_headers(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    whole = f"{seconds:g}" if seconds == int(seconds) else f"{seconds}"
    return {"retry-after": whole, "retry-after-ms": str(int(seconds * 1000))}
