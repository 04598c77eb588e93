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
    if credentials is not None and model.provider == credentials.provider:
        return _client(credentials.provider, credentials.endpoint, credentials.api_key, credentials.api_version)
    if model.provider == "bedrock":
        settings = get_settings()
        return _client("bedrock", settings.bedrock_base_url, None, settings.bedrock_region or settings.aws_region)
    if model.provider == "azure":
        settings = get_settings()
        if not settings.azure_openai_endpoint:
            raise InvalidLLMRequest(f"{model.id} needs AZURE_OPENAI_ENDPOINT")
        return _client("azure", settings.azure_openai_endpoint, _azure_key(), settings.openai_api_version)
    key = os.environ.get(model.api_key_env or "")
    if not model.base_url or not key:
        raise InvalidLLMRequest(f"{model.id} needs its base_url and a key in ${model.api_key_env}")
    return _client("openai_compatible", model.base_url, key, None)


@lru_cache(maxsize=64)
def _client(kind: str, endpoint: str | None, api_key: str | None, version_or_region: str | None) -> Provider:
    if kind == "bedrock":
        from aiservice.llm.providers.bedrock import BedrockProvider

        return BedrockProvider(region=version_or_region, base_url=endpoint)
    from aiservice.llm.providers.openai_chat import azure_provider, compatible_provider

    if kind == "azure":
        return azure_provider(endpoint, api_key, version_or_region or get_settings().openai_api_version)
    return compatible_provider(endpoint, api_key)


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
    _client.cache_clear()
