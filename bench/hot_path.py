"""DynamoDB requests per authenticated /ai/* call on the hot path (target <= 2), against moto on loopback.

The authorizer's answer is cached by API Gateway per key, so the hot path is the handler's own requests:
admit (rate limit + quota + reservation) and settle (allowance + daily aggregate). The authorizer's cost on a
cache miss is printed too. The handler is the access-test function (tests/fixtures/metered), which goes
through the same metering as every /ai/* endpoint.

    .venv/bin/python bench/hot_path.py [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common"), str(ROOT)]
os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_REGION="us-east-1",
    POWERTOOLS_METRICS_NAMESPACE="Bench",
    POWERTOOLS_LOG_LEVEL="WARNING",
    RATE_LIMIT_MAX="100000",
    PLAN_MONTHLY_QUOTA_FREE="unlimited",
)

CONTEXT = SimpleNamespace(
    function_name="bench",
    memory_limit_in_mb=512,
    aws_request_id="bench",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench",
    get_remaining_time_in_millis=lambda: 29_000,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()

    from devserver.dynamo import create_tables, dynamodb_client, start_moto_server
    from devserver.modules import import_file
    from devserver.template import Stack

    server = start_moto_server()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.url
    create_tables(dynamodb_client(server.url), Stack.load(ROOT / "template.yaml"))

    from aiservice.admin import create_key
    from aiservice.store.dynamo import dynamodb_client as service_client
    from aiservice.store.keys import KeyStore

    key, _ = create_key(
        KeyStore(), user_id="bench-user", org_id="bench-org", plan="free", privacy_mode=False, label=None
    )
    authorizer = import_file("bench_authorizer", ROOT / "functions/authorizer/app.py")
    function = import_file("bench_metered", ROOT / "tests/fixtures/metered/app.py")

    operations: Counter[str] = Counter()
    service_client().meta.events.register("before-call.dynamodb", lambda model, **_: operations.update([model.name]))

    auth_event = json.loads((ROOT / "events/authorizer.json").read_text())
    auth_event["headers"]["Authorization"] = f"Bearer {key}"
    answer = authorizer.handler(auth_event, CONTEXT)
    authorizer_requests = sum(operations.values())
    operations.clear()

    event = json.loads((ROOT / "events/healthcheck.json").read_text())
    event.update(httpMethod="POST", path="/ai/metered", resource="/ai/metered")
    event["requestContext"] = dict(
        event["requestContext"], authorizer={"principalId": answer["principalId"], **answer["context"]}
    )
    latencies = []
    for _ in range(args.calls):
        event["body"] = json.dumps({"trace_id": uuid.uuid4().hex, "estimate_usd": "0.001", "cost_usd": "0.0005"})
        start = time.perf_counter()
        response = function.handler(event, CONTEXT)
        latencies.append((time.perf_counter() - start) * 1000)
        assert response["statusCode"] == 200, response
    server.stop()

    per_call = sum(operations.values()) / args.calls
    print(f"authorizer, cache miss: {authorizer_requests} DynamoDB requests (GetItem + BatchGetItem)")
    print(
        f"/ai/* hot path: {per_call:.2f} DynamoDB requests per call over {args.calls} calls "
        f"({', '.join(f'{name} x{count / args.calls:g}' for name, count in operations.items())}); target <= 2"
    )
    print(
        f"handler latency against moto on loopback: p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {statistics.quantiles(latencies, n=20)[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
