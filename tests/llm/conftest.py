"""Fixtures of the LLM tests."""

import pytest

from aiservice.llm import models


@pytest.fixture
def clean_registry(monkeypatch):
    """Each test starts from models.json alone and leaves nothing cached behind."""
    monkeypatch.delenv(models.EXTRA_MODELS_ENV, raising=False)
    monkeypatch.delenv(models.APPLICATION_PROFILES_ENV, raising=False)
    models.reset_registry()
    yield
    models.reset_registry()
