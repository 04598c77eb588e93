"""openapi.json: generated from the handlers' pydantic models, checked in, and served by `make run` (the spec at
/openapi.json, Swagger UI at /docs with no asset from outside the host)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devserver.openapi import SPEC_FILE, LocalDocs, build_spec, render


@pytest.fixture(scope="module")
def generated(stack: Any) -> dict[str, Any]:
    return build_spec(stack)


def test_the_checked_in_spec_is_what_the_code_describes(generated: dict[str, Any]) -> None:
    assert json.loads(SPEC_FILE.read_text()) == generated, (
        "openapi.json is out of date: regenerate it with `python -m devserver.openapi`"
    )
    assert SPEC_FILE.read_text() == render(generated)


def test_every_route_of_the_template_is_described(stack: Any, generated: dict[str, Any]) -> None:
    described = {(method.upper(), path) for path, item in generated["paths"].items() for method in item}
    assert described == {(route.method, route.path) for route in stack.routes()}


def test_bodies_come_from_the_handlers_models(generated: dict[str, Any]) -> None:
    paths = generated["paths"]
    rank = paths["/ai/rank"]["post"]
    assert rank["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RankRequest"}
    assert rank["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RankResponse"
    }
    review = generated["components"]["schemas"]["ReviewResponse"]["properties"]["review"]
    assert set(review["enum"]) == {"high", "medium", "low", ""}
    for item in paths.values():
        for operation in item.values():
            if operation.get("security") == []:
                continue  # the healthcheck
            assert operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
            assert operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert paths["/healthcheck"]["get"]["security"] == []
    assert "HTTPValidationError" not in generated["components"]["schemas"]


def test_make_run_serves_the_spec_and_an_offline_swagger_ui(stack: Any, generated: dict[str, Any]) -> None:
    docs = LocalDocs(stack)
    spec = docs.answer("GET", "/openapi.json")
    assert spec is not None and spec.status == 200 and json.loads(spec.body) == generated
    page = docs.answer("GET", "/docs")
    assert page is not None and page.status == 200
    html = page.body.decode()
    assert "/openapi.json" in html and "http://" not in html and "https://" not in html  # nothing from a CDN
    for asset in ("/docs/swagger-ui-bundle.min.js", "/docs/swagger-ui.min.css"):
        assert asset in html
        served = docs.answer("GET", asset)
        assert served is not None and served.status == 200 and len(served.body) > 10_000
    assert docs.answer("POST", "/openapi.json") is None and docs.answer("GET", "/ai/rank") is None
