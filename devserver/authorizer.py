"""Lambda REQUEST authorizers as API Gateway runs them: identity check, invocation, policy, cache."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TypeVar

from devserver.console import log
from devserver.events import HttpRequest
from devserver.runtime import FunctionError, FunctionRuntime, InvocationTimeout
from devserver.template import AuthorizerSpec, as_string

UNAUTHORIZED_MESSAGE = "Unauthorized"  # a Lambda authorizer raising exactly this means 401


@dataclass(eq=False)  # not frozen: raising sets attributes such as __traceback__
class Refusal(Exception):
    """API Gateway answers instead of the integration; kind names the gateway response."""

    kind: str
    status: int
    message: str
    authorizer_context: dict[str, str] | None = None


@dataclass(frozen=True)
class _Answer:
    principal_id: str
    statements: list[dict]
    context: dict[str, str]
    latency_ms: int


class Authorizers:
    """Runs the stack's authorizers and caches each answer per identity-source value for its TTL."""

    def __init__(self, specs: dict[str, AuthorizerSpec], runtime: FunctionRuntime):
        self._specs = specs
        self._runtime = runtime
        self._cache: dict[tuple, tuple[float, _Answer]] = {}
        self._lock = threading.Lock()

    def authorize(self, name: str, request: HttpRequest, event: dict) -> dict:
        """requestContext.authorizer for an allowed request; raises Refusal otherwise."""
        spec = self._specs[name]
        identity = tuple(request.header(header) for header in spec.identity_headers)
        if not all(identity):
            raise Refusal("UNAUTHORIZED", 401, UNAUTHORIZED_MESSAGE)  # API Gateway does not call the function
        cache_key = (name, *identity)
        answer = self._cached(cache_key)
        if answer is None:
            answer = self._invoke(spec, event)
            if spec.ttl_s > 0:
                with self._lock:
                    self._cache[cache_key] = (time.monotonic() + spec.ttl_s, answer)
        # A cached policy is checked against this request's methodArn, as API Gateway does.
        effect = _evaluate(answer.statements, event["methodArn"])
        if effect != "Allow":
            message = "User is not authorized to access this resource"
            if effect == "Deny":
                message += " with an explicit deny"
            raise Refusal("ACCESS_DENIED", 403, message, answer.context)
        return {**answer.context, "principalId": answer.principal_id, "integrationLatency": answer.latency_ms}

    def _cached(self, key: tuple) -> _Answer | None:
        with self._lock:
            expires, answer = self._cache.get(key, (0.0, None))
            return answer if time.monotonic() < expires else None

    def _invoke(self, spec: AuthorizerSpec, event: dict) -> _Answer:
        started = time.monotonic()
        try:
            result = self._runtime.invoke(spec.function_id, event)
        except FunctionError as error:
            if error.error_message == UNAUTHORIZED_MESSAGE:
                raise Refusal("UNAUTHORIZED", 401, UNAUTHORIZED_MESSAGE) from None
            log(f"authorizer {spec.name} failed: {error}")
            raise _configuration_error() from None
        except InvocationTimeout as timeout:
            log(f"authorizer {spec.name}: {timeout}")
            raise _configuration_error() from None
        try:
            return _Answer(
                principal_id=_require(result.get("principalId"), str),
                statements=_statements(_require(result.get("policyDocument"), dict)),
                context={key: _context_value(value) for key, value in (result.get("context") or {}).items()},
                latency_ms=int((time.monotonic() - started) * 1000),
            )
        except (AttributeError, TypeError, ValueError) as invalid:
            log(f"authorizer {spec.name} returned an invalid response: {invalid}")
            raise _configuration_error() from None


def _configuration_error() -> Refusal:
    return Refusal("AUTHORIZER_CONFIGURATION_ERROR", 500, "Internal server error")


_T = TypeVar("_T")


def _require(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _statements(policy_document: dict) -> list[dict]:
    statements = policy_document.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise ValueError("policyDocument.Statement must be a statement or a list of them")
    return statements


def _context_value(value: object) -> str:
    """API Gateway accepts only string, number and boolean context values and hands them on as strings."""
    if value is None or isinstance(value, (dict, list)):
        raise ValueError(f"context values must be strings, numbers or booleans, not {type(value).__name__}")
    return as_string(value)


def _evaluate(statements: list[dict], arn: str) -> str | None:
    """Allow, Deny (an explicit deny wins) or None (nothing matched: an implicit deny)."""
    effect = None
    for statement in statements:
        if not any(
            _wildcard_match(action, "execute-api:Invoke", ignore_case=True)
            for action in _as_list(statement.get("Action"))
        ):
            continue
        if any(_wildcard_match(resource, arn) for resource in _as_list(statement.get("Resource"))):
            if statement.get("Effect") == "Deny":
                return "Deny"
            if statement.get("Effect") == "Allow":
                effect = "Allow"
    return effect


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _wildcard_match(pattern: object, value: str, ignore_case: bool = False) -> bool:
    """IAM matching: * is any run of characters, ? one character."""
    regex = re.escape(as_string(pattern)).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None
