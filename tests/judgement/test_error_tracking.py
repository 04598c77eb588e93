"""Optional error tracking: with SENTRY_DSN, an unhandled error reaches Sentry scrubbed (no request body, key
or code); without it, sentry_sdk is not even imported."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.judgement.local_stack import ROOT
from tests.pipelines.harness import Api, sample

# Built at run time, so that the test's own source (which Sentry sends as the frames' context) does not hold it.
MARKER = "-".join(["private", "code", "4e1f"])
SECRET_CODE = f"def handle():  # {MARKER}"


class Captured:
    def __init__(self) -> None:
        from sentry_sdk.transport import Transport

        events: list[dict[str, Any]] = []

        class Capture(Transport):
            def capture_envelope(self, envelope: Any) -> None:
                events.extend(item.payload.json for item in envelope.items if item.type == "event")

        self.events = events
        self.transport = Capture()


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    import sentry_sdk

    from aiservice import error_tracking

    monkeypatch.setenv("SENTRY_DSN", "https://public@127.0.0.1:9/1")  # never contacted: the transport captures
    captured = Captured()
    assert error_tracking.init(transport=captured.transport)
    yield captured
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # a disabled client
    monkeypatch.setattr(error_tracking, "_ENABLED", False)


def test_an_unhandled_error_is_reported_scrubbed(
    api: Api, key: str, sentry: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentry_sdk

    from aiservice.pipelines import judgement

    def broken(speedups: Any, diffs: Any) -> list[int]:
        code = SECRET_CODE  # a local variable holding the request's code
        raise RuntimeError(f"boom for {key}\n{code}")

    monkeypatch.setattr(judgement, "speed_order", broken)
    body = sample("09_ai_rank")["request_body"]
    body["diffs"][0] += SECRET_CODE
    reply = api.call("RankFunction", body, key)
    assert reply.status == 500 and reply.error
    sentry_sdk.flush()
    (event,) = sentry.events
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "boom for cf-[redacted]"
    sent = json.dumps(event)
    assert key not in sent
    assert MARKER not in sent  # the request's code: in the body, in the message, in a local variable
    assert "--- original" not in sent  # the request body's diffs
    assert "request" not in event and not event.get("breadcrumbs")
    assert all("vars" not in frame for frame in exception["stacktrace"]["frames"])


def test_pydantic_echoes_of_the_input_are_cut() -> None:
    from aiservice.error_tracking import scrub_message

    message = "1 validation error for X\nsource_code\n  Input should be a valid string [input_value='def f(): ...']"
    assert scrub_message(message) == "1 validation error for X"
    assert scrub_message("bad input_value={'source_code': 'x = 1'}") == "bad input_value=[redacted]"


def test_without_a_dsn_sentry_is_not_imported() -> None:
    script = """
import sys, json, os
os.environ.pop("SENTRY_DSN", None)
from devserver.modules import import_file
from pathlib import Path
module = import_file("rank_app", Path("functions/rank/app.py"))
from aiservice import error_tracking
assert error_tracking.init() is False
error_tracking.capture(RuntimeError("x"))
print(json.dumps("sentry_sdk" in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": f"{ROOT / 'layers/common'}:{ROOT}", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False
