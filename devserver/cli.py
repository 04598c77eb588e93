"""`python -m devserver run|invoke`: `sam local start-api` and `sam local invoke` without Docker."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from devserver.console import log
from devserver.dynamo import create_tables, dynamodb_client, use_local_credentials
from devserver.environ import overridden
from devserver.front import stop_on_signals
from devserver.gateway import ApiGateway
from devserver.moto_process import moto_process
from devserver.runtime import DEFAULT_CONCURRENCY, Concurrency, FunctionError, FunctionRuntime, InvocationTimeout
from devserver.seed import seed_demo_key
from devserver.server import serve
from devserver.template import Stack, TemplateError, local_region

DEFAULT_PORT = 8000  # the codeflash client's fixed local address: http://localhost:8000
DEFAULT_CFAPI_PORT = 3001  # and its fixed cfapi address with CODEFLASH_CFAPI_SERVER=local: http://localhost:3001


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
        try:
            concurrency = Concurrency(args.concurrency, args.queue, args.queue_wait)
        except ValueError as error:
            log(str(error))
            return 2
        return run(stack, args.port, llm_mode, concurrency, args.stage_in_path, cfapi_port=args.cfapi_port)
    return invoke(stack, args.function, args.event_file, llm_mode)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devserver", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve the API on http://localhost:PORT")
    run_parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    defaults = DEFAULT_CONCURRENCY
    run_parser.add_argument(
        "--concurrency",
        type=int,
        default=_env("DEVSERVER_CONCURRENCY", int, defaults.limit),
        help="execution environments per function, like Lambda reserved concurrency "
        "(env DEVSERVER_CONCURRENCY, default %(default)s)",
    )
    run_parser.add_argument(
        "--queue",
        type=int,
        default=_env("DEVSERVER_QUEUE", int, defaults.queue),
        help="invocations per function that may wait for a busy one; more get a 429 "
        "(env DEVSERVER_QUEUE, default %(default)s)",
    )
    run_parser.add_argument(
        "--queue-wait",
        type=float,
        default=_env("DEVSERVER_QUEUE_WAIT_S", float, defaults.queue_wait_s),
        help="seconds an invocation may wait in that queue before its 429 "
        "(env DEVSERVER_QUEUE_WAIT_S, default %(default)s)",
    )
    run_parser.add_argument(
        "--stage-in-path", action="store_true", help="serve under /<stage>/ like the deployed execute-api URL"
    )
    run_parser.add_argument(
        "--cfapi-port",
        type=int,
        default=DEFAULT_CFAPI_PORT,
        help="a second listener of the same gateway, where the CLI sends /cfapi/* with "
        "CODEFLASH_CFAPI_SERVER=local (default %(default)s; -1: none; 0: a free port)",
    )
    invoke_parser = commands.add_parser("invoke", help="run one function once with an event; print its result")
    invoke_parser.add_argument("function", help="the function's logical id, e.g. HealthcheckFunction")
    invoke_parser.add_argument("event_file", help="JSON event file; - reads stdin")
    for command in (run_parser, invoke_parser):
        command.add_argument("--template", default="template.yaml")
        command.add_argument(
            "--llm",
            choices=("demo", "real"),
            help="LLM providers: the offline demo model or the configured ones "
            "(default: real when AZURE_OPENAI_ENDPOINT, BEDROCK_BASE_URL or AWS credentials "
            "are set, else demo)",
        )
        command.add_argument(
            "--parameter-overrides",
            nargs="*",
            default=[],
            metavar="KEY=VALUE",
            help="template parameters, e.g. AuthorizerCacheTtlSeconds=0",
        )
    return parser


def _env(name: str, kind: Callable[[str], int | float], default: int | float) -> int | float:
    value = os.environ.get(name)
    try:
        return kind(value) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a number") from None


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
        if not endpoint:
            endpoint = cleanup.enter_context(moto_process())
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint  # workers inherit it
            log(f"DynamoDB: in-memory moto at {endpoint}, in its own process (data is lost on exit)")
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
    from devserver.fakellm.script import demo_reply
    from devserver.fakellm.scripted import ScriptedModel
    from devserver.fakellm.server import FakeLLMServer

    # DEVSERVER_LLM_SCRIPT names a scripted model's folder (devserver.fakellm.scripted): canned replies chosen by
    # what each request asks, for demos and the real-CLI tests.
    script = os.environ.get("DEVSERVER_LLM_SCRIPT")
    server = FakeLLMServer("127.0.0.1", 0, default_reply=ScriptedModel(script) if script else demo_reply)
    if script:
        log(f"LLM: the scripted model in {script}")
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


def run(
    stack: Stack,
    port: int,
    llm_mode: str,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    stage_in_path: bool = False,
    *,
    cfapi_port: int = -1,
) -> int:
    stop = stop_on_signals()
    with ExitStack() as cleanup:  # unwinds in reverse: HTTP servers, workers, the LLM stand-in, DynamoDB
        demo_key = cleanup.enter_context(local_dynamodb(stack))
        cleanup.enter_context(local_llm(llm_mode))
        runtime = cleanup.enter_context(FunctionRuntime(stack.functions, stack.region, concurrency))
        gateway = ApiGateway(stack, runtime, stage_in_path)
        try:
            servers = serve(gateway, port)
        except OSError as error:
            log(f"cannot listen on port {port}: {error.strerror or error}")
            return 1
        cleanup.callback(servers.stop)
        urls = list(servers.urls)
        if cfapi_port >= 0 and cfapi_port != port:  # the same gateway (routes, authorizer cache, workers)
            try:
                cfapi_servers = serve(gateway, cfapi_port)
            except OSError as error:  # not fatal: the API, /cfapi/* included, still answers on the main port
                log(
                    f"cannot listen on the cfapi port {cfapi_port}: {error.strerror or error}; the CLI's "
                    "cfapi calls (CODEFLASH_CFAPI_SERVER=local) will not reach this server"
                )
            else:
                cleanup.callback(cfapi_servers.stop)
                urls += cfapi_servers.urls
        stage = f"/{stack.stage_name}" if stage_in_path else ""
        _print_banner(stack, [url + stage for url in urls], demo_key, concurrency)
        while not stop.wait(timeout=1):
            pass
        log("stopping")
    return 0


def _print_banner(stack: Stack, urls: list[str], demo_key: str | None, concurrency: Concurrency) -> None:
    lines = [
        f"devserver: stage {stack.stage_name} on {', '.join(urls)}",
        f"  per function: {concurrency.limit} concurrent, {concurrency.queue} queued for at most "
        f"{concurrency.queue_wait_s:g} s, then 429",
    ]
    for route in stack.routes():
        auth = route.authorizer or "no auth"
        lines.append(f"  {route.method:<6} {route.path:<32} {route.function_id} ({auth})")
    if demo_key:
        lines += [
            f"Demo API key: {demo_key}",
            f"  export CODEFLASH_API_KEY={demo_key} CODEFLASH_AIS_SERVER=local CODEFLASH_CFAPI_SERVER=local",
        ]
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def invoke(stack: Stack, function_id: str, event_file: str, llm_mode: str) -> int:
    if function_id not in stack.functions:
        log(f"no function {function_id}; the template has: {', '.join(stack.functions)}")
        return 2
    event = json.load(sys.stdin) if event_file == "-" else json.loads(Path(event_file).read_text())
    spec = stack.functions[function_id]
    with (
        local_dynamodb(stack),
        local_llm(llm_mode),
        FunctionRuntime({function_id: spec}, stack.region, logs_to_stderr=True) as runtime,
    ):
        try:
            result = runtime.invoke(function_id, event)
        except FunctionError as error:
            print(json.dumps({"errorType": error.error_type, "errorMessage": error.error_message}))
            return 1
        except InvocationTimeout:
            print(
                json.dumps(
                    {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {spec.timeout_s} seconds"}
                )
            )
            return 1
    print(json.dumps(result))
    return 0
