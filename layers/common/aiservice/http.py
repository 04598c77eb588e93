"""What every /ai/* handler shares: the resolver, the body cap, the caller's principal, and the one place
where domain errors become HTTP responses (`{"error": "..."}` with the right status, never a stack trace)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from aiservice import error_tracking
from aiservice.access import Principal
from aiservice.config import get_settings
from aiservice.errors import (
    AllowanceExhausted,
    InvalidRequest,
    NotOwner,
    NotSupported,
    NoValidCandidate,
    RateLimited,
    Unauthenticated,
)
from aiservice.llm.errors import InvalidLLMRequest, LLMCallFailed
from aiservice.llm.models import ContextLengthError
from aiservice.llm.runtime import Deadline, DeadlineExceeded
from aiservice.observability import logger, metrics, set_correlation_id
from aiservice.pipelines.scope import Scope

# Most specific first: QuotaExceeded is a RateLimited and shares its status.
_STATUS: tuple[tuple[type[Exception], HTTPStatus], ...] = (
    (InvalidRequest, HTTPStatus.BAD_REQUEST),
    # A body that is not UTF-8 (API Gateway passes it base64-encoded; decoding it for validation fails).
    (UnicodeDecodeError, HTTPStatus.BAD_REQUEST),
    (Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (AllowanceExhausted, HTTPStatus.PAYMENT_REQUIRED),
    (NotOwner, HTTPStatus.FORBIDDEN),
    (RateLimited, HTTPStatus.TOO_MANY_REQUESTS),
    (NotSupported, HTTPStatus.UNPROCESSABLE_ENTITY),
    # What the LLM client raises: a prompt the models cannot take, a call the pipeline built wrong, providers
    # that failed every attempt, work cut off at the deadline.
    (ContextLengthError, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (InvalidLLMRequest, HTTPStatus.UNPROCESSABLE_ENTITY),
    (LLMCallFailed, HTTPStatus.BAD_GATEWAY),
    (NoValidCandidate, HTTPStatus.BAD_GATEWAY),
    (DeadlineExceeded, HTTPStatus.GATEWAY_TIMEOUT),
)


def error_response(status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    if status < HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.info("refused", extra={"status": int(status), "reason": message})
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": message}),
        headers=headers,
    )


def service_error_response(error: Exception) -> Response[str]:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), HTTPStatus.INTERNAL_SERVER_ERROR)
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, RateLimited) else None
    return error_response(status, str(error), headers)


def _describe(location: tuple[Any, ...]) -> str:
    """('body', 'items', 0, 'trace_id') -> 'items[0].trace_id'."""
    parts = [str(part) for part in location[1:]] if location and location[0] == "body" else list(map(str, location))
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def validation_error_response(error: RequestValidationError) -> Response[str]:
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return error_response(HTTPStatus.BAD_REQUEST, "request body is not valid JSON")
    first = problems[0] if problems else {}
    field = _describe(tuple(first.get("loc", ())))
    kind = first.get("type", "invalid")
    message = {"missing": "is required", "model_attributes_type": "must be a JSON object"}.get(
        kind, f"is invalid ({first.get('msg', kind)})"
    )
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, f"field '{field}' {message}{more}")


def _trace_id_of(body: Any) -> str | None:
    """codeflash requests carry trace_id at the top level; /ai/refinement sends a list of such items."""
    item = body[0] if isinstance(body, list) and body else body
    trace_id = item.get("trace_id") if isinstance(item, dict) else None
    return trace_id if isinstance(trace_id, str) and trace_id else None


def _correlate_by_trace_id(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    """Runs after request validation, which has already parsed (and cached) the JSON body."""
    try:
        trace_id = _trace_id_of(app.current_event.json_body)
    except ValueError:  # no body, or not JSON: validation has answered or the route takes none
        trace_id = None
    if trace_id:
        set_correlation_id(app.current_event.raw_event, trace_id)
    return next_middleware(app)


def create_app() -> APIGatewayRestResolver:
    """A resolver with pydantic validation, log lines correlated by trace_id and every error mapped to JSON."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.use(middlewares=[_correlate_by_trace_id])
    app.exception_handler([kind for kind, _ in _STATUS])(service_error_response)
    app.exception_handler(RequestValidationError)(validation_error_response)
    app.exception_handler(NotFoundError)(
        lambda error: error_response(HTTPStatus.NOT_FOUND, "no such route: check the method and the path")
    )

    app.exception_handler(Exception)(_unexpected)
    return app


def _unexpected(error: Exception) -> Response[str]:
    logger.exception("unhandled error")
    metrics.add_metric(name="UnhandledError", unit="Count", value=1)
    error_tracking.capture(error)  # Sentry, when SENTRY_DSN is set (aiservice.error_tracking)
    return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; it was logged, retry later")


def principal_of(app: APIGatewayRestResolver) -> Principal:
    """The caller, as the authorizer resolved it for this request."""
    return Principal.from_authorizer_context(app.current_event.raw_event["requestContext"].get("authorizer"))


def request_scope(app: APIGatewayRestResolver) -> Scope:
    """The caller and the deadline of this invocation: what a pipeline needs from the HTTP layer."""
    started = received_at(app.current_event.raw_event)
    return Scope(principal_of(app), Deadline.for_invocation(app.lambda_context, started=started))


def received_at(event: dict[str, Any]) -> float | None:
    """When API Gateway received the request (`requestContext.requestTimeEpoch`), on the monotonic clock.

    The gateway's timeout runs from about then, not from the handler's start: the authorizer, a cold start or a
    SnapStart restore come first. A deadline counted from the handler's start let the gateway answer 504 before
    the handler answered (the client lost candidates it was billed for; locally, the worker was stopped before
    it settled, its reservation held). None, so the handler's start, for a time no waiting gateway can have sent:
    older than the integration timeout (a sample or replayed event) or in the future."""
    epoch_ms = (event.get("requestContext") or {}).get("requestTimeEpoch")
    if not isinstance(epoch_ms, int | float) or isinstance(epoch_ms, bool):
        return None
    waited_s = time.time() - epoch_ms / 1000
    if not 0 <= waited_s < get_settings().api_timeout_ms / 1000:
        return None
    return time.monotonic() - waited_s


def lambda_handler(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point of an /ai/* function: body cap, log context, metrics flush, then the resolver."""
    error_tracking.init()  # Sentry's Lambda integration, only with SENTRY_DSN set; imports nothing otherwise

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        set_correlation_id(event)
        body = event.get("body") or ""
        # Base64 bodies are 4/3 of the bytes they carry; the cap is on the bytes the client sent.
        size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
        limit = get_settings().max_body_bytes
        if size > limit:
            message = f"request body of {size} bytes is over the {limit}-byte limit"
            logger.info("refused", extra={"status": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.value, "reason": message})
            return {
                "statusCode": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "headers": {"Content-Type": content_types.APPLICATION_JSON},
                "body": json.dumps({"error": message}),
            }
        return app.resolve(event, context)

    return handler
