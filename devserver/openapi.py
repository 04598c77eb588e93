"""The OpenAPI spec of every endpoint, generated from the handlers' pydantic models, and its local pages.

Each function's handler module builds a Powertools resolver with validation; the resolver describes its routes
(request bodies and query parameters from the handler's signature, responses from its return type). This
module merges those descriptions over the template's routes, describes what the resolvers cannot know (the
API key, the error body every non-2xx carries, the healthcheck, which is not a resolver), and checks that the
handlers and the template agree on the routes.

    python -m devserver.openapi            # rewrite openapi.json (checked in; a test fails when it drifts)
    python -m devserver.openapi --check    # exit 1 when openapi.json is not what the code describes

`make run` serves the spec at /openapi.json and Swagger UI at /docs, offline: the page loads Swagger UI from the
copy Powertools ships in its wheel (served under /docs/), never from a CDN.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from devserver.front import HttpResponse
from devserver.modules import handler_file, import_file
from devserver.template import Stack

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = ROOT / "openapi.json"
TITLE = "codeflash AI service"
VERSION = "0.1.0"
ERROR_REF = "#/components/schemas/ErrorBody"
# What the gateway and the handlers answer besides the routes' own responses, every one `{"error": "..."}`.
_AUTHENTICATED_ERRORS = {
    "400": "malformed request (not JSON, inconsistent fields)",
    "401": "missing, malformed or unknown API key",
    "403": "the key is revoked or not allowed",
    "413": "request body too large",
    "422": "a field is missing or invalid",
    "429": "rate limit or monthly quota reached (Retry-After)",
    "502": "the model providers failed, or nothing usable came back",
    "504": "the deadline passed",
}
_HEALTHCHECK = {
    "get": {
        "summary": "Liveness probe",
        "operationId": "healthcheck",
        "security": [],
        "responses": {
            "200": {
                "description": "the service is up",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "status": {"type": "string"}, "service": {"type": "string"}, "version": {"type": "string"},
                    "region": {"type": "string"}, "cold_start": {"type": "boolean"}, "uptime_s": {"type": "number"},
                }, "required": ["status"]}}},
            }
        },
    }
}  # fmt: skip


class SpecError(Exception):
    """The handlers and the template disagree, or two handlers describe one schema differently."""


def build_spec(stack: Stack) -> dict[str, Any]:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from aiservice.pipelines.schemas import ErrorBody

    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"ErrorBody": ErrorBody.model_json_schema()}
    for function_id in sorted(stack.functions):
        spec = stack.functions[function_id]
        if not spec.routes:
            continue
        module = import_file(f"openapi_{function_id}", handler_file(spec))
        app = getattr(module, "app", None)
        template_routes = {(route.method.lower(), route.path) for route in spec.routes}
        if not isinstance(app, APIGatewayRestResolver):
            if template_routes != {("get", "/healthcheck")}:
                raise SpecError(f"{function_id} has no Powertools resolver `app` to describe its routes")
            paths["/healthcheck"] = _HEALTHCHECK
            continue
        part = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
        described = {(method, path) for path, item in part.get("paths", {}).items() for method in item}
        if described != template_routes:
            raise SpecError(f"{function_id}: handler routes {sorted(described)} != template {sorted(template_routes)}")
        for path, item in part["paths"].items():
            for operation in item.values():
                operation["tags"] = [function_id.removesuffix("Function")]
                _describe_errors(operation)
            paths[path] = item
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if name in ("HTTPValidationError", "ValidationError"):
                continue  # the service answers validation errors with ErrorBody
            if name in schemas and schemas[name] != schema:
                raise SpecError(f"two handlers describe schema {name} differently")
            schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "The server side of the codeflash CLI: /ai/* and the /cfapi/* a self-hosted run calls.",
        },
        "servers": [{"url": "http://localhost:8000", "description": "make run"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "a codeflash API key: cf-..."}
            },
        },
        "security": [{"apiKey": []}],
    }


def _describe_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    error = {"application/json": {"schema": {"$ref": ERROR_REF}}}
    for status, description in _AUTHENTICATED_ERRORS.items():
        responses[status] = {"description": responses.get(status, {}).get("description", description)}
        responses[status]["content"] = error
        if status == "422":
            responses[status]["description"] = description
    responses["default"] = {"description": "any other error", "content": error}


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- served by `make run`

_SWAGGER_FILES = {"/docs/swagger-ui-bundle.min.js": "text/javascript", "/docs/swagger-ui.min.css": "text/css"}


class LocalDocs:
    """GET /openapi.json and /docs (Swagger UI) for the local gateway; the spec is built on first request."""

    def __init__(self, stack: Stack):
        self._stack = stack
        self._spec: str | None = None
        self._lock = threading.Lock()

    def answer(self, method: str, path: str) -> HttpResponse | None:
        if method not in ("GET", "HEAD") or path not in ("/openapi.json", "/docs", "/docs/", *_SWAGGER_FILES):
            return None
        if path == "/openapi.json":
            return _response(200, "application/json", self.spec().encode())
        if path in _SWAGGER_FILES:
            from aws_lambda_powertools.event_handler.openapi import swagger_ui

            asset = Path(swagger_ui.__file__).with_name(path.rsplit("/", 1)[1])
            return _response(200, _SWAGGER_FILES[path], asset.read_bytes())
        from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

        page = generate_swagger_html(
            "/openapi.json", "/docs/swagger-ui-bundle.min.js", "/docs/swagger-ui.min.css", "/docs/", None
        )
        return _response(200, "text/html; charset=utf-8", page.encode())

    def spec(self) -> str:
        with self._lock:
            if self._spec is None:
                self._spec = render(build_spec(self._stack))
            return self._spec


def _response(status: int, content_type: str, body: bytes) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))], body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when openapi.json differs from the code")
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    args = parser.parse_args(argv)
    text = render(build_spec(Stack.load(Path(args.template))))
    if args.check:
        if not SPEC_FILE.is_file() or SPEC_FILE.read_text() != text:
            print(f"{SPEC_FILE.name} is out of date: run python -m devserver.openapi", file=sys.stderr)
            return 1
        return 0
    SPEC_FILE.write_text(text)
    print(f"wrote {SPEC_FILE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
