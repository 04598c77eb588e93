"""aiservice-forward in front of the local stack served under its stage path, as a deployed API would be; then in
front of an upstream that misbehaves on purpose."""

from __future__ import annotations

import http.client
import json
import queue
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devserver.forward import Forwarder, stack_url
from devserver.front import serve
from devserver.template import Stack
from tests.devserver.devserver_harness import FIXTURE_TEMPLATE, REPO_ROOT, Client, running_emulator

SECRET_KEY = "cf-good-forwarded-7d1f0c2b"  # the fixture authorizer allows cf-good*; it must never be logged
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


@pytest.fixture(scope="module")
def forwarder(tmp_path_factory) -> Iterator[tuple[Client, Client, Path]]:
    """(client of the ai port, client of the cfapi port, the forwarder's log) with a subprocess forwarder."""
    with running_emulator(Stack.load(FIXTURE_TEMPLATE), stage_in_path=True) as upstream:
        log_path = tmp_path_factory.mktemp("forward") / "forward.log"
        url = f"http://127.0.0.1:{upstream.port}/test"
        command = [sys.executable, "-m", "devserver.forward", "--url", url, "--ai-port", "0", "--cfapi-port", "0"]
        with log_path.open("w") as log:  # stdout and stderr: all the forwarder says
            process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while (
                len(
                    ports := dict(
                        re.findall(r"aiservice-forward: (\w+) on http://127\.0\.0\.1:(\d+)", log_path.read_text())
                    )
                )
                < 2
            ):
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
            yield Client("127.0.0.1", int(ports["ai"])), Client("127.0.0.1", int(ports["cfapi"])), log_path
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def test_healthcheck_reaches_the_stage_and_the_startup_check_said_so(forwarder):
    ai, _, log_path = forwarder
    reply = ai.request("GET", "/healthcheck")
    assert reply.status == 200
    event = reply.json()["event"]
    assert (event["path"], event["requestContext"]["path"]) == ("/healthcheck", "/test/healthcheck")
    assert re.search(r"upstream http://127\.0\.0\.1:\d+/test/healthcheck reached: 200", log_path.read_text())


def test_an_authenticated_route_gets_the_header_untouched_and_the_body_as_sent(forwarder):
    ai, _, _ = forwarder
    body = json.dumps({"code": "x" * (1 << 20)})  # streamed upstream
    reply = ai.request("POST", "/ai/optimize?x=1", body=body, headers={**AUTH, "Content-Type": "application/json"})
    assert reply.status == 200
    assert reply.headers["x-echo"] == "1"  # the upstream's headers come back
    event = reply.json()["event"]
    assert event["headers"]["Authorization"] == f"Bearer {SECRET_KEY}"
    assert event["requestContext"]["authorizer"]["principalId"] == "user-1"
    assert event["body"] == body
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["headers"]["Host"] == f"127.0.0.1:{event['headers']['Host'].split(':')[1]}"  # the upstream's


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cf-unknown"}])
def test_a_refusal_upstream_passes_through_as_it_is(forwarder, headers):
    ai, _, _ = forwarder
    reply = ai.request("POST", "/ai/optimize", body="{}", headers=headers)
    assert (reply.status, reply.json()) == (401, {"error": "bad key"})
    assert "x-amzn-requestid" in reply.headers


def test_cfapi_port_forwards_cfapi_and_nothing_else_is_forwarded(forwarder):
    _, cfapi, _ = forwarder
    assert cfapi.request("GET", "/cfapi/cli-version?v=2").json()["event"]["path"] == "/cfapi/cli-version"
    refused = cfapi.request("GET", "/public")
    assert (refused.status, refused.json()) == (
        404,
        {"error": "/public is not forwarded (only /ai/*, /healthcheck and /cfapi/*)"},
    )


