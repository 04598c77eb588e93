"""Call records: one structured log line and one EMF metrics document per attempt, and the usage line that
bills it. What a record may hold is decided here: never a key; message content only when configuration allows
it and the org is not in privacy mode. A failure to record never fails the call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from aiservice.config import get_settings
from aiservice.observability import logger
from aiservice.store.usage import UsageLine

if TYPE_CHECKING:
    from aiservice.llm.client import CallContext
    from aiservice.llm.cost import CostBreakdown
    from aiservice.llm.types import Attempt, Message


def usage_line(model_id: str, cost: CostBreakdown, call_type: str) -> UsageLine:
    """What bills an attempt: its cost and its tokens by our aggregate's kinds."""
    tokens = {
        "input_tokens": cost.input_tokens,
        "output_tokens": cost.output_tokens,
        "cache_read_tokens": cost.cache_read_tokens,
        "reasoning_tokens": cost.reasoning_tokens,
        "cache_write_tokens": cost.cache_write_5m_tokens + cost.cache_write_1h_tokens,
    }
    return UsageLine(model=model_id, call_type=call_type, cost_usd=cost.total_usd, tokens=tokens)


def record_llm_call(attempts: Sequence[Attempt], context: CallContext, messages: Sequence[Message]) -> None:
    for attempt in attempts:
        try:
            _log(attempt, context, messages)
            _emit_metrics(attempt, context.call_type)
        except Exception:  # noqa: BLE001 - the call's outcome matters more than its record
            logger.exception("could not record an LLM call attempt")


def _log(attempt: Attempt, context: CallContext, messages: Sequence[Message]) -> None:
    principal = context.principal
    entry = {
        "trace_id": context.trace_id,
        "call_type": context.call_type,
        "model": attempt.model_id,
        "provider": attempt.provider,
        "attempt": attempt.number,
        "latency_ms": round(attempt.latency_ms, 1),
        "error": attempt.error,
        "status_code": attempt.status_code,
        "user_id": principal.user_id if principal else None,
        "org_id": principal.org_id if principal else None,
        "cost": attempt.cost.as_dict() if attempt.cost else None,
    }
    if get_settings().log_llm_content and not (principal and principal.privacy_mode):
        entry["messages"] = json.dumps(list(messages), default=str)[:20_000]
    logger.info("llm_call", extra=entry)


def _emit_metrics(attempt: Attempt, call_type: str) -> None:
    # EphemeralMetrics: this attempt's own dimensions, flushed at once (user ids never become dimensions).
    metrics = EphemeralMetrics()
    metrics.add_dimension(name="model", value=attempt.model_id)
    metrics.add_dimension(name="call_type", value=call_type)
    metrics.add_metric(name="LLMCalls", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="LLMErrors", unit=MetricUnit.Count, value=1 if attempt.error else 0)
    metrics.add_metric(name="LLMLatency", unit=MetricUnit.Milliseconds, value=attempt.latency_ms)
    if attempt.cost is not None:
        metrics.add_metric(name="LLMCostUSD", unit=MetricUnit.NoUnit, value=float(attempt.cost.total_usd))
        metrics.add_metric(name="LLMInputTokens", unit=MetricUnit.Count, value=attempt.cost.input_tokens)
        metrics.add_metric(name="LLMOutputTokens", unit=MetricUnit.Count, value=attempt.cost.output_tokens)
    metrics.flush_metrics()
