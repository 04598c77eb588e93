"""Fixtures of the cost report tests: days of their own (the tables are shared by the session), S3 and SNS on
the same moto server as DynamoDB (moto serves every service on one port)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

_DAYS = itertools.count()


@pytest.fixture
def base_day() -> date:
    """A month no other test writes to: the report reads whole days across users."""
    return date(2300, 1, 1) + timedelta(days=62 * next(_DAYS) + random.randrange(0, 10) * 62 * 1000)


@pytest.fixture
def stores(settings_env: Any) -> Any:
    from aiservice.store.features import FeaturesStore
    from aiservice.store.usage import UsageStore

    settings_env(USAGE_SHARDS="16")
    return UsageStore(), FeaturesStore()


@pytest.fixture
def aws(dynamodb: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """S3 and SNS clients on the moto server, a fresh bucket and topic; boto3 clients made by the code under test
    reach them through AWS_ENDPOINT_URL_S3/SNS."""
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", dynamodb)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", dynamodb)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=dynamodb)
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=dynamodb)
    bucket = f"reports-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    topic = sns.create_topic(Name=f"cost-{uuid.uuid4().hex[:8]}")["TopicArn"]
    yield {"s3": s3, "sns": sns, "bucket": bucket, "topic": topic}


def sent_messages(topic_arn: str) -> list[str]:
    """What moto's SNS received on a topic (the server runs in this process)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    topic = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[topic_arn]
    return [message for _, message, *_ in topic.sent_notifications]


MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "azure/gpt-5", "azure/gpt-5-mini", "claude-opus-4-5@us")
CALL_TYPES = ("optimize", "testgen", "refinement", "explanation")


def random_cost(rng: random.Random) -> Decimal:
    """A cost with the digits real ones have (sub-cent, many places), never a float."""
    return Decimal(rng.randrange(1, 5_000_000)) / Decimal(10_000_000)


def seed_calls(usage: Any, day: date, users: list[tuple[str, str | None]], rng: random.Random, n: int) -> list[dict]:
    """n settled requests on `day` through UsageStore.admit/settle; returns the call records (one per line)."""
    from aiservice.store.sequential import SequentialWrites
    from aiservice.store.usage import Admission, UsageLine, UsageStore

    # The real admit/settle items, written one by one: moto copies its whole state per transaction, which makes
    # seeding slow as the session's tables grow (test_features_store runs the real transaction).
    usage = UsageStore(client=SequentialWrites(usage._client))
    records = []
    for index in range(n):
        user, org = rng.choice(users)
        lines = []
        for _ in range(rng.randint(1, 3)):
            tokens = {
                "input_tokens": rng.randrange(0, 20_000),
                "output_tokens": rng.randrange(0, 5_000),
                "cache_read_tokens": rng.choice((0, rng.randrange(0, 50_000))),
            }
            lines.append(
                UsageLine(
                    model=rng.choice(MODELS), call_type=rng.choice(CALL_TYPES), cost_usd=random_cost(rng), tokens=tokens
                )
            )
        moment = datetime(day.year, day.month, day.day, 10, tzinfo=UTC) + timedelta(seconds=61 * index)
        trace = f"trace-{user}-{day}-{index}"
        reservation = usage.admit(
            Admission(
                user_id=user,
                org_id=org,
                trace_id=trace,
                estimate_usd=Decimal(0),
                counts_toward_quota=False,
                monthly_quota=None,
                user_allowance_usd=None,
                org_allowance_usd=None,
            ),
            now=moment,
        )
        usage.settle(reservation, lines, now=moment)
        for line in lines:
            records.append(
                {
                    "user": user,
                    "org": org or "-",
                    "model": line.model,
                    "call_type": line.call_type,
                    "cost": line.cost_usd,
                    "cache_read": line.tokens["cache_read_tokens"],
                    "trace": trace,
                    "day": day,
                }
            )
    return records
