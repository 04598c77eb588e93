"""Bedrock InvokeModel for Anthropic models, as AsyncAnthropicBedrock calls it.

POST /model/{modelId}/invoke                      -> Anthropic Messages JSON
POST /model/{modelId}/invoke-with-response-stream -> application/vnd.amazon.eventstream, one `chunk` event per
                                                     Anthropic streaming event: {"bytes": base64(event JSON)}
Errors: `x-amzn-ErrorType: <Name>Exception:...` with {"message": ...}; overloaded is Anthropic's 529 shape.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from typing import Any

from devserver.fakellm import eventstream
from devserver.fakellm.script import (
    Fault,
    RecordedRequest,
    Reply,
    WireResponse,
    anthropic_stop_reason,
    estimate_input_tokens,
    json_response,
    pieces,
    retry_after_headers,
)

PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>invoke|invoke-with-response-stream)$")
EVENTSTREAM = "application/vnd.amazon.eventstream"

_ids = itertools.count(1)
_ERRORS = {
    400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "The requested resource could not be found."),
    408: ("ModelTimeoutException", "The request took too long to process."),
    424: ("ModelErrorException", "The model failed to process the request."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The system encountered an unexpected error during processing. Try again."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
_GEOGRAPHIES = ("global.", "us.", "eu.", "apac.", "jp.", "au.", "us-gov.", "ca.")


def response_model(model_id: str) -> str:
    """The `model` Bedrock reports: `global.anthropic.claude-sonnet-4-5-20250929-v1:0` ->
    `claude-sonnet-4-5-20250929`; an application inference profile ARN is reported as given."""
    if model_id.startswith("arn:"):
        return model_id
    name = model_id
    for prefix in _GEOGRAPHIES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    name = name.removeprefix("anthropic.")
    return re.sub(r"-v\d+(:\d+)?$", "", name)


def error(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> WireResponse:
    fallback = ("InternalServerException" if status >= 500 else "ValidationException", "")
    name, default = _ERRORS.get(status, fallback)
    return json_response(
        status,
        {"message": message or default or f"Error {status}"},
        {
            "x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-requestid": str(uuid.uuid4()),
            **(headers or {}),
        },
    )


def validate(request: RecordedRequest) -> WireResponse | None:
    """Bedrock's own refusals: no signature/token (403), a body InvokeModel would not accept (400)."""
    auth = request.headers.get("authorization", "")
    if not (auth.startswith("AWS4-HMAC-SHA256 ") or auth.startswith("Bearer ")):
        headers = {"x-amzn-errortype": "MissingAuthenticationTokenException"}
        return json_response(403, {"message": "Missing Authentication Token"}, headers)
    body = request.body
    if not isinstance(body, dict):
        return _malformed_input("the body is not a JSON object")
    for key in ("model", "stream"):
        if key in body:
            return _malformed_input(f"#: extraneous key [{key}] is not permitted")
    for key in ("anthropic_version", "max_tokens", "messages"):
        if key not in body:
            return _malformed_input(f"#: required key [{key}] not found")
    if not isinstance(body["messages"], list) or not body["messages"]:
        return _malformed_input("#/messages: expected minimum item count: 1")
    return None


def _malformed_input(problem: str) -> WireResponse:
    return error(400, f"Malformed input request: {problem}, please reformat your input and try again.")


def usage(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
    if reply.usage is not None:
        return dict(reply.usage)
    return {
        "input_tokens": reply.input_tokens if reply.input_tokens is not None else estimate_input_tokens(request.body),
        "cache_creation_input_tokens": reply.cache_write_5m_tokens + reply.cache_write_1h_tokens,
        "cache_read_input_tokens": reply.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": reply.cache_write_5m_tokens,
            "ephemeral_1h_input_tokens": reply.cache_write_1h_tokens,
        },
        "output_tokens": reply.output_tokens if reply.output_tokens is not None else reply.output_estimate(),
    }


