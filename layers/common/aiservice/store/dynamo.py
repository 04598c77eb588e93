"""The DynamoDB client of this execution environment and the attribute-value helpers the stores share.

botocore directly (not boto3) saves boto3's resource layer at cold start; the endpoint honours
AWS_ENDPOINT_URL_DYNAMODB, which is how local runs and tests reach moto.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import botocore.session
from botocore.config import Config

from aiservice.config import get_settings

if TYPE_CHECKING:  # the stubs are a dev dependency, not in the layer
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item: TypeAlias = "dict[str, AttributeValueTypeDef]"  # an item as the low-level client reads and writes it

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    """One client per execution environment, created on first use and reused by warm invocations."""
    session = botocore.session.get_session()
    client = session.create_client("dynamodb", region_name=get_settings().aws_region, config=_CLIENT_CONFIG)
    return cast("DynamoDBClient", client)  # botocore makes its clients at run time; the stubs know their shape


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int | Decimal) -> AttributeValueTypeDef:
    # Positional notation: str(Decimal) writes a zero with many places as "0E-7", which moto (and other readers
    # of the item) reject.
    return {"N": format(value, "f") if isinstance(value, Decimal) else str(value)}


def plain(item: Mapping[str, AttributeValueTypeDef]) -> dict[str, Any]:
    """An item's attribute values as Python values: S -> str, N -> int or Decimal, BOOL -> bool."""
    out: dict[str, Any] = {}
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "N":
            number = typed["N"]
            out[name] = int(number) if number.lstrip("-").isdigit() else Decimal(number)
        elif kind == "NULL":
            out[name] = None
        else:
            out[name] = value
    return out


def condition_failures(error: Exception) -> list[bool]:
    """For a cancelled transaction, which of its items failed their condition (in request order)."""
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
