"""GET /healthcheck: liveness only. Imports nothing but the standard library, so it stays a fast cold start."""

from __future__ import annotations

import json
import os
import time
from typing import Any

_STARTED = time.time()
_COLD = True


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    global _COLD
    cold, _COLD = _COLD, False
    body = {
        "status": "ok",
        "service": os.environ.get("POWERTOOLS_SERVICE_NAME", "aiservice"),
        "version": os.environ.get("SERVICE_VERSION", "dev"),
        "region": os.environ.get("AWS_REGION", ""),
        "cold_start": cold,
        "uptime_s": round(time.time() - _STARTED, 3),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }
