"""API Gateway (REST API, Lambda proxy integration) in front of the local function runtime.

Transport-free: ApiGateway.handle turns an HttpRequest into an HttpResponse; devserver.server puts it on HTTP
(and enforces the body cap there, before the body is read). Where the real service answers unknown routes with 403
"Missing Authentication Token", this one answers a clearer 404 (405 for a known path with another method),
rendered through the same gateway responses.
"""

from __future__ import annotations

import base64
import json
import re
import traceback
import uuid
from dataclasses import dataclass, replace

from devserver.authorizer import Authorizers, Refusal
from devserver.console import log
from devserver.events import HttpRequest, authorizer_event, method_arn, proxy_event, request_context
from devserver.front import HttpResponse
from devserver.runtime import FunctionError, FunctionRuntime, InvocationTimeout, RuntimeClosed, Throttled
from devserver.template import GatewayResponse, Route, Stack

# API Gateway takes 10 MiB, but Lambda's synchronous invocations take 6 MB: a larger proxy event never reaches
# the function, so the local gateway refuses such a body outright.
MAX_BODY_BYTES = 6 * 1024 * 1024
LAMBDA_ERROR_MESSAGE = "Internal server error"  # API Gateway's 502 for a failed or malformed Lambda answer
DEFAULT_ERROR_TEMPLATE = '{"message":$context.error.messageString}'  # API Gateway's own when none is set


# ----------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern
    parameters: list[str]

    @property
    def specificity(self) -> tuple[int, int]:
        """Literal paths before {param} paths before {proxy+}, as API Gateway prefers."""
        return ("+}" in self.route.path, len(self.parameters))


def _compile(route: Route) -> _CompiledRoute:
    parameters, parts = [], []
    for segment in route.path.strip("/").split("/"):
        greedy = re.fullmatch(r"\{(.+)\+\}", segment)
        single = re.fullmatch(r"\{(.+)\}", segment)
        if greedy:
            parameters.append(greedy.group(1))
            parts.append("(.+)")
        elif single:
            parameters.append(single.group(1))
            parts.append("([^/]+)")
        else:
            parts.append(re.escape(segment))
    return _CompiledRoute(route, re.compile("/" + "/".join(parts)), parameters)


class Router:
    """Exact matching: no trailing-slash redirects, no prefix matches."""

    def __init__(self, routes: list[Route]):
        self._routes = sorted(map(_compile, routes), key=lambda compiled: compiled.specificity)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | list[str]:
        """The route and its path parameters, or the methods the path allows (empty: no such path)."""
        allowed = []
        for compiled in self._routes:
            found = compiled.pattern.fullmatch(path)
            if not found:
                continue
            if compiled.route.method in (method, "ANY"):
                return compiled.route, dict(zip(compiled.parameters, found.groups(), strict=True))
            allowed.append(compiled.route.method)
        return allowed


# ----------------------------------------------------------------------------------------------- responses


class GatewayResponses:
    """API Gateway's own answers (401, 403, 413, 504...), rendered from the template's GatewayResponses."""

    def __init__(self, configured: dict[str, GatewayResponse]):
        self._configured = configured

    def render(
        self, kind: str, status: int, message: str, request_id: str, authorizer_context: dict[str, str] | None = None
    ) -> HttpResponse:
        specific = self._configured.get(kind)
        fallback = self._configured.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
        template = next((r.template for r in (specific, fallback) if r and r.template), DEFAULT_ERROR_TEMPLATE)
        variables = {
            "error.message": message,
            "error.responseType": kind,
            "requestId": request_id,
            **{f"authorizer.{key}": value for key, value in (authorizer_context or {}).items()},
        }

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name == "error.messageString":  # the quoted form
                return json.dumps(message)
            return json.dumps(variables.get(name, ""))[1:-1]  # escaped, so the body stays valid JSON

        body = re.sub(r"\$context\.(\w+(?:\.\w+)*)", substitute, template)
        headers = [*(fallback.headers.items() if fallback else ()), *(specific.headers.items() if specific else ())]
        return HttpResponse(
            status=specific.status if specific and specific.status else status,
            headers=[("Content-Type", "application/json"), ("x-amzn-RequestId", request_id), *headers],
            body=body.encode(),
        )


