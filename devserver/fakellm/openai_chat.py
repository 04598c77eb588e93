"""Chat Completions, for Azure OpenAI and any OpenAI-compatible endpoint (same bodies, different paths, auth
and error codes).

azure:  POST /openai/deployments/{deployment}/chat/completions?api-version=...   (`api-key` header)
openai: POST /v1/chat/completions  (also /chat/completions)                     (`Authorization: Bearer`)
Streaming (`stream: true`): SSE `data: {chat.completion.chunk}` lines, then `data: [DONE]`; with
`stream_options: {"include_usage": true}` every chunk has `"usage": null` and a last chunk with empty `choices`
carries the usage. Azure adds its content-filter results (and a first chunk with empty `choices`).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any

from devserver.fakellm.script import (
    Fault,
    RecordedRequest,
    Reply,
    WireResponse,
    estimate_input_tokens,
    json_response,
    openai_finish_reason,
    pieces,
    retry_after_headers,
)

AZURE_PATH = re.compile(r"^/openai/deployments/(?P<model>[^/]+)/chat/completions$")
OPENAI_PATH = re.compile(r"^(/v1)?/chat/completions$")
SSE = "text/event-stream; charset=utf-8"

_ids = itertools.count(1)
_request_ids = itertools.count(1)
_SAFE = {"filtered": False, "severity": "safe"}
_FILTERS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


def error(
    request: RecordedRequest, status: int, message: str, *, code: str | None = None, headers: dict | None = None
) -> WireResponse:
    """Azure: {"error": {"code", "message"}}; OpenAI: {"error": {"message", "type", "param", "code"}}."""
    body: dict[str, Any]
    if request.protocol == "azure":
        body = {"error": {"code": code or str(status), "message": message}}
    else:
        fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
        kind, default_code = _OPENAI_ERRORS.get(status, fallback)
        body = {"error": {"message": message, "type": kind, "param": None, "code": code or default_code}}
    return json_response(status, body, {"x-request-id": f"req_fake{next(_request_ids):08d}", **(headers or {})})


def validate(request: RecordedRequest) -> WireResponse | None:
    if request.protocol == "azure":
        if not (request.headers.get("api-key") or request.headers.get("authorization", "").startswith("Bearer ")):
            return error(
                request,
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
                "key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        if not request.query.get("api-version"):
            return error(request, 404, "Resource not found")
    elif not request.headers.get("authorization", "").startswith("Bearer "):
        return error(request, 401, "You didn't provide an API key.", code="invalid_api_key")
    body = request.body
    if not isinstance(body, dict):
        return error(request, 400, "We could not parse the JSON body of your request.")
    if request.protocol == "openai" and not body.get("model"):
        return error(request, 400, "you must provide a model parameter")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return error(request, 400, "'messages' must contain at least one message", code="invalid_request_error")
    return None


def usage(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
    if reply.usage is not None:
        return dict(reply.usage)
    cache_write = reply.cache_write_tokens or 0
    prompt = reply.input_tokens
    if prompt is None:
        prompt = estimate_input_tokens(request.body) + reply.cache_read_tokens + cache_write
    completion = reply.output_tokens
    if completion is None:
        completion = reply.output_estimate() + reply.reasoning_tokens
    prompt_details: dict[str, int] = {"cached_tokens": reply.cache_read_tokens, "audio_tokens": 0}
    if reply.cache_write_tokens is not None:
        prompt_details["cache_write_tokens"] = reply.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_calls(reply: Reply, n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or f"call_fake{n:06d}{i:02d}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def _envelope(request: RecordedRequest, reply: Reply, n: int, obj: str) -> dict[str, Any]:
    body = request.body if isinstance(request.body, dict) else {}
    return {
        "id": f"chatcmpl-fake{n:012d}",
        "object": obj,
        "created": int(time.time()),
        "model": reply.model or body.get("model") or request.model or "fake-model",
        "system_fingerprint": "fp_fakellm",
    }


def completion(request: RecordedRequest, reply: Reply) -> dict[str, Any]:
    n = next(_ids)
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply, n)
    finish = openai_finish_reason(reply)
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    result = {**_envelope(request, reply, n, "chat.completion"), "choices": [choice], "usage": usage(request, reply)}
    if request.protocol == "azure":
        choice["content_filter_results"] = _FILTERS
        result["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
    return result


def chunks(request: RecordedRequest, reply: Reply) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects of a streamed reply, in order."""
    n = next(_ids)
    base = _envelope(request, reply, n, "chat.completion.chunk")
    body = request.body if isinstance(request.body, dict) else {}
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if request.protocol == "azure":
            choice["content_filter_results"] = {} if finish else _FILTERS
        return {**base, "choices": [choice], **extra}

    out: list[dict[str, Any]] = []
    if request.protocol == "azure":
        filters = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
        out.append({**base, "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": filters})
    out.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    out += [chunk({"content": p}) for p in pieces(reply.text, reply.chunk_chars)]
    for i, call in enumerate(_tool_calls(reply, n)):
        function = {"name": call["function"]["name"], "arguments": ""}
        head = {"index": i, "id": call["id"], "type": "function", "function": function}
        out.append(chunk({"tool_calls": [head]}))
        out += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]})
            for p in pieces(call["function"]["arguments"], reply.chunk_chars)
        ]
    out.append(chunk({}, openai_finish_reason(reply)))
    if include_usage:
        out.append({**base, "choices": [], "usage": usage(request, reply)})
    return out


