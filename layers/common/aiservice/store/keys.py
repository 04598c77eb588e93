"""API keys and the accounts they belong to, in the ApiKeysTable.

Items (one table, partition key `pk`):
- `KEY#<sha384 hex>`: user_id (also `owner_user_id`, the by_user index key), org_id, plan, privacy_mode,
  status, created_at, label. The plaintext key is never stored.
- `USER#<user id>`: per-user overrides of the plan defaults: monthly_quota, allowance_usd.
- `ORG#<org id>`: the org's monthly spend allowance, allowance_usd.
A limit attribute that is absent means "the default"; the string "unlimited" means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Literal

from aiservice.apikeys import key_id_of
from aiservice.config import Plan, get_settings
from aiservice.store.dynamo import Item, dynamodb_client, n, plain, s

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesUnionTypeDef,
        UpdateItemInputTypeDef,
    )

ACTIVE = "active"
REVOKED = "revoked"
UNLIMITED = "unlimited"


class _Unset(Enum):
    DEFAULT = "default"  # an override that is not set: the plan default applies


_DEFAULT = _Unset.DEFAULT


@dataclass(frozen=True)
class KeyRecord:
    key_hash: str
    user_id: str
    org_id: str | None
    plan: Plan
    privacy_mode: bool
    status: str
    created_at: str
    label: str | None = None

    @property
    def key_id(self) -> str:
        return key_id_of(self.key_hash)


@dataclass(frozen=True)
class AccountLimits:
    """Overrides stored on a USER# or ORG# item. `None` is unlimited; `default` means the plan decides.
    An org may also choose its LLM routing profile and bring its own key (a Secrets Manager secret id)."""

    monthly_quota: int | None | Literal[_Unset.DEFAULT] = _DEFAULT
    allowance_usd: Decimal | None | Literal[_Unset.DEFAULT] = _DEFAULT
    llm_profile: str | None = None
    byok_secret: str | None = None

    def quota_or(self, default: int | None) -> int | None:
        return default if self.monthly_quota is _DEFAULT else self.monthly_quota

    def allowance_or(self, default: Decimal | None) -> Decimal | None:
        return default if self.allowance_usd is _DEFAULT else self.allowance_usd


def _limit_value(raw: object) -> Decimal | None | Literal[_Unset.DEFAULT]:
    """A stored limit: absent -> the default, "unlimited" -> None, else its number."""
    if raw is None:
        return _DEFAULT
    if raw == UNLIMITED:
        return None
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    raise ValueError(f"a stored limit is a number or {UNLIMITED!r}, not {raw!r}")


def _limits_from(item: Item | None) -> AccountLimits:
    if not item:
        return AccountLimits()
    values = plain(item)
    quota = _limit_value(values.get("monthly_quota"))
    return AccountLimits(
        monthly_quota=int(quota) if isinstance(quota, Decimal) else quota,
        allowance_usd=_limit_value(values.get("allowance_usd")),
        llm_profile=values.get("llm_profile"),
        byok_secret=values.get("byok_secret"),
    )


def _key_from(item: Item) -> KeyRecord:
    values = plain(item)
    return KeyRecord(
        key_hash=values["pk"].removeprefix("KEY#"),
        user_id=values["user_id"],
        org_id=values.get("org_id"),
        plan=values["plan"],
        privacy_mode=values.get("privacy_mode") == "true",
        status=values["status"],
        created_at=values["created_at"],
        label=values.get("label"),
    )


def _limit_attribute(value: int | Decimal | None) -> AttributeValueTypeDef:
    return s(UNLIMITED) if value is None else n(value)


class KeyStore:
    def __init__(self, client: DynamoDBClient | None = None, table: str | None = None) -> None:
        self._client = client or dynamodb_client()
        self._table = table or get_settings().api_keys_table

    # ------------------------------------------------------------------ keys
    def create_key(
        self, key_hash: str, *, user_id: str, org_id: str | None, plan: Plan, privacy_mode: bool, label: str | None
    ) -> KeyRecord:
        record = KeyRecord(
            key_hash=key_hash,
            user_id=user_id,
            org_id=org_id,
            plan=plan,
            privacy_mode=privacy_mode,
            status=ACTIVE,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            label=label,
        )
        item = {
            "pk": s(f"KEY#{key_hash}"),
            "user_id": s(user_id),
            "owner_user_id": s(user_id),
            "plan": s(plan),
            "privacy_mode": s("true" if privacy_mode else "false"),
            "status": s(ACTIVE),
            "created_at": s(record.created_at),
        }
        if org_id:
            item["org_id"] = s(org_id)
        if label:
            item["label"] = s(label)
        self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return record

    def get_key(self, key_hash: str) -> KeyRecord | None:
        item = self._client.get_item(TableName=self._table, Key={"pk": s(f"KEY#{key_hash}")}).get("Item")
        return _key_from(item) if item else None

    def keys_of_user(self, user_id: str) -> list[KeyRecord]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName="by_user",
            KeyConditionExpression="owner_user_id = :user",
            ExpressionAttributeValues={":user": s(user_id)},
        )
        return [_key_from(item) for page in pages for item in page["Items"]]

    def set_key_status(self, key_hash: str, status: str) -> None:
        self._update_key(key_hash, "status", status)

    def set_key_plan(self, key_hash: str, plan: Plan) -> None:
        self._update_key(key_hash, "plan", plan)

    def _update_key(self, key_hash: str, attribute: str, value: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"pk": s(f"KEY#{key_hash}")},
            UpdateExpression="SET #attribute = :value",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":value": s(value)},
        )

    # ------------------------------------------------------------------ accounts
    def account_limits(self, user_id: str, org_id: str | None) -> tuple[AccountLimits, AccountLimits]:
        """The user's and the org's overrides, in one BatchGetItem."""
        keys = [{"pk": s(f"USER#{user_id}")}]
        if org_id:
            keys.append({"pk": s(f"ORG#{org_id}")})
        items: dict[str, Item] = {}
        request: Mapping[str, KeysAndAttributesUnionTypeDef] = {self._table: {"Keys": keys}}
        while request:  # DynamoDB may leave keys unprocessed under load; ask again for those
            response = self._client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(self._table, []):
                items[item["pk"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
        return _limits_from(items.get(f"USER#{user_id}")), _limits_from(items.get(f"ORG#{org_id}"))

    def set_user_quota(self, user_id: str, monthly_quota: int | None) -> None:
        self._set_limit(f"USER#{user_id}", "monthly_quota", monthly_quota)

    def set_user_allowance(self, user_id: str, allowance_usd: Decimal | None) -> None:
        self._set_limit(f"USER#{user_id}", "allowance_usd", allowance_usd)

    def set_org_allowance(self, org_id: str, allowance_usd: Decimal | None) -> None:
        self._set_limit(f"ORG#{org_id}", "allowance_usd", allowance_usd)

    def set_org_llm(self, org_id: str, llm_profile: str | None, byok_secret: str | None) -> None:
        """The org's routing profile and own-key secret; None removes a setting."""
        values = {"llm_profile": llm_profile, "byok_secret": byok_secret}
        kept = {name: value for name, value in values.items() if value}
        clauses = []
        if kept:
            clauses.append("SET " + ", ".join(f"{name} = :{name}" for name in kept))
        if len(kept) < len(values):
            clauses.append("REMOVE " + ", ".join(name for name in values if name not in kept))
        update: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": {"pk": s(f"ORG#{org_id}")},
            "UpdateExpression": " ".join(clauses),
        }
        if kept:
            update["ExpressionAttributeValues"] = {f":{name}": s(value) for name, value in kept.items()}
        self._client.update_item(**update)

    def _set_limit(self, pk: str, attribute: str, value: int | Decimal | None) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"pk": s(pk)},
            UpdateExpression="SET #limit = :value",
            ExpressionAttributeNames={"#limit": attribute},
            ExpressionAttributeValues={":value": _limit_attribute(value)},
        )
