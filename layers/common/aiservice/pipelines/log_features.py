"""POST /ai/log_features: what the client measured for a trace (speedups, runtimes, correctness, the best
candidate, and the code only outside privacy mode), stored on the trace's features item. No model call; the
request is admitted like any other (rate limit) and costs $0. The same call twice stores the same item."""

from __future__ import annotations

from decimal import Decimal

from aiservice.access import metered
from aiservice.observability import logger
from aiservice.pipelines.schemas import Empty, LogFeaturesRequest
from aiservice.pipelines.scope import Scope
from aiservice.store.features import FeaturesStore


def log_features(request: LogFeaturesRequest, scope: Scope) -> Empty:
    principal = scope.principal
    fields = request.model_dump(exclude={"trace_id"}, exclude_none=True)
    with metered(principal, trace_id=request.trace_id, estimate_usd=Decimal(0), counts_toward_quota=False):
        dropped = FeaturesStore().log_features(
            request.trace_id, principal.user_id, principal.org_id, fields, principal.privacy_mode
        )
    if dropped:
        logger.info("log_features: fields not stored", extra={"dropped_fields": dropped})
    return Empty()
