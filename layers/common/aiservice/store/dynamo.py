"""The DynamoDB client of this execution environment and the attribute-value helpers the stores share.

botocore directly (not boto3) saves boto3's resource layer at cold start; the endpoint honours
AWS_ENDPOINT_URL_DYNAMODB, which is how local runs and tests reach moto.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.config import Config

from aiservice.config import get_settings

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    """One client per execution environment, created on first use and reused by warm invocations."""
    session = botocore.session.get_session()
    return session.create_client("dynamodb", region_name=get_settings().aws_region, config=_CLIENT_CONFIG)


def s(value: str) -> dict:
    return {"S": value}


def n(value: int | Decimal) -> dict:
    return {"N": str(value)}


def plain(item: dict[str, dict]) -> dict[str, Any]:
    """An item's attribute values as Python values: S -> str, N -> int or Decimal, BOOL -> bool."""
    out: dict[str, Any] = {}
    for name, typed in item.items():
        (kind, value), = typed.items()
        if kind == "N":
            out[name] = int(value) if value.lstrip("-").isdigit() else Decimal(value)
        elif kind == "NULL":
            out[name] = None
        else:
            out[name] = value
    return out


def condition_failures(error: Exception) -> list[bool]:
    """For a cancelled transaction, which of its items failed their condition (in request order)."""
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
