"""Which provider client serves a model, made once per execution environment and configuration.

Bedrock uses the function's IAM role (or the environment's AWS credentials). Azure's key comes from
AZURE_OPENAI_API_KEY or, in a deployment, the Secrets Manager secret named by AZURE_OPENAI_API_KEY_SECRET.
An OpenAI-compatible model names its base URL and the environment variable that holds its key. An org that
brings its own key (Credentials) gets clients of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from aiservice.config import get_settings
from aiservice.llm.errors import InvalidLLMRequest
from aiservice.llm.models import ModelSpec
from aiservice.llm.providers import Provider


@dataclass(frozen=True)
class Credentials:
    """An org's own OpenAI-family endpoint and key (bring your own key)."""

    provider: Literal["azure", "openai_compatible"]
    endpoint: str
    api_key: str
    api_version: str | None = None

    def __repr__(self) -> str:  # never the key
        return f"Credentials(provider={self.provider!r}, endpoint={self.endpoint!r})"


def provider_for(model: ModelSpec, credentials: Credentials | None = None) -> Provider:
    settings = get_settings()
    if credentials is not None and model.provider == credentials.provider:
        if credentials.provider == "azure":
            api_version = credentials.api_version or settings.openai_api_version
            return _azure(credentials.endpoint, credentials.api_key, api_version)
        return _compatible(credentials.endpoint, credentials.api_key)
    if model.provider == "bedrock":
        return _bedrock(settings.bedrock_region or settings.aws_region, settings.bedrock_base_url)
    if model.provider == "azure":
        if not settings.azure_openai_endpoint:
            raise InvalidLLMRequest(f"{model.id} needs AZURE_OPENAI_ENDPOINT")
        return _azure(settings.azure_openai_endpoint, _azure_key(), settings.openai_api_version)
    key = os.environ.get(model.api_key_env or "")
    if not model.base_url or not key:
        raise InvalidLLMRequest(f"{model.id} needs its base_url and a key in ${model.api_key_env}")
    return _compatible(model.base_url, key)


@lru_cache(maxsize=64)
def _bedrock(region: str, base_url: str | None) -> Provider:
    from aiservice.llm.providers.bedrock import BedrockProvider

    return BedrockProvider(region=region, base_url=base_url)


@lru_cache(maxsize=64)
def _azure(endpoint: str, api_key: str, api_version: str) -> Provider:
    from aiservice.llm.providers.openai_chat import azure_provider

    return azure_provider(endpoint, api_key, api_version)


@lru_cache(maxsize=64)
def _compatible(base_url: str, api_key: str) -> Provider:
    from aiservice.llm.providers.openai_chat import compatible_provider

    return compatible_provider(base_url, api_key)


def _azure_key() -> str:
    settings = get_settings()
    if settings.azure_openai_api_key:
        return settings.azure_openai_api_key
    if not settings.azure_openai_api_key_secret:
        raise InvalidLLMRequest("Azure OpenAI needs AZURE_OPENAI_API_KEY or AZURE_OPENAI_API_KEY_SECRET")
    return secret_string(settings.azure_openai_api_key_secret)


def secret_string(secret_id: str) -> str:
    """A Secrets Manager secret's value, cached by Powertools for five minutes."""
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_secret(secret_id, max_age=300)


def clear_clients() -> None:
    """Forget every client (tests that change the configuration)."""
    for make in (_bedrock, _azure, _compatible):
        make.cache_clear()
