"""`python -m aiservice.admin errors --trace ID`: a run's "optimization_error" lines, read back from the stack's
function log groups (moto's CloudWatch Logs on the suite's loopback server)."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from aiservice.admin import main
from aiservice.run_errors import filter_pattern


def line(message: str, trace_id: str, kind: str = "candidate_dropped", call_type: str = "optimize") -> str:
    return json.dumps({"level": "INFO", "message": message, "trace_id": trace_id, "call_type": call_type,
                       "kind": kind, "detail": f"{kind} of {trace_id}", "service": "aiservice"})  # fmt: skip


@pytest.fixture
def logs(dynamodb: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", dynamodb)  # moto's server answers every service
    return boto3.client("logs", region_name="us-east-1")


def put(logs: Any, group: str, messages: list[str], at: datetime) -> None:
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    stream = f"s-{time.monotonic_ns()}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = int(at.timestamp() * 1000)
    events = [{"timestamp": base + offset, "message": message} for offset, message in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_errors_of_a_trace_across_the_stacks_functions(
    logs: Any, settings_env: Any, user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiservice.store.features import FeaturesStore

    stack = f"stack-{user_id}"
    trace, other = f"trace-{user_id}", f"other-{user_id}"
    now = datetime.now(UTC)
    FeaturesStore().record_run(trace, user_id, None, now=now - timedelta(minutes=5))
    put(logs, f"/aws/lambda/{stack}-optimize", [
        line("optimization_error", trace, "model_call_failed"),
        line("optimization_error", other),  # another trace
        line("candidate dropped", trace),  # not an error line
        "START RequestId: 1 Version: $LATEST",  # not JSON
    ], now - timedelta(minutes=4))  # fmt: skip
    put(logs, f"/aws/lambda/{stack}-testgen", [line("optimization_error", trace, call_type="testgen")],
        now - timedelta(minutes=3))  # fmt: skip
    put(logs, f"/aws/lambda/{stack}-optimize", [line("optimization_error", trace)], now - timedelta(days=5))  # old
    put(logs, "/aws/lambda/elsewhere-optimize", [line("optimization_error", trace)], now - timedelta(minutes=2))

    assert main(["errors", "--trace", trace, "--stack", stack]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 2
    assert report["by_kind"] == {"model_call_failed": 1, "candidate_dropped": 1}
    assert [(e["log_group"].rsplit("-", 1)[1], e["call_type"]) for e in report["errors"]] == [
        ("optimize", "optimize"), ("testgen", "testgen"),
    ]  # fmt: skip
    assert report["errors"][0]["detail"] == f"model_call_failed of {trace}"


def test_without_a_stack_or_with_a_bad_trace_id_it_says_why(
    logs: Any, settings_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STACK_NAME", raising=False)
    assert main(["errors", "--trace", "abc"]) == 2
    assert "--stack" in capsys.readouterr().err
    assert main(["errors", "--trace", 'x" || true', "--stack", "s"]) == 2


def test_the_filter_pattern_matches_the_logged_fields() -> None:
    assert filter_pattern("f32e43c0-5b61-4d1a-bc20-927a9bdb9e0d") == (
        '{ ($.message = "optimization_error") && ($.trace_id = "f32e43c0-5b61-4d1a-bc20-927a9bdb9e0d") }'
    )
    with pytest.raises(ValueError):
        filter_pattern('a" } || { $.x = "')


def test_the_error_lines_carry_what_the_command_reads(log_lines: list[dict[str, Any]]) -> None:
    from aiservice.pipelines.errors import record_run_errors

    record_run_errors("trace-x", "optimize", [("candidate_dropped", "does not parse")])
    (logged,) = [entry for entry in log_lines if entry["message"] == "optimization_error"]
    assert {k: logged[k] for k in ("trace_id", "call_type", "kind", "detail")} == {
        "trace_id": "trace-x", "call_type": "optimize", "kind": "candidate_dropped", "detail": "does not parse",
    }  # fmt: skip
