"""The authorizer's policy covers this API's stage and nothing else.

API Gateway caches the policy per key and reuses it for every route, so an Allow must cover every route of the
stage (`<api-id>/<stage>/*`); "*" would authorize the caller on any API in the account, and a Resource without the
stage on every stage of this one. The real handler, on the sample event with a fresh key.
"""

from __future__ import annotations

import copy
import json
from fnmatch import fnmatchcase
from types import SimpleNamespace

import pytest

from aiservice.admin import create_key
from aiservice.store.keys import REVOKED, KeyStore
from tests.conftest import ROOT, load_function

SAMPLE_EVENT = json.loads((ROOT / "events/authorizer.json").read_text())
LAMBDA_CONTEXT = SimpleNamespace(
    function_name="authorizer",
    memory_limit_in_mb=256,
    aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:authorizer",
)
OTHER_API = "arn:aws:execute-api:eu-west-1:111122223333:abcdef9876/prod/GET/ai/testgen"


@pytest.fixture(scope="module")
def authorizer(stack):
    return load_function(stack, "AuthorizerFunction")


@pytest.fixture
def key_record(settings_env, user_id):
    return create_key(KeyStore(), user_id=user_id, org_id=None, plan="free", privacy_mode=False, label=None)


def authorize(authorizer, key: str, method_arn: str = SAMPLE_EVENT["methodArn"]) -> dict:
    event = copy.deepcopy(SAMPLE_EVENT)
    event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = f"Bearer {key}"
    event["methodArn"] = method_arn
    answer: dict = authorizer.handler(event, LAMBDA_CONTEXT)
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    return statement


def test_allow_covers_every_route_of_this_api_and_stage_only(authorizer, key_record):
    statement = authorize(authorizer, key_record[0])
    assert statement["Effect"] == "Allow"
    # events/authorizer.json: API 1234567890, stage v1, POST /ai/optimize.
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:1234567890/v1/*"
    api = "arn:aws:execute-api:us-east-1:123456789012:1234567890"
    assert fnmatchcase(f"{api}/v1/POST/ai/testgen", statement["Resource"])  # the cached answer serves every route
    assert not fnmatchcase(f"{api}/v2/POST/ai/optimize", statement["Resource"])
    assert not fnmatchcase(OTHER_API, statement["Resource"])


def test_the_scope_follows_the_method_arn(authorizer, key_record):
    statement = authorize(authorizer, key_record[0], OTHER_API)
    assert statement["Resource"] == "arn:aws:execute-api:eu-west-1:111122223333:abcdef9876/prod/*"


def test_deny_has_the_same_scope(authorizer, key_record):
    key, record = key_record
    KeyStore().set_key_status(record.key_hash, REVOKED)
    statement = authorize(authorizer, key)
    assert statement["Effect"] == "Deny"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:1234567890/v1/*"
