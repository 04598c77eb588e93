"""POST /ai/log_features: stored on the trace's features item, code only outside privacy mode, idempotent,
never a model call, rate-limited at $0."""

from __future__ import annotations

from typing import Any

import pytest

from devserver.fakellm import FakeLLMServer
from tests.pipelines.harness import Api, sample


def features_body(trace_id: str) -> dict[str, Any]:
    return {**sample("10_ai_log_features")["request_body"], "trace_id": trace_id}


def test_the_sample_is_stored_once_however_often_it_is_sent(
    api: Api, key: str, user_id: str, llm: FakeLLMServer
) -> None:
    from aiservice.store.features import FeaturesStore

    trace_id = f"trace-{user_id}"
    first = api.call("LogFeaturesFunction", features_body(trace_id), key)
    stored = FeaturesStore().get(trace_id)
    second = api.call("LogFeaturesFunction", features_body(trace_id), key)
    assert (first.status, first.body, second.status, second.body) == (200, {}, 200, {})
    again = FeaturesStore().get(trace_id)
    assert stored is not None and again is not None
    assert {k: v for k, v in stored.items() if k not in ("features_logged_at", "expires_at")} == {
        k: v for k, v in again.items() if k not in ("features_logged_at", "expires_at")
    }
    assert stored["user_id"] == user_id and stored["original_runtime"] == 10937107
    assert "optimizations_post" in stored and "metadata" in stored
    assert llm.requests == []  # never a model call


def test_privacy_mode_keeps_the_code_out(api: Api, settings_env: Any, user_id: str) -> None:
    from aiservice.admin import create_key
    from aiservice.store.features import FeaturesStore
    from aiservice.store.keys import KeyStore

    private_key, _ = create_key(KeyStore(), user_id=user_id, org_id=None, plan="pro", privacy_mode=True, label=None)
    trace_id = f"trace-{user_id}"
    assert api.call("LogFeaturesFunction", features_body(trace_id), private_key).status == 200
    stored = FeaturesStore().get(trace_id)
    assert stored is not None
    assert "optimizations_post" not in stored and "optimized_line_profiler_results" not in stored
    assert stored["original_runtime"] == 10937107


def test_it_is_rate_limited_at_no_cost(api: Api, key: str, user_id: str, settings_env: Any) -> None:
    from datetime import UTC, datetime

    from aiservice.store.usage import UsageStore

    settings_env(RATE_LIMIT_MAX="2")
    replies = [api.call("LogFeaturesFunction", features_body(f"trace-{user_id}-{n}"), key) for n in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 429]
    assert replies[2].error
    spent = sum(row.get("cost_usd", 0) for row in UsageStore().daily_usage_of_user(user_id, datetime.now(UTC).date()))
    assert spent == 0


@pytest.mark.parametrize("body", [{}, {"trace_id": ""}, [], "not json"])
def test_bad_bodies_are_json_errors(api: Api, key: str, body: Any) -> None:
    reply = api.call("LogFeaturesFunction", body, key)
    assert reply.status in (400, 422) and reply.error
