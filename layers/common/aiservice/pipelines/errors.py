"""The errors of an optimization run (a model call that failed, a candidate dropped and why, a timeout), one
structured log line each (message "optimization_error", with the trace id) and an EMF count per kind."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from aiservice.observability import logger


def record_run_errors(trace_id: str, call_type: str, errors: Sequence[tuple[str, str]]) -> None:
    """`errors`: (kind, detail) pairs, e.g. ("candidate_dropped", "does not parse: a.py:3:5: ...")."""
    if not errors:
        return
    for kind, detail in errors:
        logger.info(
            "optimization_error", extra={"trace_id": trace_id, "call_type": call_type, "kind": kind, "detail": detail}
        )
    metrics = EphemeralMetrics()
    metrics.add_dimension(name="call_type", value=call_type)
    for kind, count in Counter(kind for kind, _ in errors).items():
        metrics.add_metric(name=f"OptimizationErrors_{kind}", unit=MetricUnit.Count, value=count)
    metrics.flush_metrics()
