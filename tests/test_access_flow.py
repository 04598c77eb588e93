"""401/403/429/quota/allowance through the real event shapes: API Gateway's REQUEST authorizer event ->
the authorizer function -> the REST proxy event with requestContext.authorizer -> an /ai/* handler."""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest

from aiservice.admin import create_key
from aiservice.store.keys import REVOKED, KeyStore
from aiservice.store.usage import UsageStore, month_of
from devserver.modules import import_file
from tests.conftest import ROOT, load_function

AUTHORIZER_EVENT = json.loads((ROOT / "events/authorizer.json").read_text())
PROXY_EVENT = json.loads((ROOT / "events/healthcheck.json").read_text())
LAMBDA_CONTEXT = SimpleNamespace(
    function_name="metered",
    memory_limit_in_mb=512,
    aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:metered",
    get_remaining_time_in_millis=lambda: 29_000,
)


@pytest.fixture(scope="module")
def functions(stack):
    metered = import_file("metered_fixture", ROOT / "tests/fixtures/metered/app.py")
    return SimpleNamespace(authorizer=load_function(stack, "AuthorizerFunction"), metered=metered)


def call_api(functions, authorization: str | None, body: dict | str) -> tuple[int, dict, dict]:
    """What API Gateway does for POST /ai/metered: authorize (401/403 from its gateway responses), then invoke."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    auth_event = copy.deepcopy(AUTHORIZER_EVENT)
    auth_event.update(
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        path="/ai/metered",
        resource="/ai/metered",
        methodArn=AUTHORIZER_EVENT["methodArn"].replace("/ai/optimize", "/ai/metered"),
    )
    if authorization is None:  # the identity source is missing: API Gateway answers 401 itself
        return 401, {}, {"error": "unauthorized"}
    try:
        answer = functions.authorizer.handler(auth_event, LAMBDA_CONTEXT)
    except Exception as refusal:
        assert str(refusal) == "Unauthorized"
        return 401, {}, {"error": "unauthorized"}
    statement = answer["policyDocument"]["Statement"][0]
    if statement["Effect"] != "Allow":
        return 403, {}, {"error": answer["context"]["error"]}
    assert auth_event["methodArn"].startswith(statement["Resource"].rstrip("*"))

    event = copy.deepcopy(PROXY_EVENT)
    event.update(
        httpMethod="POST",
        path="/ai/metered",
        resource="/ai/metered",
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
        body=body if isinstance(body, str) else json.dumps(body),
    )
    event["requestContext"] = dict(
        event["requestContext"],
        httpMethod="POST",
        resourcePath="/ai/metered",
        path="/v1/ai/metered",
        authorizer={"principalId": answer["principalId"], **answer["context"]},
    )
    response = functions.metered.handler(event, LAMBDA_CONTEXT)
    headers = dict(response.get("headers") or {})
    headers.update({name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()})
    return response["statusCode"], headers, json.loads(response["body"])


@pytest.fixture
def account(settings_env, user_id):
    """A user with a fresh key: returns (key, record)."""
    return create_key(KeyStore(), user_id=user_id, org_id=f"org-{user_id}", plan="free", privacy_mode=False, label=None)


def request_body(**overrides) -> dict:
    body = {"trace_id": str(uuid.uuid4()), "estimate_usd": "0.10", "cost_usd": "0.04"}
    body.update(overrides)
    return body


def test_a_valid_key_reaches_the_handler_as_its_principal(functions, account):
    key, record = account
    status, _, body = call_api(functions, f"Bearer {key}", request_body())
    assert status == 200
    assert body == {"user_id": record.user_id, "plan": "free"}


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Token cf-abcdefghij", "Bearer nope-abcdefgh", "Bearer cf-unknownkey123"]
)
def test_missing_malformed_or_unknown_keys_get_401(functions, settings_env, authorization):
    status, _, body = call_api(functions, authorization, request_body())
    assert status == 401 and body["error"]


def test_a_revoked_key_gets_403_saying_so(functions, account):
    key, record = account
    KeyStore().set_key_status(record.key_hash, REVOKED)
    status, _, body = call_api(functions, f"Bearer {key}", request_body())
    assert (status, body) == (403, {"error": "this API key was revoked"})


def test_over_the_rate_limit_gets_429_with_retry_after(functions, account, settings_env):
    settings_env(RATE_LIMIT_MAX="3", RATE_LIMIT_WINDOW_MS="3600000")
    key, _ = account
    statuses = [call_api(functions, f"Bearer {key}", request_body())[0] for _ in range(3)]
    status, headers, body = call_api(functions, f"Bearer {key}", request_body())
    assert statuses == [200, 200, 200]
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert "rate limit of 3 requests" in body["error"]


def test_over_the_plan_quota_gets_429_naming_the_limit(functions, account, settings_env):
    settings_env(PLAN_MONTHLY_QUOTA_FREE="2")
    key, record = account
    first = request_body()
    assert call_api(functions, f"Bearer {key}", first)[0] == 200
    assert call_api(functions, f"Bearer {key}", first)[0] == 200  # same trace: counted once
    assert call_api(functions, f"Bearer {key}", request_body())[0] == 200
    status, headers, body = call_api(functions, f"Bearer {key}", request_body())
    assert status == 429 and "monthly optimization quota of 2" in body["error"]
    assert int(headers["Retry-After"]) > 0
    assert UsageStore().quota_used(record.user_id, month_of_now()) == 2


def test_over_the_allowance_gets_402_and_spend_is_settled(functions, account, settings_env):
    settings_env(PLAN_MONTHLY_ALLOWANCE_USD_FREE="0.29")
    key, record = account
    outcomes = [call_api(functions, f"Bearer {key}", request_body())[0] for _ in range(5)]
    # each call holds $0.10 and spends $0.04: the 6th would need $0.10 with $0.29 - 5 x $0.04 = $0.09 left
    assert outcomes == [200] * 5
    status, _, body = call_api(functions, f"Bearer {key}", request_body())
    assert status == 402 and "user monthly spend allowance ($0.29)" in body["error"]
    allowance = UsageStore().allowance("USER", record.user_id, month_of_now())
    assert allowance is not None
    assert allowance["spent_usd"] == Decimal("0.20") and allowance["reserved_usd"] == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "not valid JSON"),
        ({"estimate_usd": "0.1", "cost_usd": "0"}, 422, "field 'trace_id' is required"),
        ({"trace_id": "t", "estimate_usd": "lots", "cost_usd": "0"}, 422, "field 'estimate_usd' is invalid"),
        ("[1, 2]", 422, "must be a JSON object"),
    ],
)
def test_bad_bodies_get_a_4xx_naming_the_problem(functions, account, body, status, message):
    key, _ = account
    got_status, _, got = call_api(functions, f"Bearer {key}", body)
    assert got_status == status
    assert message in got["error"]


def test_an_oversized_body_gets_413(functions, account, settings_env):
    settings_env(MAX_BODY_BYTES="1000")
    key, _ = account
    status, _, body = call_api(functions, f"Bearer {key}", request_body(trace_id="x" * 2000))
    assert status == 413 and "over the 1000-byte limit" in body["error"]


def test_the_key_never_appears_in_logs_or_responses(functions, account, log_lines):
    key, record = account
    _, _, allowed = call_api(functions, f"Bearer {key}", request_body())
    KeyStore().set_key_status(record.key_hash, REVOKED)
    _, _, denied = call_api(functions, f"Bearer {key}", request_body())
    call_api(functions, f"Bearer {key[:-2]}xx", request_body())
    logged = json.dumps(log_lines)
    assert record.key_id in logged  # the logs do say which key, by its public id
    for text in (logged, json.dumps(allowed), json.dumps(denied)):
        assert key[3:] not in text and key[3:-2] not in text


def test_log_lines_are_correlated_by_the_trace_id(functions, account, log_lines):
    key, record = account
    status, _, _ = call_api(functions, f"Bearer {key}", request_body(trace_id="trace-42", estimate_usd="99999"))
    assert status == 402
    authorizer_line, refusal_line = log_lines[-2:]
    assert authorizer_line["message"] == "allowed"
    assert authorizer_line["correlation_id"] == AUTHORIZER_EVENT["requestContext"]["requestId"]
    assert refusal_line["message"] == "refused"
    assert refusal_line["correlation_id"] == "trace-42"
    assert refusal_line["status"] == 402 and "allowance" in refusal_line["reason"]


def month_of_now() -> str:
    from datetime import UTC, datetime

    return month_of(datetime.now(UTC))


def test_the_hot_path_makes_two_dynamodb_requests_per_call(functions, account):
    """Authorizer (on a cache miss only): GetItem + BatchGetItem. Each /ai/* call: admit + settle."""
    from aiservice.store.dynamo import dynamodb_client

    key, _ = account
    operations: list[str] = []
    events = dynamodb_client().meta.events
    record = lambda model, **_: operations.append(model.name)  # noqa: E731
    events.register("before-call.dynamodb", record)
    try:
        status, _, _ = call_api(functions, f"Bearer {key}", request_body())
    finally:
        events.unregister("before-call.dynamodb", record)
    assert status == 200
    assert operations == ["GetItem", "BatchGetItem", "TransactWriteItems", "TransactWriteItems"]
