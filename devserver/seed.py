"""The demo API key of a local run, created through aiservice's own key store (same hashing, same schema).

In the moto server a run starts for itself, the key is the published, local-only `cf-local-demo-key`, the one
events/authorizer.json carries, so `make invoke FUNCTION=AuthorizerFunction EVENT=events/authorizer.json` is
allowed. Against any other DynamoDB (AWS_ENDPOINT_URL_DYNAMODB) a published key would be a hole, so there the
key is a fresh random one.
"""

from __future__ import annotations

from aiservice.admin import create_key
from aiservice.apikeys import hash_key
from aiservice.store.keys import KeyStore
from devserver.dynamo import dynamodb_client
from devserver.template import Stack

LOCAL_DEMO_KEY = "cf-local-demo-key"
DEMO_USER, DEMO_ORG = "local-demo-user", "local-demo-org"


def seed_demo_key(stack: Stack, endpoint: str, private_store: bool) -> str | None:
    """Returns the plaintext key: the published one in a private store, else a new random one.
    None for a template without an API keys table (nothing to authenticate against)."""
    table = stack.global_environment.get("API_KEYS_TABLE")
    if table is None:
        return None
    keys = KeyStore(dynamodb_client(endpoint, stack.region), table)
    if not private_store:
        key, _ = create_key(keys, user_id=DEMO_USER, org_id=DEMO_ORG, plan="pro", privacy_mode=False, label="demo")
        return key
    if keys.get_key(hash_key(LOCAL_DEMO_KEY)) is None:
        keys.create_key(
            hash_key(LOCAL_DEMO_KEY), user_id=DEMO_USER, org_id=DEMO_ORG, plan="pro", privacy_mode=False, label="demo"
        )
    return LOCAL_DEMO_KEY
