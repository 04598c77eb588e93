"""The one home of the Powertools Logger and Metrics singletons.

Service name, log level and metrics namespace come from the POWERTOOLS_* environment the template sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# A request that recorded no metric is normal (health, refusals); Powertools would warn on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def set_correlation_id(event: Mapping[str, Any], trace_id: str | None = None) -> None:
    """Correlate log lines by the codeflash trace_id when the request has one, else API Gateway's request id."""
    request_id = (event.get("requestContext") or {}).get("requestId")
    logger.set_correlation_id(trace_id or request_id)
