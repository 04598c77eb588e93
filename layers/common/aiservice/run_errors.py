"""The errors of one optimization run, by trace id, for the admin CLI (`python -m aiservice.admin errors`).

Every error of a run is already a structured log line (message "optimization_error" with trace_id, call_type,
kind and detail; aiservice.pipelines.errors) in the log group of the function that hit it. They are read back
from CloudWatch Logs with FilterLogEvents over the stack's function log groups, in the window around the
trace's first sight (its features item's `created_at`), so nothing more is written on the request path and
nothing is kept longer than the logs' retention (LogRetentionDays). The filter pattern narrows the scan on
CloudWatch's side; every event is checked again here, so a pattern the server does not apply (moto, in tests)
changes nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

ERROR_MESSAGE = "optimization_error"
TRACE_ID = re.compile(r"[A-Za-z0-9._:@+\-]{1,200}")
# Before the trace's first sight (clock skew between functions) and after it (a run's follow-ups, reruns).
BEFORE = timedelta(minutes=15)
AFTER = timedelta(days=2)


def filter_pattern(trace_id: str) -> str:
    if not TRACE_ID.fullmatch(trace_id):
        raise ValueError("a trace id is 1-200 of letters, digits and . _ : @ + -")
    return f'{{ ($.message = "{ERROR_MESSAGE}") && ($.trace_id = "{trace_id}") }}'


def stack_log_groups(logs: Any, stack_name: str) -> list[str]:
    """The stack's function log groups: /aws/lambda/<stack>-<function> (template.yaml names them so)."""
    groups: list[str] = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=f"/aws/lambda/{stack_name}-"):
        groups += [group["logGroupName"] for group in page.get("logGroups", [])]
    return groups


def window(created_at: str | None, since: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """Around the trace's first sight when it is known, else the last `since`."""
    if created_at:
        start = datetime.fromisoformat(created_at).astimezone(UTC)
        return start - BEFORE, min(now, start + AFTER)
    return now - since, now


def run_errors(
    logs: Any, trace_id: str, log_groups: Iterable[str], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The trace's error lines, oldest first: time, log group, call type, kind, detail."""
    pattern = filter_pattern(trace_id)
    found = []
    for group in log_groups:
        for event in _events(logs, group, pattern, start, end):
            line = _json(event.get("message", ""))
            if line is None or line.get("message") != ERROR_MESSAGE or line.get("trace_id") != trace_id:
                continue
            found.append(
                {
                    "time": datetime.fromtimestamp(event["timestamp"] / 1000, UTC).isoformat(timespec="milliseconds"),
                    "log_group": group,
                    "call_type": line.get("call_type"),
                    "kind": line.get("kind"),
                    "detail": line.get("detail"),
                }
            )
    return sorted(found, key=lambda error: (error["time"], error["log_group"]))


def report(trace_id: str, errors: list[dict[str, Any]], start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "searched": {"from": start.isoformat(timespec="seconds"), "to": end.isoformat(timespec="seconds")},
        "count": len(errors),
        "by_kind": dict(Counter(str(error["kind"]) for error in errors)),
        "errors": errors,
    }


def _events(logs: Any, group: str, pattern: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group,
        filterPattern=pattern,
        startTime=int(start.timestamp() * 1000),
        endTime=int(end.timestamp() * 1000),
    )
    for page in pages:
        yield from page.get("events", [])


def _json(text: str) -> dict[str, Any] | None:
    """A log line as JSON: Lambda's JSON log format carries the logger's line as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
