"""The fake model's timing: `latency_s` before the first byte, a reply's `generation_s` while it is written."""

import time

from aiservice.llm.client import CallContext, call_llm, stream_llm
from aiservice.llm.runtime import run
from devserver.fakellm import Reply
from tests.pipelines.harness import llm

__all__ = ["llm"]
ASK = [{"role": "user", "content": "hello"}]


def test_a_stream_starts_after_the_latency_and_ends_after_the_generation_time(llm):
    run(call_llm(ASK, model="claude-sonnet-4-5", context=CallContext(call_type="t")))  # the SDK loaded, warm
    llm.latency_s = 0.2
    llm.enqueue(Reply(text="x" * 160, chunk_chars=16, generation_s=0.5))

    async def timings() -> tuple[float, float]:
        started = time.monotonic()
        first = None
        async for item in stream_llm(ASK, model="claude-sonnet-4-5", context=CallContext(call_type="t")):
            if first is None and isinstance(item, str):
                first = time.monotonic() - started
        return first or 0.0, time.monotonic() - started

    first, total = run(timings())
    assert 0.2 <= first < 0.4
    assert 0.65 <= total < 1.2


def test_a_whole_reply_waits_out_its_generation_time(llm):
    llm.enqueue(Reply(text="done", generation_s=0.4))
    started = time.monotonic()
    result = run(call_llm(ASK, model="azure/gpt-5", context=CallContext(call_type="t")))
    assert result.content == "done" and time.monotonic() - started >= 0.4
