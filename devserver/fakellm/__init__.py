"""A fake LLM provider on loopback for tests, benchmarks and `make run` without credentials.

One threaded HTTP/1.1 server speaks Bedrock InvokeModel (and its event-stream streaming), Azure OpenAI chat
completions and OpenAI-compatible chat completions (both with SSE streaming), with a script of replies and
faults. Unscripted requests get the offline demo model. Standard library only.

    with FakeLLMServer() as server:
        server.enqueue(Reply(text="hi", cache_read_tokens=100), Fault.status(429, retry_after=2))
        ...  # point an SDK at server.url
"""

from devserver.fakellm.script import Fault, RecordedRequest, Reply, ToolCall, demo_reply
from devserver.fakellm.server import FakeLLMServer

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "Reply", "ToolCall", "demo_reply"]
