"""Every function of template.yaml (each route's and each authorizer's) has a handler that imports from its CodeUri
with the common layer on sys.path, and a sample event in events/ that matches the template.

The template is read with devserver.template.Stack (the same model the local dev server runs on).
"""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

import pytest

from devserver.modules import handler_file, import_file
from devserver.template import FunctionSpec, Stack

from . import _sam
from .make_event import DEMO_AUTHORIZATION

STACK = Stack.load(_sam.TEMPLATE)
FUNCTION_IDS = sorted(STACK.functions)
METHOD_ARN = re.compile(
    r"^arn:aws:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/(?P<stage>[^/]+)/(?P<method>[A-Z]+)(?P<path>/.*)$"
)


def import_handler_module(spec: FunctionSpec, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the handler's module from the function's CodeUri as Lambda would: its folder and the layers'
    python roots on sys.path, the function's template environment set. Every function's module is called `app`,
    so each gets a unique module name."""
    path = handler_file(spec)
    assert path.is_file(), f"{spec.logical_id}: Handler {spec.handler} but {path} does not exist"
    for layer in reversed(spec.layer_paths):
        monkeypatch.syspath_prepend(str(layer))  # a layer's package folder, as its Makefile copies it to python/
    monkeypatch.syspath_prepend(str(spec.code_uri))
    for name, value in spec.environment.items():
        monkeypatch.setenv(name, value)
    module = import_file(f"bundle_handler_{spec.logical_id}", path)
    return module


def event_of(spec: FunctionSpec) -> dict[str, Any]:
    path = _sam.EVENTS / f"{spec.code_uri.name}.json"
    assert path.is_file(), f"{spec.logical_id}: no sample event {path.relative_to(_sam.ROOT)}"
    event = json.loads(path.read_text())
    assert isinstance(event, dict), path
    return event


# ---------------------------------------------------------------- template shape


def test_the_template_has_routes_and_an_authorizer() -> None:
    routes = STACK.routes()
    assert any(r.path == "/healthcheck" and r.method == "GET" for r in routes)
    assert STACK.authorizers
    assert {a.function_id for a in STACK.authorizers.values()} <= set(STACK.functions)


def test_only_the_healthcheck_is_unauthenticated() -> None:
    open_routes = [f"{r.method} {r.path}" for r in STACK.routes() if r.authorizer is None]
    assert open_routes == ["GET /healthcheck"]
    assert {r.authorizer for r in STACK.routes()} - {None} <= set(STACK.authorizers)


def test_routes_are_unique() -> None:
    routes = [(r.method, r.path) for r in STACK.routes()]
    assert len(routes) == len(set(routes))


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_function_dependencies_live_in_the_layer(function_id: str) -> None:
    """A requirements.txt in a function folder would make `sam build` pip-install for python3.12 and so need a
    local python3.12 (absent here); without one the folder is only copied. Dependencies belong in the layer."""
    assert not (STACK.functions[function_id].code_uri / "requirements.txt").exists()


# ---------------------------------------------------------------- handlers


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_handler_imports(function_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = STACK.functions[function_id]
    assert spec.layer_paths == [_sam.COMMON_LAYER.resolve()]
    module = import_handler_module(spec, monkeypatch)
    handler = getattr(module, spec.handler.rpartition(".")[2], None)
    assert callable(handler), f"{function_id}: {spec.handler} is not a callable in {module.__file__}"


# ---------------------------------------------------------------- sample events


@pytest.mark.parametrize("function_id", FUNCTION_IDS)
def test_sample_event_matches_the_template(function_id: str) -> None:
    spec = STACK.functions[function_id]
    event = event_of(spec)
    authorizers = [a for a in STACK.authorizers.values() if a.function_id == function_id]
    if spec.routes:
        # REST API Lambda-proxy event for one of the function's routes
        assert (event["httpMethod"], event["resource"]) in {(r.method, r.path) for r in spec.routes}
        assert event["path"] == event["resource"]  # no path parameters in this API
        context = event["requestContext"]
        assert (context["resourcePath"], context["httpMethod"]) == (event["resource"], event["httpMethod"])
        assert (context["stage"], context["path"]) == (STACK.stage_name, f"/{STACK.stage_name}{event['path']}")
        assert event["isBase64Encoded"] is False
        assert event["body"] is None or isinstance(event["body"], str)
        for key in ("headers", "multiValueHeaders", "queryStringParameters", "pathParameters", "stageVariables"):
            assert key in event
        route = next(r for r in spec.routes if (r.method, r.path) == (event["httpMethod"], event["resource"]))
        if route.authorizer:
            assert event["headers"].get("Authorization") == DEMO_AUTHORIZATION
    elif schedules := scheduled_inputs(function_id):
        # EventBridge Scheduler hands the function its Input, the context attributes filled in
        assert any(_same_keys(event, expected) for expected in schedules), (event, schedules)
    else:
        assert authorizers, f"{function_id} has neither a route, a schedule nor an authorizer"
        assert event["type"] == "REQUEST"
        arn = METHOD_ARN.match(event["methodArn"])
        assert arn, event["methodArn"]
        assert (arn["stage"], arn["method"], arn["path"]) == (STACK.stage_name, event["httpMethod"], event["resource"])
        assert event["requestContext"]["resourcePath"] == event["resource"]
        for key in ("path", "queryStringParameters", "pathParameters", "stageVariables", "requestContext"):
            assert key in event
        for authorizer in authorizers:  # the identity sources the authorizer is configured with are present
            assert set(authorizer.identity_headers) <= set(event["headers"])
        assert event["headers"]["Authorization"] == DEMO_AUTHORIZATION
        authorized = {(r.method, r.path) for r in STACK.routes() if r.authorizer in {a.name for a in authorizers}}
        if authorized:  # while the template has no /ai/ route yet, the sample targets POST /ai/optimize
            assert (event["httpMethod"], event["resource"]) in authorized


def scheduled_inputs(function_id: str) -> list[dict[str, Any]]:
    """The Input of each ScheduleV2 event of a function (the devserver's model reads only Api events)."""
    events = (_sam.load_template()["Resources"][function_id]["Properties"].get("Events") or {}).values()
    return [
        json.loads(e["Properties"]["Input"]) for e in events if e["Type"] == "ScheduleV2" and "Input" in e["Properties"]
    ]


def _same_keys(event: dict[str, Any], expected: dict[str, Any]) -> bool:
    """The sample has the Input's keys and its literal values (`<aws.scheduler.*>` placeholders take any value)."""
    return event.keys() == expected.keys() and all(
        (isinstance(value, str) and value.startswith("<aws.scheduler.")) or event[key] == value
        for key, value in expected.items()
    )


def test_no_sample_event_without_a_function() -> None:
    folders = {spec.code_uri.name for spec in STACK.functions.values()}
    assert sorted(p.stem for p in _sam.EVENTS.glob("*.json") if p.stem not in folders) == []
