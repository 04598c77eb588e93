"""Calls to any route of a function through the pipelines harness (tests/pipelines/harness.py), which sends
every call to the route of the function's sample event: a function serving several routes (/cfapi/*) needs the
method, the path and the query string set per call."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.judgement.local_stack import ROOT
from tests.pipelines.harness import AUTHORIZER_EVENT, Api, Reply, lambda_context


def call_route(
    api: Api,
    function_id: str,
    method: str,
    path: str,
    key: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[Reply, str]:
    """(the reply, the raw response body text)."""
    spec = api.stack.functions[function_id]
    event = json.loads((ROOT / "events" / f"{spec.code_uri.name}.json").read_text())
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    auth_event = copy.deepcopy(AUTHORIZER_EVENT)
    auth_event.update(headers=headers, multiValueHeaders={k: [v] for k, v in headers.items()})
    answer = api.authorizer.handler(auth_event, lambda_context())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", answer
    event.update(
        httpMethod=method,
        path=path,
        resource=path,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        queryStringParameters=query,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
        body=None if body is None else body if isinstance(body, str) else json.dumps(body),
    )
    event["requestContext"].update(httpMethod=method, resourcePath=path)
    event["requestContext"]["authorizer"] = {"principalId": answer["principalId"], **answer["context"]}
    response = api.handler(function_id).handler(event, lambda_context())
    text = response["body"]
    return Reply(response["statusCode"], dict(response.get("headers") or {}), json.loads(text)), text