def message(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
    n = next(_ids)
    content: list[dict[str, Any]] = []
    if reply.thinking is not None:
        signature = base64.b64encode(f"fake-signature-{n}".encode()).decode()
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": signature})
    if reply.text or not (reply.thinking is not None or reply.tool_calls):
        content.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        call_id = call.id or f"toolu_bdrk_fake{n:06d}{i:02d}"
        content.append({"type": "tool_use", "id": call_id, "name": call.name, "input": dict(call.arguments)})
    return {
        "id": f"msg_bdrk_fake{n:012d}",
        "type": "message",
        "role": "assistant",
        "model": reply.model or response_model(request.model or ""),
        "content": content,
        "stop_reason": anthropic_stop_reason(reply),
        "stop_sequence": None,
        "usage": usage(request, reply),
    }


def reply(request: RecordedRequest, spec: Reply) -> WireResponse:
    msg = message(request, spec)
    latency_ms = str(_elapsed_ms(request))
    if not request.stream:
        u = msg["usage"]
        headers = {
            "x-amzn-requestid": str(uuid.uuid4()),
            "x-amzn-bedrock-invocation-latency": latency_ms,
            "x-amzn-bedrock-input-token-count": str(u.get("input_tokens", 0)),
            "x-amzn-bedrock-output-token-count": str(u.get("output_tokens", 0)),
            "x-amzn-bedrock-cache-read-input-token-count": str(u.get("cache_read_input_tokens", 0)),
            "x-amzn-bedrock-cache-write-input-token-count": str(u.get("cache_creation_input_tokens", 0)),
        }
        return json_response(200, msg, headers)
    frames = [eventstream.event(_chunk(event)) for event in stream_events(request, msg, spec.chunk_chars)]
    return WireResponse(200, _stream_headers(), chunks=frames)


def stream_events(request: RecordedRequest, msg: dict[str, Any], chunk_chars: int) -> list[dict[str, Any]]:
    """The Anthropic streaming events of `msg`, in order, as Bedrock sends them."""
    u = msg["usage"]
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {**u, "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(msg["content"]):
        first: dict[str, Any]
        if block["type"] == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"], chunk_chars)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "text":
            first = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"], chunk_chars)]
        else:
            first = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in pieces(json.dumps(block["input"]), chunk_chars)
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": first})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": u.get("output_tokens", 0)},
        }
    )
    latency = _elapsed_ms(request)
    metrics = {
        "inputTokenCount": u.get("input_tokens", 0),
        "outputTokenCount": u.get("output_tokens", 0),
        "invocationLatency": latency,
        "firstByteLatency": latency,
        "cacheReadInputTokenCount": u.get("cache_read_input_tokens", 0),
        "cacheWriteInputTokenCount": u.get("cache_creation_input_tokens", 0),
    }
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
    return events


def fault(request: RecordedRequest, spec: Fault) -> WireResponse:
    """The error answer of a status / overloaded / context_length / malformed / stream_error fault."""
    if spec.kind == "status":
        return error(spec.status_code, spec.message, retry_after_headers(spec.retry_after))
    if spec.kind == "overloaded":
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        headers = {"x-amzn-requestid": str(uuid.uuid4()), **retry_after_headers(spec.retry_after)}
        return json_response(529, body, headers)
    if spec.kind == "context_length":
        return error(400, "Input is too long for requested model.")
    if spec.kind == "malformed":
        if not request.stream:
            return WireResponse(200, {"content-type": "application/json"}, b'{"id": "msg_bdrk_trunc", "type": "mess')
        start = eventstream.event(_chunk({"type": "message_start", "message": message(request, Reply())}))
        corrupt = eventstream.event(b'{"bytes": "AAAA"}', corrupt_crc=True)
        return WireResponse(200, _stream_headers(), chunks=[start, corrupt])
    if spec.kind == "stream_error":
        if not request.stream:
            return error(500, spec.message)
        events = stream_events(request, message(request, Reply(text="partial answer")), 16)
        frames = [eventstream.event(_chunk(e)) for e in events[:3]]
        frames.append(eventstream.exception("internalServerException", json.dumps({"message": spec.message}).encode()))
        return WireResponse(200, _stream_headers(), chunks=frames)
    raise ValueError(f"not an answer of its own: {spec}")


def _chunk(event: dict[str, Any]) -> bytes:
    return json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode()


def _stream_headers() -> dict[str, str]:
    return {
        "content-type": EVENTSTREAM,
        "x-amzn-requestid": str(uuid.uuid4()),
        "x-amzn-bedrock-content-type": "application/json",
    }


def _elapsed_ms(request: RecordedRequest) -> int:
    return max(1, int((time.monotonic() - request.received_at) * 1000))
