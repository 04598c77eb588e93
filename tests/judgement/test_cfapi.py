"""/cfapi/*: the samples a self-hosted CLI run sends (contract §6), through the real authorizer and handler."""

from __future__ import annotations

from typing import Any

import pytest

from aiservice.pipelines.cfapi import NOT_IMPLEMENTED
from tests.judgement.routes import call_route
from tests.pipelines.harness import Api, sample


def test_cli_get_user_names_the_keys_user(api: Api, key: str, user_id: str) -> None:
    recorded = sample("02_cfapi_cli_get_user")
    reply, _ = call_route(api, "CfapiFunction", "GET", recorded["endpoint"], key)
    assert reply.status == 200
    assert reply.body == {"userId": user_id, "min_version": "0.0.1"}


def test_github_app_is_not_installed_without_pr_creation(
    api: Api, key: str, settings_env: Any, log_lines: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PR_CREATION_ENABLED", raising=False)
    reply, text = call_route(api, "CfapiFunction", "GET", "/cfapi/is-github-app-installed", key,
                             query={"repo": "fakerepo", "owner": "fakeowner"})  # fmt: skip
    assert (reply.status, text) == (200, "false")
    (line,) = [line for line in log_lines if line["message"].startswith("is-github-app-installed")]
    assert "--no-pr" in line["reason"] and line["owner"] == "fakeowner"


def test_github_app_is_installed_where_pr_creation_is_configured(
    api: Api, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = sample("01_cfapi_is_github_app_installed")
    monkeypatch.setenv("PR_CREATION_ENABLED", "true")
    reply, text = call_route(api, "CfapiFunction", "GET", recorded["endpoint"], key,
                             query={"repo": "fakerepo", "owner": "fakeowner"})  # fmt: skip
    assert (reply.status, text) == (200, recorded["response_body"])  # exactly the text `true`


def test_mark_as_success_records_the_success_on_the_trace(api: Api, key: str, user_id: str) -> None:
    from aiservice.store.features import FeaturesStore

    recorded = sample("16_cfapi_mark_as_success")
    trace_id = f"trace-{user_id}"
    body = {**recorded["request_body"], "trace_id": trace_id}
    reply, _ = call_route(api, "CfapiFunction", "POST", recorded["endpoint"], key, body)
    assert (reply.status, reply.body) == (200, {})
    item = FeaturesStore().get(trace_id)
    assert item is not None
    assert item["optimization_found"] is True and item["user_id"] == user_id and item["succeeded_at"]


def test_mark_as_success_without_an_optimization_records_nothing(api: Api, key: str, user_id: str) -> None:
    from aiservice.store.features import FeaturesStore

    body = {"trace_id": f"trace-{user_id}", "is_optimization_found": False}
    reply, _ = call_route(api, "CfapiFunction", "POST", "/cfapi/mark-as-success", key, body)
    assert (reply.status, reply.body) == (200, {})
    assert FeaturesStore().get(f"trace-{user_id}") is None


def test_mark_as_success_without_a_trace_id_is_a_json_error(api: Api, key: str) -> None:
    reply, _ = call_route(api, "CfapiFunction", "POST", "/cfapi/mark-as-success", key, {"is_optimization_found": True})
    assert reply.status == 422 and "trace_id" in reply.error


@pytest.mark.parametrize("endpoint", NOT_IMPLEMENTED)
def test_pr_endpoints_answer_501_with_a_reason(api: Api, key: str, endpoint: str) -> None:
    body = sample("13_cfapi_create_pr")["request_body"] if endpoint == "create-pr" else {"owner": "o", "repo": "r"}
    reply, _ = call_route(api, "CfapiFunction", "POST", f"/cfapi/{endpoint}", key, body)
    assert reply.status == 501
    assert endpoint in reply.error and "--no-pr" in reply.error


def test_make_run_listens_for_cfapi_on_the_clients_fixed_port() -> None:
    from devserver.cli import _parser

    assert _parser().parse_args(["run"]).cfapi_port == 3001  # http://localhost:3001 with CODEFLASH_CFAPI_SERVER=local
    assert _parser().parse_args(["run", "--cfapi-port", "-1"]).cfapi_port == -1