def test_keep_alive_and_connection_close_from_the_client(forwarder):
    ai, _, _ = forwarder
    connection = http.client.HTTPConnection(ai.host, ai.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("POST", "/ai/x", body=b"{}", headers=AUTH)
            response = connection.getresponse()
            assert response.status == 200 and response.getheader("Connection") is None
            response.read()
        connection.request("GET", "/healthcheck", headers={"Connection": "close"})
        response = connection.getresponse()
        assert (response.status, response.getheader("Connection")) == (200, "close")
        response.read()
        assert response.isclosed()
    finally:
        connection.close()


def test_a_chunked_upload_goes_upstream_with_its_length(forwarder):
    ai, _, _ = forwarder
    connection = http.client.HTTPConnection(ai.host, ai.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/ai/x",
            body=iter([b'{"a": ', b"1}"]),
            encode_chunked=True,
            headers={**AUTH, "Transfer-Encoding": "chunked"},
        )
        event = json.loads(connection.getresponse().read())["event"]
        assert (event["body"], event["headers"]["Content-Length"]) == ('{"a": 1}', "8")
    finally:
        connection.close()


def test_zz_the_forwarder_log_names_requests_but_never_the_key(forwarder):
    """Runs last in the module (name order is file order here): the log holds every request above."""
    ai, _, log_path = forwarder
    ai.request("POST", "/ai/optimize", body="{}", headers=AUTH)
    time.sleep(0.2)
    text = log_path.read_text()
    assert "POST /ai/optimize 200" in text
    assert SECRET_KEY not in text
    assert "Authorization" not in text and "Bearer" not in text


# ----------------------------------------------------------------------------------------------- faults


class _Scripted(socketserver.ThreadingTCPServer):
    """An upstream that answers each request as the next behaviour in its script says, then closes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0):
        self.script: queue.Queue[str] = queue.Queue()
        super().__init__(("127.0.0.1", port), _ScriptedHandler)


class _ScriptedHandler(socketserver.StreamRequestHandler):
    server: _Scripted

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline()
            if not line:
                return
            head += line
        length = re.search(rb"(?i)content-length: (\d+)", head)
        self.rfile.read(int(length.group(1)) if length else 0)
        behaviour = self.server.script.get_nowait()
        if behaviour == "slow":
            time.sleep(1.5)
        elif behaviour == "close-mid-body":
            self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a')
        elif behaviour == "503-json":
            self._answer(503, b'{"error": "upstream busy"}', b"application/json")
        elif behaviour == "502-html":
            self._answer(502, b"<html>Bad Gateway</html>", b"text/html")
        else:
            self._answer(200, b'{"status": "ok"}', b"application/json")

    def _answer(self, status: int, body: bytes, content_type: bytes) -> None:
        self.wfile.write(
            b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, content_type, len(body), body)
        )


@pytest.fixture
def scripted() -> Iterator[_Scripted]:
    server = _Scripted()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _through(forwarder: Forwarder) -> Iterator[Client]:
    servers = serve(forwarder, 0, hosts=("127.0.0.1",))
    try:
        yield Client("127.0.0.1", servers.port)
    finally:
        servers.stop()


@pytest.mark.parametrize(
    ("behaviour", "status", "error"),
    [
        ("slow", 504, r"^http://127\.0\.0\.1:\d+/v1/ai/x gave no answer within 0\.5 s$"),
        ("close-mid-body", 502, r"^http://127\.0\.0\.1:\d+/v1/ai/x broke off its answer"),
        ("503-json", 503, r"^upstream busy$"),  # the upstream's own JSON error, as it is
        ("502-html", 502, r"^http://127\.0\.0\.1:\d+/v1/ai/x answered 502: <html>Bad Gateway</html>$"),
    ],
)
def test_upstream_faults_are_json_errors_and_the_forwarder_serves_on(scripted, behaviour, status, error):
    scripted.script.put(behaviour)
    scripted.script.put("ok")
    forwarder = Forwarder(f"http://127.0.0.1:{scripted.server_address[1]}/v1", timeout_s=0.5)
    for client in _through(forwarder):
        reply = client.request("POST", "/ai/x", body="{}", headers=AUTH)
        assert reply.status == status
        assert reply.headers["content-type"] == "application/json"
        assert re.search(error, reply.json()["error"])
        assert client.request("POST", "/ai/x", body="{}").json() == {"status": "ok"}


def test_upstream_down_is_a_502_naming_it_and_the_forwarder_serves_once_it_is_up():
    with socket.socket() as probe:  # a port nobody listens on, until the upstream starts on it below
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for client in _through(Forwarder(f"http://127.0.0.1:{port}/v1")):
        reply = client.request("GET", "/healthcheck")
        assert reply.status == 502
        assert reply.json()["error"].startswith(f"cannot reach http://127.0.0.1:{port}/v1: ")
        upstream = _Scripted(port)
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
        try:
            upstream.script.put("ok")
            assert client.request("GET", "/healthcheck").json() == {"status": "ok"}
        finally:
            upstream.shutdown()
            upstream.server_close()


def test_a_tls_failure_says_tls():
    """An https URL whose server speaks plain HTTP (as a misconfigured proxy would): the handshake fails."""
    with socket.create_server(("127.0.0.1", 0)) as plain:

        def answer_in_plain_http() -> None:
            connection, _ = plain.accept()
            with connection:
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                connection.recv(1 << 16)

        threading.Thread(target=answer_in_plain_http, daemon=True).start()
        url = f"https://127.0.0.1:{plain.getsockname()[1]}/v1"
        for client in _through(Forwarder(url)):
            reply = client.request("GET", "/healthcheck")
    assert reply.status == 502
    assert reply.json()["error"].startswith(f"TLS failure talking to {url}: ")


@pytest.mark.parametrize("url", ["execute-api.example.com/v1", "ftp://x/v1", "https:///v1", "https://x/v1?a=1"])
def test_a_url_that_is_not_a_stage_url_is_refused(url):
    with pytest.raises(ValueError, match="not a stage URL"):
        Forwarder(url)


def test_stack_url_reads_the_api_url_output(monkeypatch):
    import boto3
    from botocore.stub import Stubber

    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stubber = Stubber(cloudformation)
    stack = {
        "StackName": "ais",
        "CreationTime": "2026-01-01T00:00:00Z",
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "ApiUrl", "OutputValue": "https://abc.execute-api.us-east-1.amazonaws.com/v1"}],
    }
    stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "ais"})
    monkeypatch.setattr(boto3, "client", lambda service: cloudformation)
    with stubber:
        assert stack_url("ais") == "https://abc.execute-api.us-east-1.amazonaws.com/v1"


def test_the_console_script_is_declared_and_its_package_installed():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["aiservice-forward"] == "devserver.forward:main"
    assert "devserver*" in project["tool"]["setuptools"]["packages"]["find"]["include"]
