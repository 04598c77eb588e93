"""A month of realistic demo usage, written through the service's own paths (UsageStore.admit/settle,
FeaturesStore), priced by aiservice.llm.cost_of from provider-shaped usage objects. Deterministic per seed.

For local runs only (moto, DynamoDB Local): never point it at a production table.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from aiservice.errors import AllowanceExhausted
from aiservice.llm.cost import cost_of
from aiservice.store.dynamo import dynamodb_client
from aiservice.store.features import FeaturesStore
from aiservice.store.sequential import SequentialWrites
from aiservice.store.usage import Admission, UsageLine, UsageStore

# (user, org, plan allowance, activity: traces per day)
DEMO_USERS: tuple[tuple[str, str | None, Decimal | None, int], ...] = (
    ("alice", "acme", Decimal("200"), 2),
    ("bob", "acme", Decimal("200"), 1),
    ("carol", "globex", Decimal("200"), 2),
    ("dave", "globex", Decimal("200"), 1),
    ("erin", "initech", None, 1),
    ("frank", None, Decimal("5"), 1),
)
DEMO_ORG_ALLOWANCES = {"acme": Decimal("500"), "globex": Decimal("150")}
# call type -> (model by org, input tokens, output tokens, share of input read from the cache)
_CALLS: dict[str, tuple[str, int, int, float]] = {
    "optimize": ("claude-sonnet-4-5", 9_000, 2_500, 0.6),
    "testgen": ("azure/gpt-5-mini", 6_000, 3_000, 0.4),
    "refinement": ("claude-haiku-4-5", 7_000, 1_500, 0.7),
    "explanation": ("azure/gpt-4.1", 3_000, 600, 0.0),
    "ranking": ("azure/gpt-5", 5_000, 800, 0.5),
}
_ORG_OPTIMIZER = {"globex": "claude-opus-4-5", "initech": "azure/gpt-5"}


@dataclass
class SeedSummary:
    requests: int = 0
    traces: int = 0
    successes: int = 0
    refused: int = 0
    cost_usd: Decimal = Decimal(0)


def _usage(model: str, rng: random.Random, input_tokens: int, output_tokens: int, cached: float) -> UsageLine | None:
    scale = rng.uniform(0.4, 1.8)
    total_in, out = int(input_tokens * scale), int(output_tokens * rng.uniform(0.5, 1.5))
    read = int(total_in * cached * rng.uniform(0.6, 1.0))
    raw: dict[str, Any]
    if model.startswith("claude"):
        write = int((total_in - read) * 0.3) if cached else 0
        raw = {
            "input_tokens": total_in - read - write,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "output_tokens": out,
        }
    else:
        raw = {
            "prompt_tokens": total_in,
            "completion_tokens": out,
            "total_tokens": total_in + out,
            "prompt_tokens_details": {"cached_tokens": read},
        }
    cost = cost_of(model, raw)
    tokens = {
        "input_tokens": cost.input_tokens,
        "output_tokens": cost.output_tokens,
        "cache_read_tokens": cost.cache_read_tokens,
        "cache_write_tokens": cost.cache_write_5m_tokens + cost.cache_write_1h_tokens,
        "reasoning_tokens": cost.reasoning_tokens,
    }
    return UsageLine(model=model, call_type="", cost_usd=cost.total_usd, tokens=tokens)


def seed_demo(
    first_day: date,
    last_day: date,
    seed: int = 7,
    usage: UsageStore | None = None,
    features: FeaturesStore | None = None,
) -> SeedSummary:
    """Usage for every day from first_day to last_day; the last day has a spike (an anomaly to report)."""
    rng = random.Random(seed)
    if usage is None:
        client = SequentialWrites(dynamodb_client())
        usage, features = UsageStore(client=client), FeaturesStore(client=client)
    features = features or FeaturesStore()
    summary = SeedSummary()
    day = first_day
    while day <= last_day:
        weekend = day.weekday() >= 5
        for user, org, allowance, activity in DEMO_USERS:
            traces = max(0, round(activity * (0.4 if weekend else 1.0) * rng.uniform(0.5, 1.5)))
            if day == last_day and user == "carol":
                traces = 16  # the drifting user the report should flag
            for index in range(traces):
                moment = datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC) + timedelta(minutes=7 * index + 1)
                trace_id = str(uuid.UUID(int=rng.getrandbits(128)))
                summary.traces += 1
                features.record_run(trace_id, user, org, now=moment)
                # one request per trace keeps the demo quick on moto (the service makes one per endpoint call)
                for request, call_types in enumerate(
                    (("optimize", "ranking", "explanation", "testgen", "refinement"),)
                ):
                    lines = []
                    for call_type in call_types:
                        model, tokens_in, tokens_out, cached = _CALLS[call_type]
                        if call_type == "optimize":
                            model = _ORG_OPTIMIZER.get(org or "", model)
                        line = _usage(model, rng, tokens_in, tokens_out, cached)
                        if line is not None:
                            calls = rng.randint(1, 3) if call_type in ("optimize", "testgen") else 1
                            lines.append(
                                UsageLine(
                                    model=line.model,
                                    call_type=call_type,
                                    cost_usd=line.cost_usd * calls,
                                    calls=calls,
                                    tokens={k: v * calls for k, v in line.tokens.items()},
                                )
                            )
                    when = moment + timedelta(seconds=20 * request)
                    # a worst-case reservation, as the service makes: more than the calls will cost
                    actual = sum((line.cost_usd for line in lines), Decimal(0))
                    estimate = (actual * Decimal("1.5") + Decimal("0.01")).quantize(Decimal("0.01"))
                    try:
                        reservation = usage.admit(
                            Admission(
                                user_id=user,
                                org_id=org,
                                trace_id=trace_id,
                                estimate_usd=estimate,
                                counts_toward_quota=request == 0,
                                monthly_quota=None,
                                user_allowance_usd=allowance,
                                org_allowance_usd=DEMO_ORG_ALLOWANCES.get(org or ""),
                            ),
                            now=when,
                        )
                    except (AllowanceExhausted, ClientError):  # frank's $5 runs out: the service refuses him
                        summary.refused += 1
                        continue
                    summary.cost_usd += usage.settle(reservation, lines, now=when)
                    summary.requests += 1
                if rng.random() < 0.35:
                    features.mark_success(trace_id, user, org, now=moment + timedelta(minutes=3))
                    summary.successes += 1
        day += timedelta(days=1)
    return summary
