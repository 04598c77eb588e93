"""A fault soak of `make run`: /ai/optimize from concurrent clients while the providers fail 30 % of the calls.

Starts the stack as `make run` does (`python -m devserver run`, here on a free port, with its own in-memory moto
DynamoDB), with the scripted model of tests/soak/model (`DEVSERVER_LLM_SCRIPT`): valid candidates, and a seeded
`faults` section that answers 30 % of the provider calls with a 429 + retry-after, a 500, a 529 (overloaded), a
timeout (held past the handler's deadline), a dropped connection or stream, a malformed body or a stream error.
A user with a small allowance (and an org with one) is created with the admin CLI against the stack's DynamoDB.
Then N clients send the requests, each on its own connection, with fresh trace ids; afterwards the stack's
DynamoDB and its output (the function workers' JSON logs, the fake provider's per-request lines) are read back:

- statuses: 200, 402 (the allowance ran out), 502 (every call failed), 504 (the deadline): nothing else, and
  every non-2xx a JSON {"error"};
- no record lost: the `llm_call` log lines with a cost (every billed attempt) sum, exactly, to the user's daily
  aggregates (cost_usd, Decimal) and count as many calls;
- nothing held: no reservation left (reserved_usd == 0, reservations == 0, no marker) on the user's and the org's
  allowance items, limit - spent == headroom, spent == the aggregates' total.

Bounded: the request count, a per-request timeout and an overall deadline.

    .venv/bin/python bench/soak.py [--requests 200] [--clients 8] [--candidates 3] [--allowance-usd 5.00]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import ROOT, devserver, http_request, summary  # noqa: E402 - after the path setup

MODEL = ROOT / "tests/soak/model"
SAMPLE = ROOT / "tests/fixtures/reference/codeflash-samples/03_ai_optimize.json"
REQUEST_TIMEOUT_S = 60  # well past the gateway's integration timeout (29 s): a hang is a failure
DEADLINE_S = 900
ALLOWED_STATUSES = {200, 402, 502, 504}
_WORST_CASE = re.compile(r"worst-case cost \(\$([0-9.]+)\)")  # in a 402's error
WARM_UP_ROUNDS = 24
PARAMETERS = ("RateLimitMax=10000",)  # the rate limit out of the way; everything else as the template says


@dataclass
class Soak:
    """What a soak did and what it found."""

    requests: int
    clients: int
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    latencies_by_status: dict[int, list[float]] = field(default_factory=dict)
    not_json_errors: list[str] = field(default_factory=list)
    connection_errors: Counter[str] = field(default_factory=Counter)
    errors_402: list[str] = field(default_factory=list)
    provider_requests: int = 0  # answered by the scripted model (faults included)
    faults: Counter[str] = field(default_factory=Counter)  # injected by the scripted model, by kind
    attempts: int = 0  # llm_call log lines of the soak user (every attempt)
    billed_attempts: int = 0  # those with a cost
    billed_usd: Decimal = Decimal(0)  # the sum of their costs
    aggregate_calls: int = 0  # the user's daily aggregates
    aggregate_usd: Decimal = Decimal(0)
    allowances: dict[str, dict[str, Any]] = field(default_factory=dict)  # USER / ORG items after the run
    markers_left: int = 0
    stack_log: str = ""
    # per trace id, to find the requests behind a mismatch: status, (calls, USD) logged, (calls, USD) on the trace
    status_of: dict[str, int] = field(default_factory=dict)
    logged_by_trace: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    billed_by_trace: dict[str, tuple[int, Decimal]] = field(default_factory=dict)

    def mismatched_traces(self) -> list[str]:
        """The requests whose logged attempts and billed calls differ (the features table's trace cost)."""
        traces = set(self.logged_by_trace) | set(self.billed_by_trace)
        nothing = (0, Decimal(0))
        return [
            f"{trace} ({self.status_of.get(trace)}): logged {self.logged_by_trace.get(trace, nothing)}, "
            f"billed {self.billed_by_trace.get(trace, nothing)}"
            for trace in sorted(traces)
            if self.logged_by_trace.get(trace, nothing) != self.billed_by_trace.get(trace, nothing)
        ]

    def problems(self) -> list[str]:
        """Every property the soak must show that does not hold; empty when all hold."""
        found = []
        unexpected = {status: n for status, n in self.statuses.items() if status not in ALLOWED_STATUSES}
        if unexpected:
            found.append(f"unexpected statuses {unexpected}")
        if sum(self.statuses.values()) != self.requests:
            found.append(f"{self.requests - sum(self.statuses.values())} requests got no answer")
        if self.connection_errors:
            found.append(f"connection errors {dict(self.connection_errors)}")
        if self.not_json_errors:
            found.append(f'non-2xx answers that are not JSON {{"error"}}: {self.not_json_errors[:3]}')
        if [error for error in self.errors_402 if "allowance" not in error]:
            found.append(f"402s not about the allowance: {self.errors_402[:3]}")
        worst_cases = [Decimal(m.group(1)) for m in map(_WORST_CASE.search, self.errors_402) if m]
        headrooms = [Decimal(item["headroom_usd"]) for item in self.allowances.values()]
        # A 402 is due when the headroom, less what the other clients' requests hold, cannot cover the request's
        # worst case; the headroom only shrinks, so the one after the run must be under `clients` worst cases.
        if worst_cases and headrooms and min(headrooms) >= self.clients * max(worst_cases):
            found.append(
                f"402s while the allowance could still cover every client: headroom ${min(headrooms)} after the "
                f"run, {self.clients} requests' worst case ${self.clients * max(worst_cases)}"
            )
        if self.billed_usd != self.aggregate_usd:
            found.append(f"billed attempts cost ${self.billed_usd}, the daily aggregates hold ${self.aggregate_usd}")
        if self.billed_attempts != self.aggregate_calls:
            found.append(f"{self.billed_attempts} billed attempts, the daily aggregates count {self.aggregate_calls}")
        if self.billed_usd != self.aggregate_usd or self.billed_attempts != self.aggregate_calls:
            found.append(f"requests behind it: {self.mismatched_traces()[:5]}")
        for level in ("USER", "ORG"):
            item = self.allowances.get(level)
            if item is None:
                found.append(f"no {level} allowance item")
                continue
            limit, spent = Decimal(item["limit_usd"]), Decimal(item.get("spent_usd", 0))
            headroom, reserved = Decimal(item["headroom_usd"]), Decimal(item.get("reserved_usd", 0))
            if reserved != 0 or Decimal(item.get("reservations", 0)) != 0:
                found.append(f"{level}: reservations left: ${reserved} in {item.get('reservations')}")
            if limit - spent != headroom:
                found.append(f"{level}: limit ${limit} - spent ${spent} != headroom ${headroom}")
            if spent != self.aggregate_usd:
                found.append(f"{level}: spent ${spent} != the daily aggregates' ${self.aggregate_usd}")
        if self.markers_left:
            found.append(f"{self.markers_left} reservation markers left")
        if not self.faults:
            found.append("no fault was injected")
        return found


# ------------------------------------------------------------------------------------------ the stack


@dataclass(frozen=True)
class Stack:
    port: int
    url: str
    dynamodb: str
    demo_key: str


@contextmanager
def local_stack(log_path: Path, model: Path = MODEL) -> Iterator[Stack]:
    """`make run` (`python -m devserver run`) on a free port with the scripted model in `model`; its output (the
    banner, the workers' JSON logs, the fake provider's fault lines) goes to `log_path`."""
    arguments = ["--cfapi-port", "-1", "--parameter-overrides", *PARAMETERS]
    with devserver(log_path, *arguments, DEVSERVER_LLM_SCRIPT=str(model)) as (port, url, banner):
        moto = re.search(r"in-memory moto at (http://\S+?),? ", banner)
        demo = re.search(r"Demo API key: (\S+)", banner)
        if moto is None or demo is None:
            raise RuntimeError(f"no moto endpoint or demo key in the stack's banner:\n{banner}")
        yield Stack(port, url, moto.group(1), demo.group(1))


def admin(stack: Stack, *arguments: str) -> str:
    """`python -m aiservice.admin --endpoint-url <the stack's moto> ...`; its stdout."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers/common'}:{ROOT}", **_local_aws()}
    done = subprocess.run(
        [sys.executable, "-m", "aiservice.admin", "--endpoint-url", stack.dynamodb, *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"admin {arguments[0]} failed: {done.stderr}")
    return done.stdout


def create_user(stack: Stack, user: str, org: str, allowance_usd: Decimal) -> str:
    """A pro-plan key (quota well above the run) for `user` in `org`, both with `allowance_usd` a month."""
    created = json.loads(admin(stack, "create-key", "--user", user, "--org", org, "--plan", "pro"))
    admin(stack, "set-allowance", "--user", user, "--usd", str(allowance_usd))
    admin(stack, "set-allowance", "--org", org, "--usd", str(allowance_usd))
    return str(created["api_key"])


def _local_aws() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
    }


# ------------------------------------------------------------------------------------------ the load


def optimize_body(n_candidates: int) -> dict[str, Any]:
    """Sample 03 (the CLI's /ai/optimize) with a fresh trace id and a module long enough for Claude's prompt
    cache: the first Claude call then streams (so dropped streams and stream errors are real ones)."""
    body = json.loads(SAMPLE.read_text())["request_body"]
    helpers = "\n\n".join(f"def helper_{i}(values):\n    return [v * {i} for v in values]" for i in range(150))
    body["source_code"] = body["source_code"].replace("def sort_list", helpers + "\n\n\ndef sort_list")
    return {**body, "n_candidates": n_candidates, "trace_id": str(uuid.uuid4())}


async def send_all(soak: Soak, port: int, api_key: str, n_candidates: int) -> None:
    remaining = iter(range(soak.requests))
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    async def client() -> None:
        for _ in remaining:  # a shared iterator: each request is sent by exactly one client
            request = optimize_body(n_candidates)
            body = json.dumps(request).encode()
            started = time.perf_counter()
            try:
                status, _, answer = await http_request(
                    port, "POST", "/ai/optimize", headers, body, timeout_s=REQUEST_TIMEOUT_S
                )
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                soak.connection_errors[type(error).__name__] += 1
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            soak.latencies_ms.append(elapsed_ms)
            soak.latencies_by_status.setdefault(status, []).append(elapsed_ms)
            soak.statuses[status] += 1
            soak.status_of[request["trace_id"]] = status
            if not 200 <= status < 300:
                error_text = _json_error(answer)
                if error_text is None:
                    soak.not_json_errors.append(f"{status}: {answer[:100]!r}")
                elif status == 402:
                    soak.errors_402.append(error_text)

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(soak.clients))), DEADLINE_S)


async def warm_up(port: int, api_key: str, demo_key: str, clients: int, n_candidates: int) -> None:
    """Before the measured run: the authorizer's answer for the soak key cached (a body refused with 422, before
    admission: no money moves), then optimize requests of the demo user (another user, another allowance) in
    rounds of 1, 2, ... `clients` at once, so that the optimize function gets one new execution environment per
    round, with the provider SDKs loaded, while the others are warm. Cold starts are not what this soak measures:
    eight Python workers importing the SDKs at once on a busy machine can take the whole deadline, and a worker
    the gateway's timeout stops is replaced by another cold one."""
    headers = {"Content-Type": "application/json"}

    async def one(key: str, body: bytes) -> int:
        try:
            status, _, _ = await http_request(
                port, "POST", "/ai/optimize", {**headers, "Authorization": f"Bearer {key}"}, body, REQUEST_TIMEOUT_S
            )
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            return 0
        return status

    if await one(api_key, b"{}") != 422:
        raise RuntimeError("the stack did not authorize the soak key")
    size, rounds = 1, 0
    while size <= clients:
        rounds += 1
        if rounds > WARM_UP_ROUNDS:
            raise RuntimeError(f"the stack did not warm up in {WARM_UP_ROUNDS} rounds")
        bodies = [json.dumps(optimize_body(n_candidates)).encode() for _ in range(size)]
        if set(await asyncio.gather(*(one(demo_key, body) for body in bodies))) <= {200, 502}:
            size += 1  # every environment answered: one more next round


def _json_error(body: bytes) -> str | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    return error if isinstance(error, str) else None


# ------------------------------------------------------------------------------------------ reading back


def read_dynamodb(soak: Soak, stack: Stack, user: str, org: str) -> None:
    """The user's daily aggregates, the user's and org's allowance items this month, and markers left: a scan
    of the (small, local) usage table, so that nothing depends on the shard count."""
    import boto3

    aws = _local_aws()
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.dynamodb,
        region_name=aws["AWS_DEFAULT_REGION"],
        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"],
    )
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName="UsageTable", ConsistentRead=True):
        items.extend({name: _plain(value) for name, value in item.items()} for item in page["Items"])
    month = datetime.now(UTC).strftime("%Y-%m")
    for item in items:
        pk = str(item["pk"])
        if pk.startswith("DAY#") and item.get("user_id") == user:
            soak.aggregate_calls += int(item["calls"])
            soak.aggregate_usd += Decimal(item["cost_usd"])
        elif pk in (f"ALLOWANCE#USER#{user}", f"ALLOWANCE#ORG#{org}") and item["sk"] == month:
            soak.allowances[pk.split("#")[1]] = item
        elif pk.startswith("RESERVATION#") and item.get("user_id") == user:
            soak.markers_left += 1
    for page in client.get_paginator("scan").paginate(TableName="OptimizationFeaturesTable", ConsistentRead=True):
        for item in page["Items"]:
            row = {name: _plain(value) for name, value in item.items()}
            if row.get("user_id") == user and "cost_usd" in row:
                soak.billed_by_trace[str(row["trace_id"])] = (int(row["llm_calls"]), Decimal(row["cost_usd"]))


