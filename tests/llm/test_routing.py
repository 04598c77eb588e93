"""Routing profiles: the bundled table, a deployment's SSM override, per-org profiles and bring-your-own-key."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from aiservice.access import Principal
from aiservice.llm import routing
from aiservice.llm.models import get_model
from aiservice.llm.providers.factory import Credentials, clear_clients, provider_for
from aiservice.llm.providers.openai_chat import ChatCompletionsProvider
from aiservice.llm.routing import RoutingError, resolved_table, route_for


def principal(**overrides: Any) -> Principal:
    values: dict[str, Any] = dict(
        user_id="u",
        org_id="acme",
        plan="pro",
        privacy_mode=False,
        key_id="k",
        monthly_quota=None,
        user_allowance_usd=None,
        org_allowance_usd=None,
    )
    values.update(overrides)
    return Principal(**values)


@pytest.fixture
def aws(dynamodb, monkeypatch):
    """SSM and Secrets Manager from the same moto server as DynamoDB; Powertools' caches emptied."""
    from aws_lambda_powertools.utilities import parameters

    for service in ("SSM", "SECRETS_MANAGER"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", dynamodb)
    parameters.clear_caches()
    routing._validated.cache_clear()
    yield dynamodb
    parameters.clear_caches()
    routing._validated.cache_clear()


def test_every_bundled_route_resolves_to_known_models():
    rows = resolved_table()
    assert {row["profile"] for row in rows} >= {"default", "premium", "byok"}
    assert all(row["chain"] for row in rows)


def test_a_call_type_without_an_entry_takes_the_profiles_default(settings_env):
    optimize, other = route_for("optimize"), route_for("workflow_gen")
    assert (optimize.profile, optimize.model) == ("default", "claude-sonnet-4-5")
    assert optimize.options.max_tokens == 8192 and optimize.options.temperature is None  # diversity: prompts
    assert other.model == routing.profiles()["default"]["*"].model


def test_the_service_profile_comes_from_configuration_and_an_org_may_have_its_own(settings_env):
    settings_env(LLM_PROFILE="premium")
    assert route_for("optimize").model == "claude-opus-4-5"
    assert route_for("optimize", principal(llm_profile="byok")).model == "azure/gpt-5"
    with pytest.raises(RoutingError, match="no routing profile 'platinum'"):
        route_for("optimize", principal(llm_profile="platinum"))


def test_a_deployment_overrides_profiles_through_ssm(aws, settings_env):
    table = {"default": {"*": {"model": "azure/gpt-5-mini", "options": {"max_tokens": 1000}}}}
    boto3.client("ssm").put_parameter(Name="/aiservice/routing", Value=json.dumps(table), Type="String")
    settings_env(LLM_ROUTING_PARAMETER="/aiservice/routing")
    route = route_for("optimize")
    assert (route.model, route.fallbacks, route.options.max_tokens) == ("azure/gpt-5-mini", (), 1000)
    assert route_for("optimize", principal(llm_profile="premium")).model == "claude-opus-4-5"  # bundled, kept


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"broken": {"optimize": {"model": "azure/gpt-5"}}}, "no '\\*' entry"),
        ({"broken": {"*": {"model": "gpt-17"}}}, "gpt-17"),
        ({"broken": {"*": {"model": "azure/gpt-5", "options": {"max_tokenz": 5}}}}, "max_tokenz"),
        ({"broken": {"*": {"model": "azure/gpt-5", "extra": 1}}}, "extra"),
    ],
)
def test_a_wrong_table_is_refused_naming_the_problem(table, problem):
    with pytest.raises((RoutingError, LookupError), match=problem):
        routing._validated(json.dumps(table))


def test_bring_your_own_key_uses_the_orgs_endpoint_and_key(aws, settings_env):
    secret = {
        "provider": "azure",
        "endpoint": "https://acme.openai.azure.com",
        "api_key": "acme-key-123",
        "api_version": "2024-10-21",
    }
    arn = boto3.client("secretsmanager").create_secret(Name="acme/llm", SecretString=json.dumps(secret))["ARN"]
    route = route_for("optimize", principal(llm_profile="byok", byok_secret=arn))
    assert route.credentials == Credentials("azure", "https://acme.openai.azure.com", "acme-key-123", "2024-10-21")
    assert "acme-key-123" not in repr(route)
    settings_env(AZURE_OPENAI_ENDPOINT="https://service.openai.azure.com", AZURE_OPENAI_API_KEY="service-key")
    clear_clients()
    try:
        own = provider_for(get_model(route.model), route.credentials)
        service = provider_for(get_model(route.model))
        assert own is not service
        assert isinstance(own, ChatCompletionsProvider) and isinstance(service, ChatCompletionsProvider)
        assert str(own._client.base_url).startswith("https://acme.openai.azure.com")
        assert own._client.api_key == "acme-key-123" and service._client.api_key == "service-key"
    finally:
        clear_clients()


def test_a_malformed_byok_secret_is_a_clear_error_without_its_content(aws):
    boto3.client("secretsmanager").create_secret(Name="bad/llm", SecretString='{"api_key": "leaky-123"}')
    with pytest.raises(RoutingError, match="not the expected JSON") as error:
        route_for("optimize", principal(byok_secret="bad/llm"))
    assert "leaky-123" not in str(error.value)


def test_the_routing_cli_prints_the_resolved_table(capsys):
    assert routing.main(["--profile", "premium"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["chain"][0].startswith("claude-opus-4-5 (bedrock: global.anthropic.claude-opus-4-5")