def _sse(payload: Any) -> bytes:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()


def _stream(lines: list[bytes]) -> WireResponse:
    headers = {"content-type": SSE, "cache-control": "no-cache", "x-request-id": f"req_fake{next(_request_ids):08d}"}
    return WireResponse(200, headers, chunks=lines)


def reply(request: RecordedRequest, spec: Reply) -> WireResponse:
    if not request.stream:
        return json_response(200, completion(request, spec), {"x-request-id": f"req_fake{next(_request_ids):08d}"})
    return _stream([_sse(c) for c in chunks(request, spec)] + [_sse("[DONE]")])


def fault(request: RecordedRequest, spec: Fault) -> WireResponse:
    """The error answer of a status / overloaded / context_length / malformed / stream_error fault."""
    if spec.kind == "status":
        message = spec.message or _status_message(request, spec)
        return error(request, spec.status_code, message, headers=retry_after_headers(spec.retry_after))
    if spec.kind == "overloaded":
        message = "The server is currently overloaded with other requests. Please retry your request."
        return error(request, 503, message, headers=retry_after_headers(spec.retry_after))
    if spec.kind == "context_length":
        message = (
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 "
            "tokens. Please reduce the length of the messages."
        )
        if request.protocol == "azure":
            body = {"code": "context_length_exceeded", "message": message, "type": "invalid_request_error"}
            return json_response(400, {"error": {**body, "param": "messages"}})
        return error(request, 400, message, code="context_length_exceeded")
    if spec.kind == "malformed":
        if not request.stream:
            truncated = b'{"id": "chatcmpl-trunc", "object": "chat.comp'
            return WireResponse(200, {"content-type": "application/json"}, truncated)
        first = chunks(request, Reply())[0]
        broken = b'data: {"id": "chatcmpl-trunc", "choices": [{"delta": {"cont\n\n'
        return _stream([_sse(first), broken, _sse("[DONE]")])
    if spec.kind == "stream_error":
        if not request.stream:
            return error(request, 500, spec.message or "The server had an error while processing your request.")
        lines = [_sse(c) for c in chunks(request, Reply(text="partial answer"))[:3]]
        lines.append(_sse({"error": {"message": spec.message, "type": "server_error", "param": None, "code": None}}))
        return _stream(lines)
    raise ValueError(f"not an answer of its own: {spec}")


def _status_message(request: RecordedRequest, spec: Fault) -> str:
    if spec.status_code == 429:
        wait = f" Please retry after {spec.retry_after:g} seconds." if spec.retry_after is not None else ""
        if request.protocol == "azure":
            return (
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                f"{request.query.get('api-version', '')} have exceeded token rate limit of your current "
                f"pricing tier.{wait}"
            )
        return f"Rate limit reached for requests.{wait}"
    if spec.status_code >= 500:
        return "The server had an error while processing your request. Sorry about that!"
    return f"Error {spec.status_code}"
