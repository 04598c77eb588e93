"""`rerun_trace_id`: answer from the stored results of an earlier trace of the same user, without a model call.

Every candidate endpoint stores what it answered (never in privacy mode) under the request's trace and a key
that a rerun's request reproduces (nothing for /optimize, the refined or repaired candidate's id for the
follow-ups). A rerun that finds its result is admitted like any request (rate limit, quota) and costs $0; one
that finds nothing (expired, privacy mode, another user's trace) is answered live.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel

from aiservice.access import metered
from aiservice.observability import logger
from aiservice.pipelines.scope import Scope
from aiservice.store.results import ResultStore

Body = TypeVar("Body", bound=BaseModel)


def stored_or_live(
    scope: Scope,
    *,
    trace_id: str,
    rerun_trace_id: str | None,
    endpoint: str,
    key: str,
    counts_toward_quota: bool,
    response_type: type[Body],
    live: Callable[[], Body],
) -> Body:
    principal = scope.principal
    store = ResultStore()
    if rerun_trace_id:
        stored = store.get(principal.user_id, rerun_trace_id, endpoint, key)
        if stored is not None:
            with metered(
                principal, trace_id=trace_id, estimate_usd=Decimal(0), counts_toward_quota=counts_toward_quota
            ):
                logger.info(
                    "rerun answered from stored results", extra={"rerun_trace_id": rerun_trace_id, "endpoint": endpoint}
                )
            return response_type.model_validate(stored)
        logger.info(
            "rerun found no stored results; answering live",
            extra={"rerun_trace_id": rerun_trace_id, "endpoint": endpoint},
        )
    body = live()
    if not principal.privacy_mode:
        store.put(principal.user_id, trace_id, endpoint, key, body.model_dump(mode="json"))
    return body
