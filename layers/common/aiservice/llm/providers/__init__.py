"""Providers: the only modules that import an LLM SDK, and only when a call first needs one.

A provider turns a ProviderRequest into a ProviderReply (or a stream of text deltas ending in one), and every
SDK exception into a ProviderError that says whether to retry. Clients live for the execution environment,
so warm invocations reuse their connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from aiservice.llm.types import ProviderReply, ProviderRequest, StreamUsage


class Provider(Protocol):
    name: str

    async def complete(self, request: ProviderRequest) -> ProviderReply: ...

    def stream(self, request: ProviderRequest) -> AsyncIterator[str | StreamUsage | ProviderReply]:
        """Text deltas as they come, then the whole reply (with usage) as the last item; a StreamUsage whenever
        the provider reports usage before the end (what the attempt is billed if it is cut off)."""
        ...
