"""`python -m devserver run|invoke`: `sam local start-api` and `sam local invoke` without Docker."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from devserver.console import log
from devserver.dynamo import create_tables, dynamodb_client, start_moto_server, use_local_credentials
from devserver.environ import overridden
from devserver.gateway import ApiGateway
from devserver.runtime import FunctionError, FunctionRuntime, InvocationTimeout
from devserver.seed import seed_demo_key
from devserver.server import serve
from devserver.template import Stack, TemplateError, local_region

DEFAULT_PORT = 8000  # the codeflash client's fixed local address: http://localhost:8000


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    llm_mode = args.llm or default_llm_mode()  # decided before the local credentials below are set
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = local_region()
    use_local_credentials()
    try:
        stack = Stack.load(args.template, _overrides(args.parameter_overrides))
    except (OSError, TemplateError) as error:
        log(f"cannot load {args.template}: {error}")
        return 2
    if args.command == "run":
        return run(stack, args.port, llm_mode)
    return invoke(stack, args.function, args.event_file, llm_mode)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devserver", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve the API on http://localhost:PORT")
    run_parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    invoke_parser = commands.add_parser("invoke", help="run one function once with an event; print its result")
    invoke_parser.add_argument("function", help="the function's logical id, e.g. HealthcheckFunction")
    invoke_parser.add_argument("event_file", help="JSON event file; - reads stdin")
    for command in (run_parser, invoke_parser):
        command.add_argument("--template", default="template.yaml")
        command.add_argument("--llm", choices=("demo", "real"),
                             help="LLM providers: the offline demo model or the configured ones "
                                  "(default: real when AZURE_OPENAI_ENDPOINT, BEDROCK_BASE_URL or AWS credentials "
                                  "are set, else demo)")
        command.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE",
                             help="template parameters, e.g. AuthorizerCacheTtlSeconds=0")
    return parser


def _overrides(pairs: list[str]) -> dict[str, str]:
    invalid = [pair for pair in pairs if "=" not in pair]
    if invalid:
        raise SystemExit(f"--parameter-overrides takes KEY=VALUE pairs, not {invalid}")
    return dict(pair.split("=", 1) for pair in pairs)


@contextmanager
def local_dynamodb(stack: Stack) -> Iterator[str | None]:
    """The DynamoDB endpoint functions use, holding the template's tables; yields the demo API key.

    AWS_ENDPOINT_URL_DYNAMODB if set (e.g. DynamoDB Local), else an in-memory moto server for this run.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    private_store = not endpoint
    with ExitStack() as cleanup:
        if private_store:
            moto = start_moto_server("127.0.0.1", 0)
            cleanup.callback(moto.stop)
            endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = moto.url  # workers inherit it
            log(f"DynamoDB: in-memory moto at {endpoint} (data is lost on exit)")
        created = create_tables(dynamodb_client(endpoint), stack)
        log(f"DynamoDB tables at {endpoint}: {', '.join(stack.tables) or 'none'} (created: {len(created)})")
        try:
            demo_key = seed_demo_key(stack, endpoint, private_store)
        except (BotoCoreError, ClientError) as error:  # the API still serves; keys can be made with the admin CLI
            log(f"no demo API key: {error}")
            demo_key = None
        yield demo_key


@contextmanager
def local_llm(mode: str) -> Iterator[None]:
    """In demo mode, the offline demo model on loopback stands in for Bedrock and Azure OpenAI."""
    if mode != "demo":
        log("LLM providers: the real ones, as configured in the environment")
        yield
        return
    from devserver.fakellm.server import FakeLLMServer

    server = FakeLLMServer("127.0.0.1", 0)
    # Workers inherit these; no credentials are needed or sent anywhere but loopback.
    demo = overridden(BEDROCK_BASE_URL=server.url, AZURE_OPENAI_ENDPOINT=server.url, AZURE_OPENAI_API_KEY="local-demo")
    try:
        with demo:
            log(f"LLM providers: the offline demo model at {server.url} (--llm real for the configured providers)")
            yield
    finally:
        server.stop()


def default_llm_mode() -> str:
    """Real providers when the environment names any, else the offline demo model."""
    configured = ("AZURE_OPENAI_ENDPOINT", "BEDROCK_BASE_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID")
    return "real" if any(os.environ.get(name) for name in configured) else "demo"


def run(stack: Stack, port: int, llm_mode: str) -> int:
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    with ExitStack() as cleanup:  # unwinds in reverse: HTTP servers, workers, the LLM stand-in, DynamoDB
        demo_key = cleanup.enter_context(local_dynamodb(stack))
        cleanup.enter_context(local_llm(llm_mode))
        runtime = cleanup.enter_context(FunctionRuntime(stack.functions, stack.region))
        try:
            servers = serve(ApiGateway(stack, runtime), port)
        except OSError as error:
            log(f"cannot listen on port {port}: {error.strerror or error}")
            return 1
        cleanup.callback(servers.stop)
        _print_banner(stack, servers.urls, demo_key)
        while not stop.wait(timeout=1):
            pass
        log("stopping")
    return 0


def _print_banner(stack: Stack, urls: list[str], demo_key: str | None) -> None:
    lines = [f"devserver: stage {stack.stage_name} on {', '.join(urls)}"]
    for route in stack.routes():
        auth = route.authorizer or "no auth"
        lines.append(f"  {route.method:<6} {route.path:<32} {route.function_id} ({auth})")
    if demo_key:
        lines += [f"Demo API key: {demo_key}", f"  export CODEFLASH_API_KEY={demo_key} CODEFLASH_AIS_SERVER=local"]
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def invoke(stack: Stack, function_id: str, event_file: str, llm_mode: str) -> int:
    if function_id not in stack.functions:
        log(f"no function {function_id}; the template has: {', '.join(stack.functions)}")
        return 2
    event = json.load(sys.stdin) if event_file == "-" else json.loads(Path(event_file).read_text())
    spec = stack.functions[function_id]
    with local_dynamodb(stack), local_llm(llm_mode), \
            FunctionRuntime({function_id: spec}, stack.region, logs_to_stderr=True) as runtime:
        try:
            result = runtime.invoke(function_id, event)
        except FunctionError as error:
            print(json.dumps({"errorType": error.error_type, "errorMessage": error.error_message}))
            return 1
        except InvocationTimeout:
            print(json.dumps({"errorType": "Sandbox.Timedout",
                              "errorMessage": f"Task timed out after {spec.timeout_s} seconds"}))
            return 1
    print(json.dumps(result))
    return 0
