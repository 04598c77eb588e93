"""Shared fixtures. AWS is moto on loopback with the tables built from template.yaml; nothing leaves the host."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Before anything reads them: never real credentials, never a real region's endpoint.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "aiservice-test",
        "POWERTOOLS_METRICS_NAMESPACE": "AiserviceTest",
    }
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def stack():
    from devserver.template import Stack

    return Stack.load(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def dynamodb(stack):
    """A moto DynamoDB server on 127.0.0.1 with the template's tables; AWS_ENDPOINT_URL_DYNAMODB points at it."""
    from devserver.dynamo import create_tables, dynamodb_client, start_moto_server

    server = start_moto_server("127.0.0.1", 0)
    create_tables(dynamodb_client(server.url), stack)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = server.url
    yield server.url
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    server.stop()


@pytest.fixture
def settings_env(monkeypatch, dynamodb):
    """Set service environment variables for one test; settings and the client are re-read."""
    from aiservice.config import get_settings
    from aiservice.store.dynamo import dynamodb_client

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()
        dynamodb_client.cache_clear()

    apply()
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    dynamodb_client.cache_clear()


@pytest.fixture
def log_lines() -> Iterator[list[dict]]:
    """The service's JSON log lines, formatted when emitted (the formatter adds the logger's state of that
    moment, e.g. the correlation id), as dicts."""
    import json
    import logging

    from aiservice.observability import logger

    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    capture = Capture()
    capture.setFormatter(logger.registered_formatter)
    service_logger = logging.getLogger(logger.name)  # the stdlib logger behind Powertools'
    service_logger.addHandler(capture)
    yield lines
    service_logger.removeHandler(capture)


@pytest.fixture
def user_id() -> str:
    """A fresh user per test, so tests sharing the session's tables never see each other's counters."""
    return f"user-{uuid.uuid4().hex[:12]}"


def load_function(stack, logical_id: str) -> ModuleType:
    """Import a function's handler module from its CodeUri under a unique name (every module is `app`)."""
    from devserver.modules import handler_file, import_file

    return import_file(f"function_{logical_id}", handler_file(stack.functions[logical_id]))
