"""devserver.dynamo: the single-threaded moto server and the template's tables created in it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devserver.dynamo import create_tables, dynamodb_client, start_moto_server
from devserver.template import Stack
from tests.devserver.devserver_harness import REPO_ROOT

# moto keeps tables per process, account and region, and other tests may run a moto server with the
# template's tables in us-east-1: a region of our own keeps these tests' view of "all tables" to themselves.
ISOLATED_REGION = "eu-north-1"


@pytest.fixture
def moto_client(monkeypatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = start_moto_server("127.0.0.1", 0)
    client = dynamodb_client(server.url, region=ISOLATED_REGION)
    try:
        yield client
    finally:
        for name in client.list_tables()["TableNames"]:
            client.delete_table(TableName=name)
        server.stop()


def _described(client, name: str) -> dict:
    table = client.describe_table(TableName=name)["Table"]
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in table.get("GlobalSecondaryIndexes", []) + table.get("LocalSecondaryIndexes", [])
    }
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "indexes": indexes,
    }


def _declared(kwargs: dict) -> dict:
    indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in kwargs.get("GlobalSecondaryIndexes", []) + kwargs.get("LocalSecondaryIndexes", [])
    }
    return {
        "KeySchema": kwargs["KeySchema"],
        "AttributeDefinitions": sorted(kwargs["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "BillingMode": kwargs["BillingMode"],
        "indexes": indexes,
    }


@pytest.mark.parametrize("template", ["template.yaml", "tests/devserver/fixtures/template.yaml"])
def test_tables_are_created_as_the_template_declares(moto_client, template):
    stack = Stack.load(REPO_ROOT / template)
    assert sorted(create_tables(moto_client, stack)) == sorted(stack.tables)
    assert sorted(moto_client.list_tables()["TableNames"]) == sorted(stack.tables)
    for name, table in stack.tables.items():
        assert _described(moto_client, name) == _declared(table.create_table_kwargs)
        ttl = moto_client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if table.ttl_attribute:
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_real_template_api_keys_table_has_the_by_user_index(moto_client):
    create_tables(moto_client, Stack.load(REPO_ROOT / "template.yaml"))
    described = _described(moto_client, "ApiKeysTable")
    assert described["indexes"]["by_user"] == (
        [{"AttributeName": "owner_user_id", "KeyType": "HASH"}],
        {"ProjectionType": "ALL"},
    )
    assert described["BillingMode"] == "PAY_PER_REQUEST"


def test_create_tables_is_idempotent(moto_client):
    stack = Stack.load(REPO_ROOT / "template.yaml")
    create_tables(moto_client, stack)
    assert create_tables(moto_client, stack) == []


def test_concurrent_conditional_writes_stay_atomic(moto_client):
    """The single-threaded server serialises requests: N racing conditional increments land exactly N times."""
    moto_client.create_table(
        TableName="Counters",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    attempts, limit = 40, 25
    accepted = []

    def increment():
        try:
            moto_client.update_item(
                TableName="Counters",
                Key={"pk": {"S": "k"}},
                UpdateExpression="ADD n :one",
                ConditionExpression="attribute_not_exists(n) OR n < :limit",
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)}},
            )
            accepted.append(True)
        except moto_client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=increment) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    item = moto_client.get_item(TableName="Counters", Key={"pk": {"S": "k"}})["Item"]
    assert len(accepted) == limit
    assert item["n"] == {"N": str(limit)}
