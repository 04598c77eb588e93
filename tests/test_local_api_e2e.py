"""The whole chain over real HTTP: the local API Gateway emulator -> the real AuthorizerFunction (worker process)
-> an /ai/* function (worker process) -> moto DynamoDB. The template is template.yaml plus the access-test
function, so routes, authorizer, gateway responses and environments are the deployed ones."""

from __future__ import annotations

import json

import pytest

from aiservice.admin import create_key
from aiservice.store.keys import REVOKED, KeyStore
from devserver.template import Stack, load_template
from tests.conftest import ROOT
from tests.devserver.devserver_harness import running_emulator


@pytest.fixture(scope="module")
def api(dynamodb, tmp_path_factory):
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    for resource in resources.values():  # absolute paths: the copy lives in a temporary folder
        properties = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(name), str):
                properties[name] = str(ROOT / properties[name])
    resources["MeteredFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str(ROOT / "tests/fixtures/metered"),
            "Handler": "app.handler",
            "Events": {
                "Metered": {
                    "Type": "Api",
                    "Properties": {"RestApiId": {"Ref": "Api"}, "Path": "/ai/metered", "Method": "POST"},
                }
            },
        },
    }
    path = tmp_path_factory.mktemp("stack") / "template.json"  # JSON is YAML
    path.write_text(json.dumps(template))
    stack = Stack.load(path, {"AuthorizerCacheTtlSeconds": 0, "RateLimitMax": 3})
    with running_emulator(stack) as client:
        yield client


def post(api, authorization: str | None, trace_id: str = "trace-1"):
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    body = json.dumps({"trace_id": trace_id, "estimate_usd": "0.01", "cost_usd": "0.005"})
    return api.request("POST", "/ai/metered", body, headers)


def test_health_needs_no_key(api):
    reply = api.request("GET", "/healthcheck")
    assert reply.status == 200 and reply.json()["status"] == "ok"


def test_refusals_and_limits_over_http(api, user_id):
    key, record = create_key(KeyStore(), user_id=user_id, org_id=None, plan="free", privacy_mode=False, label=None)

    assert post(api, None).status == 401
    assert "API key" in post(api, None).json()["error"]
    assert post(api, "Bearer cf-not-a-known-key").status == 401

    statuses = [post(api, f"Bearer {key}", f"trace-{n}").status for n in range(3)]
    limited = post(api, f"Bearer {key}", "trace-4")
    assert statuses == [200, 200, 200]
    assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    assert "rate limit of 3 requests" in limited.json()["error"]

    KeyStore().set_key_status(record.key_hash, REVOKED)
    revoked = post(api, f"Bearer {key}")
    assert (revoked.status, revoked.json()) == (403, {"error": "this API key was revoked"})