def _plain(value: Any) -> Any:
    (kind, raw), *_ = value.items()
    return Decimal(raw) if kind == "N" else raw


def read_log(soak: Soak, log_path: Path, user: str, offset: int = 0) -> None:
    """The workers' `llm_call` lines of the user (a cost: a billed attempt) and the fake provider's faults from
    `offset` on (the warm-up's are not the soak's)."""
    raw = log_path.read_bytes()
    soak.stack_log = raw.decode(errors="replace")
    for part, faults_count in ((raw[:offset], False), (raw[offset:], True)):
        for line in part.decode(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "fakellm_request" and faults_count:
                soak.provider_requests += 1
                if entry["fault"] is not None:
                    soak.faults[entry["fault"]] += 1
            elif entry.get("message") == "llm_call" and entry.get("user_id") == user:
                soak.attempts += 1
                if entry.get("cost") is not None:
                    cost = Decimal(entry["cost"]["total_usd"])
                    soak.billed_attempts += 1
                    soak.billed_usd += cost
                    calls, usd = soak.logged_by_trace.get(entry["trace_id"], (0, Decimal(0)))
                    soak.logged_by_trace[entry["trace_id"]] = (calls + 1, usd + cost)


def run_soak(
    requests: int,
    clients: int,
    n_candidates: int,
    allowance_usd: Decimal,
    *,
    model: Path = MODEL,
    log_path: Path | None = None,
) -> Soak:
    """The whole soak; the stack's output goes to `log_path` (default: a temporary file)."""
    if log_path is None:
        with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
            return run_soak(
                requests, clients, n_candidates, allowance_usd, model=model, log_path=Path(scratch) / "stack.log"
            )
    soak = Soak(requests, clients)
    user, org = f"soak-{uuid.uuid4().hex[:8]}", f"soak-org-{uuid.uuid4().hex[:8]}"
    with local_stack(log_path, model) as stack:
        api_key = create_user(stack, user, org, allowance_usd)
        asyncio.run(warm_up(stack.port, api_key, stack.demo_key, clients, n_candidates))
        log_offset = log_path.stat().st_size  # the faults injected from here on are the soak's
        started = time.perf_counter()
        asyncio.run(send_all(soak, stack.port, api_key, n_candidates))
        soak.seconds = time.perf_counter() - started
        read_dynamodb(soak, stack, user, org)
    read_log(soak, log_path, user, log_offset)  # the stack stopped: every worker's output is in the file
    return soak


def report(soak: Soak) -> str:
    p50, p95, worst = summary(soak.latencies_ms)
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(soak.statuses.items()))
    faults = ", ".join(f"{kind}: {n}" for kind, n in sorted(soak.faults.items()))
    user = soak.allowances.get("USER", {})
    lines = [
        f"{soak.requests} /ai/optimize requests from {soak.clients} concurrent clients in {soak.seconds:.1f} s",
        f"statuses: {statuses}",
        f"latency: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {worst:.0f} ms; "
        + ", ".join(
            f"{status}s p50 {summary(values)[0]:.0f} / p95 {summary(values)[1]:.0f} ms"
            for status, values in sorted(soak.latencies_by_status.items())
        ),
        f"provider requests: {soak.provider_requests}, faults injected: {sum(soak.faults.values())} "
        f"({100 * sum(soak.faults.values()) / max(1, soak.provider_requests):.0f} %: {faults})",
        f"attempts logged: {soak.attempts}, billed: {soak.billed_attempts}, ${soak.billed_usd}",
        f"daily aggregates: {soak.aggregate_calls} calls, ${soak.aggregate_usd}",
        f"user allowance: limit ${user.get('limit_usd')}, spent ${user.get('spent_usd')}, "
        f"headroom ${user.get('headroom_usd')}, reserved ${user.get('reserved_usd')} "
        f"in {user.get('reservations')} reservations; markers left: {soak.markers_left}",
    ]
    problems = soak.problems()
    lines.append("problems: " + ("none" if not problems else "; ".join(problems)))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--allowance-usd", type=Decimal, default=Decimal("5.00"))
    parser.add_argument("--log", type=Path, help="write the stack's output here (default: a temporary file)")
    args = parser.parse_args()
    soak = run_soak(args.requests, args.clients, args.candidates, args.allowance_usd, log_path=args.log)
    print(report(soak))
    return 1 if soak.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
