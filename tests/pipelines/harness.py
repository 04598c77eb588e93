"""The deployed shape of an /ai/* call, in process: API Gateway's REQUEST authorizer event -> the real
AuthorizerFunction -> the REST proxy event (events/<function>.json) with requestContext.authorizer -> the
function's real handler. DynamoDB is the suite's moto server with the template's tables; the LLM providers are
the fake servers, speaking the real wire protocols to the real SDKs."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from devserver.fakellm import FakeLLMServer
from tests.conftest import ROOT, load_function

SAMPLES = ROOT / "tests/fixtures/reference/codeflash-samples"
AUTHORIZER_EVENT = json.loads((ROOT / "events/authorizer.json").read_text())


def sample(name: str) -> dict[str, Any]:
    """A recorded codeflash client call (tests/fixtures/reference/codeflash-samples/<name>.json), its trace id
    replaced by a fresh one: a trace belongs to the first user who uses it, and every test has its own user."""
    path = SAMPLES / f"{name}.json"
    assert path.is_file(), f"missing fixture {path}"
    recorded = json.loads(path.read_text())
    body = recorded.get("request_body")
    for item in body if isinstance(body, list) else [body]:
        if isinstance(item, dict) and "trace_id" in item:
            item["trace_id"] = str(uuid.uuid4())
    return recorded


def read_as_client(candidate: dict[str, Any], paths: set[str], language: str = "python") -> list[tuple[str, str]]:
    """What the client's parse_markdown_code keeps of a candidate ((path, code) pairs), asserting everything it
    would choke on: a missing key, a tag it does not accept (a crash), another file's path, a block that does not
    parse (it voids the candidate)."""
    from aiservice.code.languages import language_support
    from aiservice.code.markdown import MARKDOWN_BLOCK, language_of_tag

    assert isinstance(candidate["source_code"], str) and candidate["source_code"]
    assert isinstance(candidate["explanation"], str)
    uuid.UUID(candidate["optimization_id"])
    blocks = MARKDOWN_BLOCK.findall(candidate["source_code"])
    assert blocks, candidate["source_code"]
    kept = []
    for tag, path, code in blocks:
        assert language_of_tag(tag) == language, f"a tag the client does not accept here: {tag}"
        assert path.strip() in paths, f"{path} is not one of the request's files"
        language_support(language).validate(code, path.strip())
        kept.append((path.strip(), code))
    return kept


def lambda_context(remaining_ms: int = 29_000) -> SimpleNamespace:
    return SimpleNamespace(
        function_name="fn",
        memory_limit_in_mb=1024,
        aws_request_id="req-1",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        get_remaining_time_in_millis=lambda: remaining_ms,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # the parsed JSON body

    @property
    def error(self) -> str:
        assert isinstance(self.body, dict) and isinstance(self.body.get("error"), str), self.body
        return self.body["error"]


class Api:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.authorizer = load_function(stack, "AuthorizerFunction")
        self._handlers: dict[str, ModuleType] = {}

    def handler(self, function_id: str) -> ModuleType:
        if function_id not in self._handlers:
            self._handlers[function_id] = load_function(self.stack, function_id)
        return self._handlers[function_id]

    def call(self, function_id: str, body: Any, key: str, *, remaining_ms: int = 29_000) -> Reply:
        spec = self.stack.functions[function_id]
        event = json.loads((ROOT / "events" / f"{spec.code_uri.name}.json").read_text())
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        auth_event = copy.deepcopy(AUTHORIZER_EVENT)
        auth_event.update(headers=headers, multiValueHeaders={k: [v] for k, v in headers.items()})
        try:
            answer = self.authorizer.handler(auth_event, lambda_context())
        except Exception as refusal:  # API Gateway's 401
            assert str(refusal) == "Unauthorized"
            return Reply(401, {}, {"error": "unauthorized"})
        if answer["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            return Reply(403, {}, {"error": answer["context"]["error"]})
        event.update(
            headers=headers,
            multiValueHeaders={k: [v] for k, v in headers.items()},
            body=body if isinstance(body, str) else json.dumps(body),
        )
        event["requestContext"]["authorizer"] = {"principalId": answer["principalId"], **answer["context"]}
        response = self.handler(function_id).handler(event, lambda_context(remaining_ms))
        merged = dict(response.get("headers") or {})
        merged.update({name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()})
        return Reply(response["statusCode"], merged, json.loads(response["body"]))


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch, settings_env: Any) -> Iterator[FakeLLMServer]:
    """The fake providers, with every LLM setting pointed at them and retries quick."""
    from aiservice.llm.providers.factory import clear_clients

    server = FakeLLMServer()
    settings_env(
        BEDROCK_BASE_URL=server.url,
        AZURE_OPENAI_ENDPOINT=server.url,
        AZURE_OPENAI_API_KEY="test-azure-key",
        LLM_BACKOFF_BASE_S="0.01",
        LLM_BACKOFF_CAP_S="0.05",
    )
    clear_clients()
    yield server
    server.stop()
    clear_clients()


@pytest.fixture(scope="session")
def api(stack: Any) -> Api:
    return Api(stack)


@pytest.fixture
def key(settings_env: Any, user_id: str) -> str:
    """A fresh pro user's API key (each test its own user, so counters never mix)."""
    from aiservice.admin import create_key
    from aiservice.store.keys import KeyStore

    plaintext, _ = create_key(
        KeyStore(), user_id=user_id, org_id=f"org-{user_id}", plan="pro", privacy_mode=False, label=None
    )
    return plaintext
