"""The scheduled cost report (EventBridge Scheduler, daily): the previous UTC day by default, or
{"day": "YYYY-MM-DD"}. All the work is in aiservice.report."""

from __future__ import annotations

from typing import Any

from aiservice.observability import logger
from aiservice.report.run import run_scheduled


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return run_scheduled(event or {})
