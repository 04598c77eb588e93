"""`make run`'s offline demo model: the LLM client, configured only by what devserver sets, gets answers."""

import pytest

from aiservice.config import get_settings
from aiservice.llm.client import CallContext, call_llm
from aiservice.llm.providers.factory import clear_clients
from aiservice.llm.runtime import run
from devserver.cli import default_llm_mode, local_llm


@pytest.fixture
def demo(monkeypatch):
    for name in ("BEDROCK_BASE_URL", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with local_llm("demo"):
        get_settings.cache_clear()
        clear_clients()
        yield
    clear_clients()
    get_settings.cache_clear()


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "azure/gpt-5-mini"])
def test_the_demo_model_answers_for_every_provider(demo, model):
    result = run(call_llm([{"role": "user", "content": "hello"}], model=model, context=CallContext(call_type="demo")))
    assert result.content.startswith("offline demo model")
    assert result.cost.total_usd > 0


def test_demo_is_the_default_only_when_no_provider_is_configured(monkeypatch):
    for name in ("AZURE_OPENAI_ENDPOINT", "BEDROCK_BASE_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    assert default_llm_mode() == "demo"
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://acme.openai.azure.com")
    assert default_llm_mode() == "real"


def test_template_variables_left_empty_are_filled_from_the_local_environment():
    from devserver.runtime import template_environment

    template = {"AZURE_OPENAI_ENDPOINT": "", "LLM_PROFILE": "default", "LLM_ROUTING_PARAMETER": ""}
    local = {"AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9999", "LLM_PROFILE": "premium"}
    assert template_environment(template, local) == {
        "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9999",  # empty in the template: the local value
        "LLM_PROFILE": "default",  # set by the template: the template wins, as in a deployment
        "LLM_ROUTING_PARAMETER": "",
    }
