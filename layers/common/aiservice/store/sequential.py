"""A DynamoDB client for seeding local demo data fast (the cost report's `seed-demo`): transactions run item by
item. Only store/ touches DynamoDB, so the wrapper lives here."""

from __future__ import annotations

from typing import Any


class SequentialWrites:
    """A DynamoDB client whose TransactWriteItems runs its items one by one (UpdateItem, PutItem, DeleteItem;
    ConditionChecks are skipped).

    moto copies its whole state on every transaction and keeps it, so a month of transactions takes minutes and
    gigabytes; the demo needs the items the service writes, not the atomicity. A failed condition raises
    ConditionalCheckFailedException (items before it stay written). Local demo data only.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:  # noqa: N803
        for action in TransactItems:
            ((kind, request),) = action.items()
            if kind == "Update":
                self._client.update_item(**request)
            elif kind == "Put":
                self._client.put_item(**request)
            elif kind == "Delete":
                self._client.delete_item(**request)
            elif kind == "ConditionCheck":  # a trace's owner: the demo's traces are all their users' own
                continue
            else:
                raise ValueError(f"SequentialWrites does not run {kind}")
        return {}
