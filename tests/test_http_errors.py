"""Domain errors -> HTTP, the one mapping every handler shares."""

import json

import pytest

from aiservice.errors import (
    AllowanceExhausted,
    InvalidRequest,
    NotSupported,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
)
from aiservice.http import service_error_response
from aiservice.llm.errors import InvalidLLMRequest, LLMCallFailed
from aiservice.llm.models import ContextLengthError
from aiservice.llm.runtime import DeadlineExceeded


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (InvalidRequest("source_code has no python block"), 400, None),
        (Unauthenticated("request was not authenticated"), 401, None),
        (AllowanceExhausted("the user monthly spend allowance ($5) ..."), 402, None),
        (RateLimited("rate limit of 40 requests per 60 s reached", retry_after_s=12), 429, "12"),
        (QuotaExceeded("monthly optimization quota of 100 reached", retry_after_s=86_400), 429, "86400"),
        (NotSupported("language 'java' is not supported yet"), 422, None),
        (ContextLengthError("input of 300000 tokens + 8192 output is over the 200000-token window"), 413, None),
        (InvalidLLMRequest("Claude on Bedrock takes images as data: URLs"), 422, None),
        (LLMCallFailed("every attempt failed (3): ...", attempts=()), 502, None),
        (DeadlineExceeded("cancelled at the deadline"), 504, None),
    ],
)
def test_each_domain_error_has_its_status_and_a_json_error_body(error, status, retry_after):
    response = service_error_response(error)
    assert response.status_code == status
    assert response.body is not None
    assert json.loads(response.body) == {"error": str(error)}
    assert (response.headers or {}).get("Retry-After") == retry_after
