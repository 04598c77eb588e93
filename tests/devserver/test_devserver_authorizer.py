"""Authorizer policy evaluation and caching, and gateway-response rendering, without processes."""

from __future__ import annotations

import json
from typing import cast

import pytest

from devserver.authorizer import Authorizers, Refusal
from devserver.events import HttpRequest
from devserver.gateway import GatewayResponses
from devserver.runtime import FunctionError, FunctionRuntime, InvocationTimeout
from devserver.template import AuthorizerSpec, GatewayResponse

ARN = "arn:aws:execute-api:us-east-1:123456789012:localapi00/v1/POST/ai/optimize"


class StubRuntime:
    def __init__(self, answer: object):
        self.answer = answer
        self.calls = 0

    def invoke(self, function_id: str, event: dict, wait_s: float | None = None) -> object:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _policy(effect: str, resource: object, context: dict | None = None) -> dict:
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    return {"principalId": "u1", "policyDocument": {"Statement": [statement]}, "context": context or {}}


def _request(authorization: str | None = "Bearer cf-x") -> HttpRequest:
    headers = [] if authorization is None else [("authorization", authorization)]
    return HttpRequest("POST", "/ai/optimize", "", headers, b"{}", "127.0.0.1")


def _authorize(answer: object, ttl_s: int = 300, request: HttpRequest | None = None, runtime=None) -> dict:
    runtime = runtime or StubRuntime(answer)
    authorizers = Authorizers({"Auth": AuthorizerSpec("Auth", "AuthFn", ["Authorization"], ttl_s)}, runtime)
    return authorizers.authorize("Auth", request or _request(), {"methodArn": ARN})


@pytest.mark.parametrize(
    "resource",
    [
        ARN,
        "arn:aws:execute-api:us-east-1:123456789012:localapi00/v1/*",
        [ARN.replace("POST", "GET"), "arn:aws:execute-api:*:*:*/v1/POST/ai/*"],
    ],
)
def test_allow_covering_the_method_arn(resource):
    assert _authorize(_policy("Allow", resource, {"n": 1}))["n"] == "1"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (_policy("Allow", ARN.replace("POST", "GET")), 403),  # does not cover this route
        (_policy("Deny", "*"), 403),
        (
            {
                "principalId": "u1",
                "policyDocument": {
                    "Statement": [
                        {"Action": "*", "Effect": "Allow", "Resource": "*"},
                        {"Action": "execute-api:*", "Effect": "Deny", "Resource": ARN},
                    ]
                },
            },
            403,
        ),  # an explicit deny wins
        (FunctionError("Exception", "Unauthorized"), 401),
        (FunctionError("KeyError", "'headers'"), 500),
        (InvocationTimeout("slow"), 500),
        ({"policyDocument": {"Statement": []}}, 500),  # no principalId
        (_policy("Allow", "*", {"nested": {"no": "objects"}}), 500),
        (["not", "a", "dict"], 500),
    ],
)
def test_refusals(answer, status):
    with pytest.raises(Refusal) as refused:
        _authorize(answer)
    assert refused.value.status == status


def test_missing_identity_is_401_without_an_invocation():
    runtime = StubRuntime(_policy("Allow", "*"))
    for identity in (None, ""):
        with pytest.raises(Refusal) as refused:
            _authorize(None, request=_request(identity), runtime=runtime)
        assert (refused.value.kind, refused.value.status) == ("UNAUTHORIZED", 401)
    assert runtime.calls == 0


@pytest.mark.parametrize(("ttl_s", "calls"), [(300, 1), (0, 3)])
def test_answers_are_cached_for_the_ttl(ttl_s, calls):
    runtime = StubRuntime(_policy("Allow", "*"))
    spec = AuthorizerSpec("Auth", "AuthFn", ["Authorization"], ttl_s)
    authorizers = Authorizers({"Auth": spec}, cast(FunctionRuntime, runtime))  # the runtime's invoke, stubbed
    for _ in range(3):
        authorizers.authorize("Auth", _request(), {"methodArn": ARN})
    assert runtime.calls == calls


def test_gateway_response_rendering():
    responses = GatewayResponses(
        {
            "ACCESS_DENIED": GatewayResponse(403, '{"error": "$context.authorizer.error", "id": "$context.requestId"}'),
            "DEFAULT_4XX": GatewayResponse(None, '{"error": "$context.error.message"}', {"X-Kind": "4xx"}),
        }
    )
    denied = responses.render("ACCESS_DENIED", 403, "denied", "r-1", {"error": 'say "no"'})
    assert (denied.status, json.loads(denied.body)) == (403, {"error": 'say "no"', "id": "r-1"})
    throttled = responses.render("THROTTLED", 429, "Too Many Requests", "r-2")
    assert (throttled.status, json.loads(throttled.body)) == (429, {"error": "Too Many Requests"})
    assert ("X-Kind", "4xx") in throttled.headers
    # With no template at all, API Gateway's own: {"message": ...}
    failed = responses.render("INTEGRATION_TIMEOUT", 504, "Endpoint request timed out", "r-3")
    assert (failed.status, json.loads(failed.body)) == (504, {"message": "Endpoint request timed out"})
