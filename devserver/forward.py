"""`aiservice-forward`: the codeflash CLI's local addresses in front of a deployed stack.

The CLI knows only http://localhost:8000 (AI service) and http://localhost:3001 (cfapi) for local use. This
listens on both (127.0.0.1 and ::1, through the same HTTP front as `make run`) and forwards /ai/*, /healthcheck
and /cfapi/* to the stage URL, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/v1:
- the Authorization header goes upstream untouched and is never logged (the access line has no headers);
- request bodies are streamed upstream; answers are read whole (a REST API never streams and caps them at
  10 MB), so that an upstream that breaks off mid-answer becomes a clean 502 instead of a truncated 200;
- upstream connections are kept alive in a pool (urllib3: it comes with botocore, and gives thread-safe pooling,
  dropped-connection checks and TLS verification for free; retries are off, since an /ai call costs money and
  must never be sent twice behind the CLI's back);
- the local errors are JSON {"error"}: 502 unreachable (naming the URL) or TLS failure, 504 no answer in time.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError, SSLError

from devserver.console import log
from devserver.front import Body, HttpResponse, Request, serve, stop_on_signals

DEFAULT_PORTS = {"ai": 8000, "cfapi": 3001}  # what the codeflash CLI calls with CODEFLASH_AIS_SERVER=local
DEFAULT_TIMEOUT_S = 300.0  # the codeflash CLI's read timeout
CONNECT_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit: the deployed API would refuse more anyway
MAX_ANSWER_BYTES = 10 * 1024 * 1024  # ... and its response limit
POOL_SIZE = 16  # kept-alive upstream connections; the CLI makes a few concurrent calls
FORWARDED = ("/ai/", "/cfapi/", "/healthcheck")
# Hop-by-hop headers (RFC 9110) belong to one connection, not to the request; Host names the local address.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
    "expect",
}
_NOT_RETURNED = _HOP_BY_HOP | {"content-length", "date"}  # the front frames the answer and dates it


def _json_error(status: int, message: str) -> HttpResponse:
    if status >= 500:
        log(message)
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps({"error": message}).encode())


class Forwarder:
    """The front's App: forwards to the stage URL through a pool of kept-alive connections."""

    max_body_bytes = MAX_BODY_BYTES

    def __init__(self, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(
                f"not a stage URL: {base_url!r} (expected https://<api>.execute-api.<region>.amazonaws.com/<stage>)"
            )
        self.base_url = parts.geturl()
        self.timeout_s = timeout_s
        self._base_path = parts.path
        self._pool = urllib3.connection_from_url(
            self.base_url,
            maxsize=POOL_SIZE,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, timeout_s), read=timeout_s),
        )

    def handle(self, request: Request) -> HttpResponse:
        if not any(request.path == prefix or request.path.startswith(prefix) for prefix in FORWARDED):
            return _json_error(404, f"{request.path} is not forwarded (only /ai/*, /healthcheck and /cfapi/*)")
        target = self._base_path + request.path + (f"?{request.query}" if request.query else "")
        headers = urllib3.HTTPHeaderDict()
        for name, value in request.headers:
            if name.lower() not in _HOP_BY_HOP:
                headers.add(name, value)
        if request.body.length:
            headers["Content-Length"] = str(request.body.length)  # a chunked upload goes on with its length
        body = request.body.chunks() if request.body.length else None
        url = self.base_url + request.path
        try:
            answer = self._pool.urlopen(
                request.method,
                target,
                body=body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
            )
            try:
                content = answer.read(MAX_ANSWER_BYTES + 1, decode_content=False)
                if len(content) > MAX_ANSWER_BYTES:
                    return _json_error(502, f"{url} answered with more than {MAX_ANSWER_BYTES} bytes")
                if answer.length_remaining:  # a sized read stops at EOF without complaint
                    return _json_error(502, f"{url} broke off its answer {answer.length_remaining} bytes short")
            finally:
                answer.release_conn()
        except SSLError as error:
            return _json_error(502, f"TLS failure talking to {self.base_url}: {error}")
        except ReadTimeoutError:
            return _json_error(504, f"{url} gave no answer within {self.timeout_s:g} s")
        except ConnectTimeoutError as error:  # NewConnectionError (refused, no such host) is one too
            return _json_error(502, f"cannot reach {self.base_url}: {error}")
        except (HTTPError, OSError) as error:  # ProtocolError: reset, or closed before the end of the answer
            return _json_error(502, f"{url} broke off its answer: {error}")
        if answer.status >= 400 and not _is_json_object(content):  # e.g. a load balancer's HTML page
            text = content[:200].decode(errors="replace")
            return _json_error(answer.status, f"{url} answered {answer.status}: {text}")
        returned = [(name, value) for name, value in answer.headers.items() if name.lower() not in _NOT_RETURNED]
        return HttpResponse(answer.status, returned, content)

    def refuse(self, kind: str, status: int, message: str) -> HttpResponse:
        return _json_error(status, message)


def _is_json_object(content: bytes) -> bool:
    try:
        return isinstance(json.loads(content), dict)
    except ValueError:
        return False


def stack_url(stack_name: str) -> str:
    """The `ApiUrl` output of a deployed stack (needs AWS credentials and region, as the AWS CLI finds them)."""
    import boto3  # only for --stack

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise ValueError(f"stack {stack_name} has no ApiUrl output (outputs: {', '.join(outputs) or 'none'})")
    return outputs["ApiUrl"]


def check_upstream(forwarder: Forwarder) -> str:
    """What GET /healthcheck upstream answers, in one line."""
    started = time.monotonic()
    probe = Request("GET", "/healthcheck", "", [("Accept", "application/json")], "127.0.0.1", Body(io.BytesIO(), 0))
    answer = forwarder.handle(probe)
    elapsed_ms = (time.monotonic() - started) * 1000
    verdict = "reached" if answer.status == 200 else "NOT healthy"
    text = answer.body[:200].decode(errors="replace")
    return f"{forwarder.base_url}/healthcheck {verdict}: {answer.status} {text} ({elapsed_ms:.0f} ms)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiservice-forward", description=__doc__.split("\n\n")[0])
    upstream = parser.add_mutually_exclusive_group(required=True)
    upstream.add_argument("--url", help="the stage URL, https://<api>.execute-api.<region>.amazonaws.com/<stage>")
    upstream.add_argument("--stack", help="a deployed stack's name: its ApiUrl output (needs AWS credentials)")
    parser.add_argument("--ai-port", type=int, default=DEFAULT_PORTS["ai"], help="default %(default)s; 0: any")
    parser.add_argument("--cfapi-port", type=int, default=DEFAULT_PORTS["cfapi"], help="default %(default)s; 0: any")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for the upstream's answer (default %(default)s, the CLI's own)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = stop_on_signals()
    try:
        forwarder = Forwarder(args.url or stack_url(args.stack), args.timeout)
    except Exception as error:  # noqa: BLE001 - a bad URL, a missing stack, no credentials: say so and stop
        log(f"no upstream: {error}")
        return 2
    log(f"upstream {check_upstream(forwarder)}")  # a warning, not a stop: the API may come up later
    with ExitStack() as cleanup:
        for name, port in (("ai", args.ai_port), ("cfapi", args.cfapi_port)):
            try:
                servers = serve(forwarder, port)
            except OSError as error:
                log(f"cannot listen on port {port}: {error.strerror or error}")
                return 1
            cleanup.callback(servers.stop)
            print(f"aiservice-forward: {name} on {', '.join(servers.urls)} -> {forwarder.base_url}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        while not stop.wait(timeout=1):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
