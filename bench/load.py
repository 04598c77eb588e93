"""`make run` under a burst: concurrent clients, mixed requests, on loopback only.

Starts the real stack (`python -m devserver run --port 0`, see _stack.py), warms it up, then N clients send a
fixed, shuffled mix, each request on its own connection (as the codeflash CLI does): GET /healthcheck, an
authenticated POST /ai/metered, the same with a 7 MiB body (refused with 413 before it is read) and with
malformed JSON (400). Prints connection errors (must be 0), p50/p95/max per kind and checks that every non-2xx
answer is a JSON {"error": ...}. Bounded: the request count, a per-request timeout and an overall deadline.

    .venv/bin/python bench/load.py [--clients 32] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from _stack import AI_ROUTE, AUTHORIZATION, http_request, local_stack, metered_body, summary

HEALTH_P95_TARGET_MS = 50
DEADLINE_S = 300


@dataclass(frozen=True)
class Kind:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    expected: int
    weight: int


JSON_AUTH = {"Authorization": AUTHORIZATION, "Content-Type": "application/json"}
KINDS = [
    Kind("healthcheck", "GET", "/healthcheck", {}, b"", 200, 12),
    Kind("ai", "POST", AI_ROUTE, JSON_AUTH, metered_body(), 200, 5),
    Kind("malformed", "POST", AI_ROUTE, JSON_AUTH, b'{"trace_id": "x", ', 400, 2),
    Kind("7MiB", "POST", AI_ROUTE, JSON_AUTH, metered_body(padding=7 << 20), 413, 1),
]


@dataclass
class Results:
    latencies_ms: dict[str, list[float]]
    statuses: dict[str, Counter[int]]
    connection_errors: Counter[str]
    not_json_errors: list[str]


async def run_load(port: int, plan: list[Kind], clients: int) -> Results:
    results = Results(defaultdict(list), defaultdict(Counter), Counter(), [])
    pending = iter(plan)

    async def client() -> None:
        for kind in pending:  # a shared iterator: each request is taken by exactly one client
            started = time.perf_counter()
            try:
                status, _, body = await http_request(port, kind.method, kind.path, kind.headers, kind.body)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                results.connection_errors[f"{kind.name}: {type(error).__name__}"] += 1
                continue
            results.latencies_ms[kind.name].append((time.perf_counter() - started) * 1000)
            results.statuses[kind.name][status] += 1
            if not 200 <= status < 300 and not _is_json_error(body):
                results.not_json_errors.append(f"{kind.name} {status}: {body[:100]!r}")

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), DEADLINE_S)
    return results


def _is_json_error(body: bytes) -> bool:
    try:
        decoded = json.loads(body)
    except ValueError:
        return False
    return isinstance(decoded, dict) and isinstance(decoded.get("error"), str)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    plan = rng.choices(KINDS, weights=[kind.weight for kind in KINDS], k=args.requests)
    warm_up = [kind for kind in KINDS[:2] for _ in range(args.clients)]  # every worker of both pools started

    with local_stack() as (port, url):
        print(f"stack at {url}; warming up with {len(warm_up)} requests")
        asyncio.run(run_load(port, warm_up, args.clients))
        started = time.perf_counter()
        results = asyncio.run(run_load(port, plan, args.clients))
        elapsed = time.perf_counter() - started

    print(
        f"{args.requests} requests from {args.clients} concurrent clients in {elapsed:.1f} s "
        f"({args.requests / elapsed:.0f} req/s), one connection per request"
    )
    print(f"{'kind':<12} {'n':>5} {'statuses':<22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind in KINDS:
        latencies = results.latencies_ms[kind.name]
        statuses = ",".join(f"{status}x{n}" for status, n in sorted(results.statuses[kind.name].items()))
        p50, p95, worst = summary(latencies)
        print(f"{kind.name:<12} {len(latencies):>5} {statuses:<22} {p50:>8.1f} {p95:>8.1f} {worst:>8.1f}")
    errors = sum(results.connection_errors.values())
    print(f"connection errors: {errors} {dict(results.connection_errors) or ''}")
    unexpected = {
        kind.name: dict(results.statuses[kind.name])
        for kind in KINDS
        if set(results.statuses[kind.name]) - {kind.expected}
    }
    print(f"unexpected statuses: {unexpected or 'none'}")
    print(
        f'non-2xx answers that are not JSON {{"error"}}: {len(results.not_json_errors)} '
        f"{results.not_json_errors[:3] or ''}"
    )
    health_p95 = summary(results.latencies_ms["healthcheck"])[1]
    print(f"/healthcheck p95: {health_p95:.1f} ms (target <= {HEALTH_P95_TARGET_MS} ms)")
    return 1 if errors or results.not_json_errors else 0


if __name__ == "__main__":
    sys.exit(main())
