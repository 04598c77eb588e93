"""Peak memory and time of the cost report over a day of 100,000 aggregate rows (tracemalloc).

The rows come from a stand-in DynamoDB client that serves Query pages the way DynamoDB does (typed
AttributeValues, 1 MB pages of ~2,700 rows, LastEvaluatedKey), generated lazily, so what is measured is the
report's own reading, folding and rendering (UsageStore.iter_daily_usage -> compute -> render), not a database.
100,000 distinct (user, org, model, call type) rows over 16 shards; the 30 other days of the window are empty.
Target: well under the function's 1024 MB (template.yaml, CostReportFunction.MemorySize).

    .venv/bin/python bench/report_memory.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common"), str(ROOT)]
os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_REGION="us-east-1",
    USAGE_SHARDS="16",
    POWERTOOLS_METRICS_NAMESPACE="Bench",
)

DAY = date(2026, 11, 28)
MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "azure/gpt-5", "azure/gpt-5-mini", "claude-opus-4-5@us")
CALL_TYPES = ("optimize", "testgen", "refinement", "explanation")
PAGE_ROWS = 2_700  # ~1 MB of these items: DynamoDB's page size


class PagedDay:
    """A DynamoDB client stand-in: Query pages of one day's aggregate rows, BatchGetItem of nothing."""

    def __init__(self, rows: int, shards: int = 16) -> None:
        self.rows, self.shards = rows, shards
        self.queries = 0

    def _items(self, shard: int) -> Any:
        for index in range(shard, self.rows, self.shards):
            user = f"user-{index // 20:06d}"
            yield {
                "pk": {"S": f"DAY#{DAY}#{shard:03d}"},
                "sk": {"S": f"{user}#org-{index % 500}#{MODELS[index % 5]}#{CALL_TYPES[index // 5 % 4]}"},
                "user_id": {"S": user},
                "org_id": {"S": f"org-{index % 500}"},
                "model": {"S": MODELS[index % 5]},
                "call_type": {"S": CALL_TYPES[index // 5 % 4]},
                "calls": {"N": str(1 + index % 7)},
                "cost_usd": {"N": f"0.{index % 9973:04d}{index % 7}81"},
                "input_tokens": {"N": str(1000 + index % 5000)},
                "output_tokens": {"N": str(200 + index % 900)},
                "cache_read_tokens": {"N": str(index % 3 * 4000)},
                "cache_write_tokens": {"N": "0"},
                "reasoning_tokens": {"N": "0"},
                "expires_at": {"N": "1800000000"},
            }

    def get_paginator(self, name: str) -> Any:
        client = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                client.queries += 1
                pk = kwargs.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S", "")
                if not pk.startswith(f"DAY#{DAY}#"):
                    return iter(())  # the other days, and the features index: empty
                shard = int(pk.rsplit("#", 1)[1])
                return _pages(client._items(shard))

        return Paginator()

    def batch_get_item(self, **_: Any) -> dict[str, Any]:
        return {"Responses": {}}


def _pages(items: Any) -> Any:
    page: list[dict[str, Any]] = []
    for item in items:
        page.append(item)
        if len(page) == PAGE_ROWS:
            yield {"Items": page}
            page = []
    if page:
        yield {"Items": page}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from aiservice.report.run import History, make_report
    from aiservice.store.features import FeaturesStore
    from aiservice.store.usage import UsageStore

    client = PagedDay(args.rows)
    tracemalloc.start()
    started = time.perf_counter()
    history = History(usage=UsageStore(client=client), features=FeaturesStore(client=client))
    result = make_report(DAY, history)
    elapsed = time.perf_counter() - started
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report = result.report
    assert report["data_quality"]["day_rows_read"] == args.rows, report["data_quality"]
    print(f"rows {args.rows:,} in one day, {client.queries} queries; day total ${report['totals']['day']['cost_usd']}")
    print("files: " + ", ".join(f"{name} {len(body) / 2**20:.1f} MiB" for name, body in result.files.items()))
    print(
        f"peak traced memory {peak / 2**20:.1f} MiB (still held at the end {current / 2**20:.1f} MiB); "
        f"time {elapsed:.2f} s"
    )


if __name__ == "__main__":
    main()
