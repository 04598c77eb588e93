"""Write events/<function folder>.json, a sample event for `sam local invoke -e` (and for tests/bundle/test_routes.py).

Events start from what `sam local generate-event` prints (run for real, offline), then get what API Gateway would
send for this template: the route's resource and the stage, a plain-text JSON body (the API has no binary media
types, so isBase64Encoded is false), no query string, path parameters or stage variables unless the route has them.
The API key is always the local demo key, never a real one.

    python -m tests.bundle.make_event HealthcheckFunction
    python -m tests.bundle.make_event OptimizeFunction --sample codeflash-samples/03_ai_optimize.json
    python -m tests.bundle.make_event --missing      # every function of template.yaml without an event yet

A --sample is a recorded codeflash client call ({"request_headers": ..., "request_body": ...}): its body and headers
go into the event.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from . import _sam

DEMO_AUTHORIZATION = "Bearer cf-local-demo-key"
API_ID = "1234567890"
DEFAULT_AUTHORIZED_ROUTE = ("POST", "/ai/optimize")
DROPPED_HEADERS = {"content-length", "connection"}  # hop-by-hop / recomputed by API Gateway
# What the codeflash client sends on POST /ai/* (contract §1), as API Gateway forwards it.
CLIENT_HEADERS = {
    "Accept": "*/*",
    "Authorization": DEMO_AUTHORIZATION,
    "Content-Type": "application/json",
    "User-Agent": "python-requests/2.34.2",
    "X-Forwarded-For": "127.0.0.1",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https",
}


def generate_event(*args: str) -> dict[str, Any]:
    """`sam local generate-event apigateway <args>` parsed (works offline)."""
    proc = _sam.run([_sam.tool("sam"), "local", "generate-event", "apigateway", *args], timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(_sam.describe(proc))
    return json.loads(proc.stdout)


def _headers(event_headers: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    headers = dict(event_headers)
    for name, value in extra.items():
        if name.lower() in DROPPED_HEADERS:
            continue
        value = DEMO_AUTHORIZATION if name.lower() == "authorization" else value
        same = [k for k in headers if k.lower() == name.lower()]
        headers = {k: (value if k in same else v) for k, v in headers.items()} if same else {**headers, name: value}
    headers["Host"] = f"{API_ID}.execute-api.{_sam.REGION}.amazonaws.com"
    return headers


def proxy_event(method: str, resource: str, stage: str, body: str | None, headers: dict[str, str]) -> dict[str, Any]:
    """A REST API Lambda-proxy event for one route (no path parameters: this API's routes have none)."""
    event = generate_event(
        "aws-proxy",
        "--method",
        method,
        "--path",
        resource.lstrip("/"),
        "--resource",
        resource,
        "--stage",
        stage,
        "--querystringparameters",
        "{}",
        *(["--body", body] if body is not None else []),
    )
    event.update(
        body=body,
        isBase64Encoded=False,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        pathParameters=None,
        stageVariables=None,
    )
    event["headers"] = _headers(event["headers"], headers)
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    context = event["requestContext"]
    context.update(apiId=API_ID, path=f"/{stage}{resource}", resourcePath=resource, httpMethod=method)
    context["identity"]["userAgent"] = event["headers"].get("User-Agent")
    return event


def authorizer_event(method: str, resource: str, stage: str, headers: dict[str, str]) -> dict[str, Any]:
    """A REQUEST authorizer event for one route, carrying the demo API key in Authorization."""
    event = generate_event(
        "request-authorizer", "--method", method, "--resource", resource.lstrip("/"), "--stage", stage
    )
    all_headers = _headers({}, {**CLIENT_HEADERS, **headers})
    context = event["requestContext"]
    context.update(
        apiId=API_ID,
        path=f"/{stage}{resource}",
        resourcePath=resource,
        httpMethod=method,
        requestId="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        identity={"sourceIp": "127.0.0.1", "userAgent": all_headers.get("User-Agent")},
    )
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{_sam.REGION}:123456789012:{API_ID}/{stage}/{method}{resource}",
        "resource": resource,
        "path": resource,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": context,
    }


def demo_authorizer_context() -> dict[str, str]:
    """The authorizer's answer for the local demo key (user local-demo-user, plan pro, default limits)."""
    from aiservice.access import resolve_principal
    from aiservice.apikeys import hash_key
    from aiservice.config import Settings
    from aiservice.store.keys import AccountLimits, KeyRecord
    from devserver.seed import DEMO_ORG, DEMO_USER, LOCAL_DEMO_KEY

    key = KeyRecord(hash_key(LOCAL_DEMO_KEY), DEMO_USER, DEMO_ORG, "pro", False, "active", "2026-01-01T00:00:00Z")
    principal = resolve_principal(key, AccountLimits(), AccountLimits(), Settings.model_validate({}))
    return {"principalId": DEMO_USER, **principal.to_authorizer_context()}


def event_for(stack: Any, function_id: str, sample: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = dict((sample or {}).get("request_headers") or {})
    body = json.dumps(sample["request_body"]) if sample and "request_body" in sample else None
    spec = stack.functions[function_id]
    if spec.routes:
        route = spec.routes[0]
        if route.authorizer:
            headers.setdefault("Authorization", DEMO_AUTHORIZATION)
        headers.setdefault("Accept", "application/json")
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        event = proxy_event(route.method, route.path, stack.stage_name, body, headers)
        if route.authorizer:  # what API Gateway adds once the authorizer allowed the demo key
            event["requestContext"]["authorizer"] = demo_authorizer_context()
        return event
    names = [a.name for a in stack.authorizers.values() if a.function_id == function_id]
    if not names:
        raise SystemExit(f"{function_id} has neither a route nor an authorizer: no event shape to generate")
    routes = [(r.method, r.path) for r in stack.routes() if r.authorizer in names]
    method, resource = DEFAULT_AUTHORIZED_ROUTE if DEFAULT_AUTHORIZED_ROUTE in routes or not routes else routes[0]
    return authorizer_event(method, resource, stack.stage_name, headers)


def event_path(stack: Any, function_id: str) -> Path:
    return _sam.EVENTS / f"{stack.functions[function_id].code_uri.name}.json"


def main(argv: list[str] | None = None) -> None:
    from devserver.template import Stack

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", nargs="?", help="logical id of an AWS::Serverless::Function")
    parser.add_argument("--sample", type=Path, help="recorded client call whose body and headers to use")
    parser.add_argument("--missing", action="store_true", help="every function without an events/ file")
    args = parser.parse_args(argv)
    stack = Stack.load(_sam.TEMPLATE)
    if args.missing:
        function_ids = [f for f in stack.functions if not event_path(stack, f).exists()]
    elif args.function:
        function_ids = [args.function]
    else:
        parser.error("name a function or pass --missing")
    sample = json.loads(args.sample.read_text()) if args.sample else None
    for function_id in function_ids:
        path = event_path(stack, function_id)
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(event_for(stack, function_id, sample), indent=2) + "\n")
        print(path.relative_to(_sam.ROOT))


if __name__ == "__main__":
    main()
