"""What the fault soak found (bench/soak.py, BENCHMARKS.md): moto ignored TransactWriteItems' ClientRequestToken.

botocore resends a request whose answer does not come within its read timeout (5 s in aiservice.store.dynamo),
with the same token; DynamoDB answers the resend of a committed transaction with success and applies nothing.
The local stack's moto (one request at a time) applied it again: under load a settlement was resent, failed on
the reservation marker its first copy had deleted, took the sweeper's path and billed the request twice (one
request's three calls more in the daily aggregates and in spent than the workers' llm_call records). The local
DynamoDB (devserver.dynamo.start_moto_server, also the suite's) now honours the token as DynamoDB does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aiservice.store.dynamo import dynamodb_client
from aiservice.store.usage import Admission, UsageLine, UsageStore, month_of

NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)  # mid-window, mid-month


def _add(pk: str, amount: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "UsageTable",
            "Key": {"pk": {"S": pk}, "sk": {"S": "n"}},
            "UpdateExpression": "ADD n :amount",
            "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
        }
    }


def _count(client: Any, pk: str) -> int:
    item = client.get_item(TableName="UsageTable", Key={"pk": {"S": pk}, "sk": {"S": "n"}}, ConsistentRead=True)
    return int(item["Item"]["n"]["N"])


def test_a_transaction_resent_with_its_token_is_applied_once(dynamodb):
    client: Any = dynamodb_client()
    pk, token = f"T#{uuid.uuid4().hex}", uuid.uuid4().hex
    for _ in range(3):
        client.transact_write_items(TransactItems=[_add(pk, 1)], ClientRequestToken=token)
    assert _count(client, pk) == 1
    client.transact_write_items(TransactItems=[_add(pk, 1)], ClientRequestToken=uuid.uuid4().hex)  # another token
    client.transact_write_items(TransactItems=[_add(pk, 1)])  # no token: never deduplicated
    assert _count(client, pk) == 3


def test_the_same_token_with_other_items_is_refused(dynamodb):
    client: Any = dynamodb_client()
    pk, token = f"T#{uuid.uuid4().hex}", uuid.uuid4().hex
    client.transact_write_items(TransactItems=[_add(pk, 1)], ClientRequestToken=token)
    with pytest.raises(ClientError) as refused:
        client.transact_write_items(TransactItems=[_add(pk, 2)], ClientRequestToken=token)
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert _count(client, pk) == 1


def test_a_cancelled_transaction_is_not_remembered(dynamodb):
    client: Any = dynamodb_client()
    pk, token = f"T#{uuid.uuid4().hex}", uuid.uuid4().hex
    guarded = _add(pk, 1)
    guarded["Update"]["ConditionExpression"] = "attribute_exists(n)"  # fails while the item does not exist
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[guarded], ClientRequestToken=token)
    client.transact_write_items(TransactItems=[_add(pk, 5)])
    client.transact_write_items(TransactItems=[guarded], ClientRequestToken=token)  # now it holds: applied
    assert _count(client, pk) == 6


class _ResendingClient:
    """A DynamoDB client whose every transaction is sent twice with the same arguments, as botocore resends a
    request whose answer timed out after DynamoDB had committed it; the caller sees the second answer."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def transact_write_items(self, **arguments: Any) -> Any:
        self._client.transact_write_items(**arguments)
        return self._client.transact_write_items(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_resent_admission_and_settlement_hold_and_bill_once(settings_env, user_id):
    settings_env(RATE_LIMIT_MAX="1000")
    store = UsageStore(client=_ResendingClient(dynamodb_client()))
    reservation = store.admit(
        Admission(
            user_id=user_id,
            org_id=None,
            trace_id=None,
            estimate_usd=Decimal("0.50"),
            counts_toward_quota=False,
            monthly_quota=None,
            user_allowance_usd=Decimal("5"),
            org_allowance_usd=None,
        ),
        now=NOW,
    )
    line = UsageLine(model="claude-sonnet-4-5", call_type="optimize", cost_usd=Decimal("0.010155"))
    assert store.settle(reservation, [line], now=NOW) == Decimal("0.010155")

    item = store.allowance("USER", user_id, month_of(NOW))
    assert item is not None
    assert Decimal(item["spent_usd"]) == Decimal("0.010155")  # not twice
    assert Decimal(item["reserved_usd"]) == 0 and item["reservations"] == 0
    assert Decimal(item["headroom_usd"]) == Decimal(5) - Decimal("0.010155")
    (aggregate,) = store.daily_usage_of_user(user_id, NOW.date())
    assert aggregate["calls"] == 1 and Decimal(aggregate["cost_usd"]) == Decimal("0.010155")