def _proxy_response(result: object, request_id: str) -> HttpResponse:
    """The Lambda proxy integration's answer -> HTTP; raises ValueError when it is malformed."""
    if not isinstance(result, dict):
        raise ValueError(f"the handler returned {type(result).__name__}, not a dict")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode must be an HTTP status, got {status!r}")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError(f"body must be a string or null, got {type(body).__name__}")
    raw = base64.b64decode(body) if body and result.get("isBase64Encoded") else (body or "").encode()
    multi_value_headers = result.get("multiValueHeaders") or {}
    # Like API Gateway: both maps are merged, and multiValueHeaders wins for a name in both.
    headers = [
        (name, str(value)) for name, value in (result.get("headers") or {}).items() if name not in multi_value_headers
    ]
    headers += [(name, str(value)) for name, values in multi_value_headers.items() for value in values]
    headers = [(name, value) for name, value in headers if name.lower() not in _TRANSPORT_HEADERS]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default
    return HttpResponse(status, [*headers, ("x-amzn-RequestId", request_id)], raw)


_TRANSPORT_HEADERS = {"content-length", "transfer-encoding", "connection"}  # the HTTP layer owns these


# ----------------------------------------------------------------------------------------------- the gateway


class ApiGateway:
    """stage_in_path: serve under /<stage>/..., as the execute-api URL does (what `aiservice-forward --url` expects);
    the functions still see the path without it."""

    def __init__(self, stack: Stack, runtime: FunctionRuntime, stage_in_path: bool = False):
        self.stack = stack
        self.runtime = runtime
        self.stage_prefix = f"/{stack.stage_name}" if stage_in_path else ""
        self.router = Router(stack.routes())
        self.responses = GatewayResponses(stack.gateway_responses)
        self.authorizers = Authorizers(stack.authorizers, runtime)

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        try:
            return self._handle(request, request_id)
        except Refusal as refusal:
            return self.responses.render(
                refusal.kind, refusal.status, refusal.message, request_id, refusal.authorizer_context
            )
        except Throttled as throttled:  # the function's (or its authorizer's) concurrency limit and queue are full
            log(str(throttled))
            response = self.responses.render("THROTTLED", 429, str(throttled), request_id)
            response.headers.append(("Retry-After", str(throttled.retry_after_s)))
            return response
        except Exception:  # a bug here must still give the client an answer, and no stack trace
            log(f"internal error on {request.method} {request.path}:\n{traceback.format_exc()}")
            return self.responses.render("DEFAULT_5XX", 500, LAMBDA_ERROR_MESSAGE, request_id)

    def _handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        if self.stage_prefix:
            if not request.path.startswith(f"{self.stage_prefix}/"):
                raise Refusal(
                    "MISSING_AUTHENTICATION_TOKEN",
                    404,
                    f"no route for {request.method} {request.path} (the API is under {self.stage_prefix}/)",
                )
            request = replace(request, path=request.path[len(self.stage_prefix) :])
        match = self.router.match(request.method, request.path)
        if isinstance(match, list):
            raise self._no_route(request, match)
        route, path_parameters = match
        context = request_context(request, route, self.stack.stage_name, request_id)
        if route.authorizer:
            arn = method_arn(self.stack.region, self.stack.stage_name, request)
            event = authorizer_event(request, route, path_parameters, dict(context), arn)
            context["authorizer"] = self.authorizers.authorize(route.authorizer, request, event)
        event = proxy_event(request, route, path_parameters, context)
        return self._integrate(route, event, request_id)

    def _integrate(self, route: Route, event: dict, request_id: str) -> HttpResponse:
        function_timeout_s = self.stack.functions[route.function_id].timeout_s
        integration_timeout_s = route.timeout_ms / 1000
        try:
            result = self.runtime.invoke(route.function_id, event, min(function_timeout_s, integration_timeout_s))
            return _proxy_response(result, request_id)
        except InvocationTimeout:
            if integration_timeout_s <= function_timeout_s:
                raise Refusal("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out") from None
            # Lambda's own timeout came first: a function error, which API Gateway turns into a 502.
            log(f"{route.function_id}: Task timed out after {function_timeout_s} seconds")
        except FunctionError as error:
            log(f"{route.function_id}: {error}")
        except ValueError as malformed:
            log(f"{route.function_id}: malformed Lambda proxy response: {malformed}")
        except RuntimeClosed:
            raise Refusal("DEFAULT_5XX", 503, "the local server is shutting down") from None
        raise Refusal("DEFAULT_5XX", 502, LAMBDA_ERROR_MESSAGE)

    @staticmethod
    def _no_route(request: HttpRequest, allowed: list[str]) -> Refusal:
        # API Gateway would answer 403 "Missing Authentication Token" (the gateway response type used here)
        if allowed:
            message = f"method {request.method} not allowed on {request.path}; allowed: {', '.join(allowed)}"
            return Refusal("MISSING_AUTHENTICATION_TOKEN", 405, message)
        return Refusal("MISSING_AUTHENTICATION_TOKEN", 404, f"no route for {request.method} {request.path}")
