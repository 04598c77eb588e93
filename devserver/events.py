"""The events API Gateway (REST API, Lambda proxy integration, v1 payload) hands to functions and authorizers."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from devserver.template import LOCAL_ACCOUNT_ID, Route

LOCAL_API_ID = "localapi00"  # API ids are 10 lower-case alphanumerics


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # without the query string, still percent-encoded
    query: str
    headers: list[tuple[str, str]]  # in arrival order, names as sent
    body: bytes
    source_ip: str
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """The last value of a header, matched case-insensitively (HTTP header names are)."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


def _single_and_multi(pairs: list[tuple[str, str]]) -> tuple[dict | None, dict | None]:
    """API Gateway's two views of repeated keys: the last value, and every value. None when there are none."""
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {key: values[-1] for key, values in multi.items()}, multi


def method_arn(region: str, stage: str, request: HttpRequest) -> str:
    return f"arn:aws:execute-api:{region}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/{stage}/{request.method}/{request.path[1:]}"


def request_context(request: HttpRequest, route: Route, stage: str, request_id: str) -> dict:
    received = time.gmtime(request.received_at)
    return {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "resourceId": hashlib.sha1(route.path.encode()).hexdigest()[:6],  # noqa: S324 - an id, not security
        "resourcePath": route.path,
        "httpMethod": request.method,
        "path": f"/{stage}{request.path}",
        "stage": stage,
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", received),
        "requestTimeEpoch": int(request.received_at * 1000),
        "domainName": request.header("Host") or "localhost",
        "domainPrefix": "localhost",
        "identity": {
            "sourceIp": request.source_ip,
            "userAgent": request.header("User-Agent"),
            **dict.fromkeys(
                (
                    "accessKey",
                    "accountId",
                    "caller",
                    "cognitoAuthenticationProvider",
                    "cognitoAuthenticationType",
                    "cognitoIdentityId",
                    "cognitoIdentityPoolId",
                    "principalOrgId",
                    "user",
                    "userArn",
                )
            ),
        },
    }


def _request_fields(request: HttpRequest, route: Route, path_parameters: dict[str, str], context: dict) -> dict:
    """What the proxy event and the REQUEST authorizer event have in common."""
    headers, multi_value_headers = _single_and_multi(request.headers)
    query, multi_value_query = _single_and_multi(parse_qsl(request.query, keep_blank_values=True))
    return {
        "resource": route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_value_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_value_query,
        "pathParameters": {name: unquote(value) for name, value in path_parameters.items()} or None,
        "stageVariables": None,
        "requestContext": context,
    }


def proxy_event(request: HttpRequest, route: Route, path_parameters: dict[str, str], context: dict) -> dict:
    """The Lambda proxy integration event; a body that is not UTF-8 text is base64-encoded."""
    try:
        body, is_base64 = (request.body.decode("utf-8") if request.body else None), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    return {**_request_fields(request, route, path_parameters, context), "body": body, "isBase64Encoded": is_base64}


def authorizer_event(
    request: HttpRequest, route: Route, path_parameters: dict[str, str], context: dict, arn: str
) -> dict:
    """The event of a Lambda REQUEST authorizer."""
    return {"type": "REQUEST", "methodArn": arn, **_request_fields(request, route, path_parameters, context)}
