"""The LLM client against the fake providers on loopback (the real SDKs over HTTP):

(a) 6 fan-out calls to a provider answering in 1 s each finish in about 1 s (target <= 1.2 s);
(b) a second warm invocation opens no new connection (the loop and the clients live for the environment);
(c) call_llm's own overhead over the raw SDK call against the same server, p50 (target <= 2 ms).

    .venv/bin/python bench/llm_client.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiservice.llm.client import CallContext
    from devserver.fakellm import FakeLLMServer

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common"), str(ROOT)]

from _layer import stdout_to_devnull  # noqa: E402 - bench/ is the script's folder, first on sys.path

ASK = [{"role": "system", "content": "You optimize Python."}, {"role": "user", "content": "Make sort_list faster."}]


def configure(server_url: str) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        BEDROCK_BASE_URL=server_url,
        AZURE_OPENAI_ENDPOINT=server_url,
        AZURE_OPENAI_API_KEY="bench",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
        POWERTOOLS_SERVICE_NAME="bench",
    )


def fan_out_figures(server: FakeLLMServer, context: CallContext) -> tuple[float, float, int, int]:
    """Seconds for 6 concurrent 1 s calls in a first (cold) and a second (warm) invocation of one execution
    environment, and the connections each opened."""
    from aiservice.llm.client import call_llm
    from aiservice.llm.runtime import Deadline, fan_out, run
    from aiservice.llm.types import LLMResult

    server.latency_s = 1.0

    async def invocation() -> list[LLMResult | BaseException]:
        calls = [call_llm(ASK, model="claude-sonnet-4-5", context=context) for _ in range(6)]
        return await fan_out(calls, Deadline.after(30))

    figures = []
    for _ in range(2):
        before = server.connections_opened
        started = time.perf_counter()
        results = run(invocation())
        figures.append((time.perf_counter() - started, server.connections_opened - before))
        assert all(not isinstance(result, BaseException) for result in results), results
    server.latency_s = 0.0
    (cold, cold_connections), (warm, warm_connections) = figures
    return cold, warm, cold_connections, warm_connections


Call = Callable[[], Coroutine[Any, Any, object]]


def overhead_ms(raw_call: Call, ours: Call, calls: int) -> tuple[float, float, float]:
    """p50 of raw SDK calls, of call_llm calls, and the difference, in ms (interleaved, after a warm-up)."""
    from aiservice.llm.runtime import run

    raw_times: list[float] = []
    our_times: list[float] = []
    for index in range(calls + 20):
        for target, times in ((raw_call, raw_times), (ours, our_times)):
            started = time.perf_counter()
            run(target())
            if index >= 20:
                times.append((time.perf_counter() - started) * 1000)
    raw, our = statistics.median(raw_times), statistics.median(our_times)
    return raw, our, our - raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    from devserver.fakellm import FakeLLMServer

    server = FakeLLMServer()
    configure(server.url)

    import anthropic
    import openai

    from aiservice.llm.client import CallContext, call_llm
    from aiservice.llm.types import CallOptions

    context = CallContext(call_type="bench", trace_id="bench")
    # Logs and EMF documents go to stdout in Lambda; here to /dev/null, so the terminal is not timed with them.
    with stdout_to_devnull():
        cold, warm, first, second = fan_out_figures(server, context)

        options = CallOptions(max_tokens=256)
        bedrock = anthropic.AsyncAnthropicBedrock(base_url=server.url, aws_region="us-east-1", max_retries=0)
        azure = openai.AsyncAzureOpenAI(
            azure_endpoint=server.url, api_key="bench", api_version="2024-10-21", max_retries=0
        )
        rows: list[tuple[str, float, float, float]] = []
        raw_calls: tuple[tuple[str, Call], ...] = (
            (
                "claude-sonnet-4-5",
                lambda: bedrock.messages.create(
                    model="global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    max_tokens=256,
                    system=ASK[0]["content"],
                    messages=[{"role": "user", "content": ASK[1]["content"]}],
                ),
            ),
            (
                "azure/gpt-5",
                lambda: azure.chat.completions.create(
                    model="gpt-5",
                    messages=[
                        {"role": "system", "content": ASK[0]["content"]},
                        {"role": "user", "content": ASK[1]["content"]},
                    ],
                    max_completion_tokens=256,
                ),
            ),
        )
        for model, raw_call in raw_calls:
            ours = lambda model=model: call_llm(ASK, model=model, context=context, options=options)  # noqa: E731
            rows.append((model, *overhead_ms(raw_call, ours, args.calls)))
    server.stop()

    print(
        f"(a) 6 concurrent calls, provider latency 1 s: {warm:.3f} s warm, {cold:.3f} s in the environment's "
        "first invocation (which also makes the provider client) (target <= 1.2 s)"
    )
    print(f"(b) connections opened: first invocation {first}, second warm invocation {second} (target 0)")
    print(f"(c) call_llm overhead over the raw SDK, p50 of {args.calls} calls each, same fake server:")
    for model, raw, our, extra in rows:
        print(
            f"    {model:<20} raw SDK {raw:6.2f} ms   call_llm {our:6.2f} ms   "
            f"overhead {extra:5.2f} ms (target <= 2 ms)"
        )


if __name__ == "__main__":
    main()
