"""REQUEST authorizer: `Authorization: Bearer cf-...` -> the caller's principal and limits.

API Gateway caches the answer per Authorization header for the stage's TTL and reuses it for every route,
so an Allow covers the whole API. Unknown and malformed keys raise "Unauthorized" (API Gateway's 401);
a revoked key gets a Deny whose context carries the reason (the 403 body). The key is never logged.
"""

from __future__ import annotations

from typing import Any

from aiservice.access import resolve_principal
from aiservice.apikeys import hash_key, key_from_authorization
from aiservice.config import get_settings
from aiservice.errors import Unauthenticated
from aiservice.observability import logger, set_correlation_id
from aiservice.store.keys import ACTIVE, KeyStore

UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway turns into a 401


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    set_correlation_id(event)
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    try:
        key_hash = hash_key(key_from_authorization(headers.get("authorization")))
    except Unauthenticated as refusal:
        logger.info("refused", extra={"reason": refusal.message})
        raise Exception(UNAUTHORIZED) from None

    store = KeyStore()
    record = store.get_key(key_hash)
    if record is None:
        logger.info("refused", extra={"reason": "unknown key"})
        raise Exception(UNAUTHORIZED)
    if record.status != ACTIVE:
        logger.info("refused", extra={"reason": "key revoked", "key_id": record.key_id, "user_id": record.user_id})
        return _policy(record.user_id, "Deny", event["methodArn"], {"error": "this API key was revoked"})

    user_limits, org_limits = store.account_limits(record.user_id, record.org_id)
    principal = resolve_principal(record, user_limits, org_limits, get_settings())
    logger.info("allowed", extra={"key_id": record.key_id, "user_id": record.user_id, "plan": record.plan})
    return _policy(record.user_id, "Allow", event["methodArn"], principal.to_authorizer_context())


def _policy(principal_id: str, effect: str, method_arn: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": _whole_api(method_arn)}],
        },
        "context": context,
    }


def _whole_api(method_arn: str) -> str:
    """arn:aws:execute-api:region:account:api-id/stage/METHOD/path -> .../api-id/stage/* (every route)."""
    api_arn, stage = method_arn.split("/")[:2]
    return f"{api_arn}/{stage}/*"
