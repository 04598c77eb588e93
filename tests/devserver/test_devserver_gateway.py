"""The API Gateway emulator end to end: real HTTP to a running emulator of the fixture template."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from devserver.gateway import MAX_BODY_BYTES
from devserver.template import LOCAL_ACCOUNT_ID, Stack
from tests.devserver.devserver_harness import FIXTURE_TEMPLATE, REPO_ROOT, Client, running_emulator

GOOD = {"Authorization": "Bearer cf-good-1"}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """One emulator of the fixture template for the module: workers stay warm between tests, as they would."""
    with running_emulator(Stack.load(FIXTURE_TEMPLATE)) as emulator_client:
        yield emulator_client


def _echoed(reply) -> dict:
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def test_real_template_healthcheck_and_unknown_route():
    with running_emulator(Stack.load(REPO_ROOT / "template.yaml")) as real:
        health = real.request("GET", "/healthcheck")
        assert health.status == 200
        assert health.json()["status"] == "ok"
        assert health.headers["content-type"] == "application/json"
        missing = real.request("POST", "/ai/nothing-here", body="{}")
        assert missing.status == 404
        assert missing.json() == {"error": "no route for POST /ai/nothing-here"}


def test_proxy_event_has_the_api_gateway_shape(client):
    reply = client.request("GET", "/items/abc%20d?x=1&x=2&y=", headers={"X-Multi": "a", "User-Agent": "tests"})
    echoed = _echoed(reply)
    event = echoed["event"]
    assert reply.headers["x-echo"] == "1"
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/abc%20d"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "abc d"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["headers"]["X-Multi"] == "a"
    assert event["multiValueHeaders"]["X-Multi"] == ["a"]
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["stage"] == "test"
    assert context["path"] == "/test/items/abc%20d"
    assert context["resourcePath"] == "/items/{id}"
    assert context["httpMethod"] == "GET"
    assert context["accountId"] == LOCAL_ACCOUNT_ID
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tests"
    assert context["requestId"] == reply.headers["x-amzn-requestid"]
    assert isinstance(context["requestTimeEpoch"], int)
    assert "authorizer" not in context


def test_worker_runs_with_the_function_environment_and_context(client):
    echoed = _echoed(client.request("GET", "/public"))
    assert echoed["environment"] == {
        "GREETING": "hello from aiservice-local in us-east-1",
        "ITEMS_TABLE": "ItemsTable",
        "ITEMS_TABLE_ARN": f"arn:aws:dynamodb:us-east-1:{LOCAL_ACCOUNT_ID}:table/ItemsTable",
        "FLAVOUR": "mild",
        "ONLY_ECHO": "yes",
        "AWS_LAMBDA_FUNCTION_NAME": "EchoFunction",
        "AWS_REGION": "us-east-1",
    }
    assert echoed["context"]["function_name"] == "EchoFunction"
    assert echoed["context"]["memory_limit_in_mb"] == 256
    assert 0 < echoed["context"]["remaining_ms"] <= 5000
    assert echoed["context"]["cwd"].endswith("fixtures/functions/echo")


def test_greedy_path_and_any_method(client):
    event = _echoed(client.request("DELETE", "/files/a/b/c.txt"))["event"]
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["resource"] == "/files/{proxy+}"


def test_text_body_is_passed_as_is_and_binary_as_base64(client):
    text = _echoed(client.request("POST", "/files/x", body='{"a": "é"}'.encode()))["event"]
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": "é"}', False)
    binary = _echoed(client.request("POST", "/files/x", body=b"\xff\x00\xfe"))["event"]
    assert (binary["body"], binary["isBase64Encoded"]) == ("/wD+", True)


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/nowhere", 404, "no route for GET /nowhere"),
        ("GET", "/public/", 404, "no route for GET /public/"),  # no trailing-slash redirects
        ("POST", "/public", 405, "method POST not allowed on /public; allowed: GET"),
    ],
)
def test_unknown_routes_get_json_errors(client, method, path, status, error):
    reply = client.request(method, path, body="{}")
    assert (reply.status, reply.json()) == (status, {"error": error})
    assert reply.headers["content-type"] == "application/json"


def test_oversized_body_is_refused_like_api_gateway(client):
    reply = client.request("POST", "/files/big", body=b"x" * (MAX_BODY_BYTES + 1))
    assert (reply.status, reply.json()) == (413, {"error": f"request body larger than {MAX_BODY_BYTES} bytes"})
    assert client.request("GET", "/public").status == 200


# ----------------------------------------------------------------------------------------------- authorizer


def test_missing_authorization_is_401_without_calling_the_authorizer(client):
    reply = client.request("POST", "/private", body="{}")
    assert (reply.status, reply.json()) == (401, {"error": "bad key"})


def test_authorizer_unauthorized_is_401(client):
    reply = client.request("POST", "/private", body="{}", headers={"Authorization": "Bearer cf-unknown"})
    assert (reply.status, reply.json()) == (401, {"error": "bad key"})


def test_authorizer_deny_is_403_with_its_context_in_the_body(client):
    reply = client.request("POST", "/private", body="{}", headers={"Authorization": "Bearer cf-revoked-1"})
    assert (reply.status, reply.json()) == (403, {"error": "API key revoked"})


def test_allowed_request_carries_principal_and_context_as_strings(client):
    event = _echoed(client.request("POST", "/private", body='{"q": 1}', headers=GOOD))["event"]
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-1"
    assert (authorizer["plan"], authorizer["quota"], authorizer["beta"]) == ("pro", "100", "true")
    assert event["body"] == '{"q": 1}'


def test_authorizer_answer_is_cached_per_authorization_header(client):
    first = _echoed(client.request("POST", "/private", body="{}", headers={"Authorization": "Bearer cf-good-c"}))
    again = _echoed(client.request("POST", "/private", body="{}", headers={"Authorization": "Bearer cf-good-c"}))
    other = _echoed(client.request("POST", "/private", body="{}", headers={"Authorization": "Bearer cf-good-d"}))
    calls = [reply["event"]["requestContext"]["authorizer"]["calls"] for reply in (first, again, other)]
    assert calls[0] == calls[1] != calls[2]  # the second request was answered from the cache


def test_cached_policy_is_checked_against_each_route():
    """An Allow for one methodArn, cached, does not open other routes (API Gateway's cache pitfall)."""
    stack = Stack.load(FIXTURE_TEMPLATE)
    narrow = {"Authorization": "Bearer cf-narrow"}
    with running_emulator(stack) as emulator:
        assert emulator.request("POST", "/private", body="{}", headers=narrow).status == 200
        assert emulator.request("POST", "/private?page=2", body="{}", headers=narrow).status == 200
        assert emulator.request("GET", "/private/1", headers=narrow).status == 403


# ----------------------------------------------------------------------------------------------- failures


@pytest.mark.parametrize("path", ["/raise", "/not-a-dict", "/crash"])
def test_failing_handler_is_502_and_the_next_request_works(client, path):
    reply = client.request("GET", path)
    assert (reply.status, reply.json()) == (502, {"error": "Internal server error"})
    assert client.request("GET", "/ok").status == 200


def test_integration_timeout_is_504_and_the_next_request_works(client):
    reply = client.request("GET", "/sleep")
    assert (reply.status, reply.json()) == (504, {"error": "endpoint request timed out"})
    assert client.request("GET", "/ok").status == 200


def test_function_timeout_before_the_integration_timeout_is_502(client):
    reply = client.request("GET", "/lambda-timeout")
    assert (reply.status, reply.json()) == (502, {"error": "Internal server error"})


def test_parallel_requests_run_concurrently(client, tmp_path):
    """Three handlers that each wait for the other two: they only all finish if they run at the same time."""
    replies = []
    threads = [
        threading.Thread(target=lambda: replies.append(client.request("GET", f"/rendezvous?dir={tmp_path}&n=3")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [json.loads(reply.body) for reply in replies] == [{"met": True}] * 3


def test_keep_alive_connection_serves_several_requests(client):
    import http.client

    connection = http.client.HTTPConnection(client.host, client.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/public")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()


def test_chunked_request_body_is_read(client):
    import http.client

    connection = http.client.HTTPConnection(client.host, client.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/files/chunked",
            body=iter([b'{"a": ', b"1}"]),
            encode_chunked=True,
            headers={"Transfer-Encoding": "chunked"},
        )
        response = connection.getresponse()
        assert json.loads(response.read())["event"]["body"] == '{"a": 1}'
    finally:
        connection.close()


def test_broken_framing_is_a_400_json_error(client):
    import socket

    with socket.create_connection((client.host, client.port), timeout=10) as raw:
        raw.sendall(b"POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        head, _, body = raw.makefile("rb").read().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body) == {"error": "malformed Content-Length"}
