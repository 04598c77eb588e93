"""Optional error tracking: with SENTRY_DSN set, unhandled errors go to Sentry (sentry-sdk's AWS Lambda
integration, plus the errors the HTTP layer turns into 500s, which never reach Lambda as exceptions).

Nothing is imported, and nothing is sent, without SENTRY_DSN. What is sent is scrubbed in `scrub` (before_send):
no request (body, headers, query), no breadcrumbs (log lines), no local variables, no extra context, and the
exception messages with API keys redacted, cut at the first line, without pydantic's echo of the input
(`input_value=...`), where a request's code would otherwise travel.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

_ENABLED: bool | None = None
_KEY = re.compile(r"\bcf-[A-Za-z0-9_\-]{4,}")
_INPUT_ECHO = re.compile(r"input_value=.*", re.DOTALL)
MAX_MESSAGE_CHARS = 300


def init(transport: Any = None) -> bool:
    """Set up Sentry once per execution environment when SENTRY_DSN is set; whether it is on."""
    global _ENABLED
    if _ENABLED is not None and transport is None:
        return _ENABLED
    dsn = os.environ.get("SENTRY_DSN", "").strip()
    if not dsn:
        _ENABLED = False
        return False
    import sentry_sdk
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

    sentry_sdk.init(
        dsn=dsn,
        transport=transport,
        environment=os.environ.get("SENTRY_ENVIRONMENT") or None,
        release=os.environ.get("SERVICE_VERSION") or None,
        send_default_pii=False,
        include_local_variables=False,  # a frame's locals hold request bodies, code, keys
        max_request_body_size="never",
        max_breadcrumbs=0,  # breadcrumbs are log lines
        default_integrations=False,  # no logging integration (log lines), no auto-enabled ones
        auto_enabling_integrations=False,
        integrations=[AwsLambdaIntegration(timeout_warning=True)],
        before_send=_before_send,
        traces_sample_rate=0,
    )
    _ENABLED = True
    return True


def capture(error: BaseException) -> None:
    """Report an error the HTTP layer handled (answered 500) as unhandled; nothing when Sentry is off."""
    if not _ENABLED:
        return
    import sentry_sdk

    sentry_sdk.capture_exception(error)


def _before_send(event: Event, hint: Hint) -> Event | None:
    return cast("Event", scrub(cast("dict[str, Any]", event)))


def scrub(event: dict[str, Any]) -> dict[str, Any]:
    """What may leave: the error's type, its scrubbed message, the service's own stack frames, tags."""
    for key in ("request", "breadcrumbs", "extra", "user", "modules"):
        event.pop(key, None)
    contexts = event.get("contexts")
    if isinstance(contexts, dict):
        event["contexts"] = {name: value for name, value in contexts.items() if name in ("runtime", "os", "trace")}
    for exception in (event.get("exception") or {}).get("values") or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = scrub_message(exception["value"])
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    if isinstance(event.get("message"), str):
        event["message"] = scrub_message(event["message"])
    if isinstance(event.get("logentry"), dict):
        event["logentry"] = {"message": scrub_message(str(event["logentry"].get("message", "")))}
    return event


def scrub_message(text: str) -> str:
    text = _INPUT_ECHO.sub("input_value=[redacted]", text)
    text = _KEY.sub("cf-[redacted]", text)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:MAX_MESSAGE_CHARS]
