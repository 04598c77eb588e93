"""The reservation sweeper (EventBridge Scheduler, every 15 minutes): hands back the allowance reservations of
requests whose Lambda was killed between admit and settle (a timeout, an out-of-memory kill, a crash), which
nothing else would ever release. A reservation is stale once it is older than the longest timeout of a metered
function plus a margin: no request can still be running then. The DynamoDB work is in aiservice.store.usage."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from aiservice.config import get_settings
from aiservice.observability import logger, metrics
from aiservice.store.usage import UsageStore

_TIME_KEPT_S = 10.0  # stop releasing this long before the function's timeout; the next sweep goes on


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    max_age_s = settings.metered_function_timeout_s + settings.reservation_sweep_margin_s
    stop_at = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - _TIME_KEPT_S
    result = UsageStore().sweep_reservations(max_age_s, out_of_time=lambda: time.monotonic() >= stop_at)
    for reservation in result.released_reservations:
        logger.warning(
            "released a stale reservation: its request never settled",
            extra={
                "reservation_id": reservation.reservation_id,
                "user_id": reservation.user_id,
                "org_id": reservation.org_id,
                "trace_id": reservation.trace_id,
                "period": reservation.period,
                "amount_usd": str(reservation.amount_usd),
            },
        )
    metrics.add_metric(name="StaleReservationsReleased", unit=MetricUnit.Count, value=result.released)
    metrics.add_metric(name="StaleReservationsReleasedUSD", unit=MetricUnit.NoUnit, value=float(result.released_usd))
    metrics.add_metric(name="StaleReservationsSettledFirst", unit=MetricUnit.Count, value=result.already_settled)
    summary = {
        "released": result.released,
        "released_usd": str(result.released_usd),
        "already_settled": result.already_settled,
        "complete": result.complete,
        "max_age_s": max_age_s,
    }
    logger.info("reservation sweep", extra=summary)
    return summary
