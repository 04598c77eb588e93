"""Async plumbing for Lambda: one event loop for the life of the execution environment (so provider clients
and their connections survive warm invocations), a deadline, and a fan-out that returns what finished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiservice.config import get_settings

T = TypeVar("T")
_SAFETY_MARGIN_S = 1.0  # time kept back to answer and settle after the calls are cut off
_loop: asyncio.AbstractEventLoop | None = None


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this environment's loop. asyncio.run would close the loop, and with it every
    pooled connection, at the end of each invocation."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coroutine)


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock by which the work must be done."""

    at: float

    @classmethod
    def for_invocation(cls, lambda_context: Any | None, started: float | None = None) -> Deadline:
        """The sooner of the Lambda's remaining time and the API integration timeout, less a margin to answer."""
        now = time.monotonic()
        started = now if started is None else started
        budget = started + get_settings().api_timeout_ms / 1000
        if lambda_context is not None:
            budget = min(budget, now + lambda_context.get_remaining_time_in_millis() / 1000)
        return cls(budget - _SAFETY_MARGIN_S)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining_s(self) -> float:
        return max(0.0, self.at - time.monotonic())


class DeadlineExceeded(Exception):
    """The call was still running at the deadline and was cancelled."""


async def fan_out(calls: Sequence[Awaitable[T]], deadline: Deadline) -> list[T | BaseException]:
    """Run the calls concurrently; at the deadline cancel those still running. Each result is the call's value,
    its exception, or DeadlineExceeded, in the order of `calls`."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    if not tasks:
        return []
    _, pending = await asyncio.wait(tasks, timeout=deadline.remaining_s())
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)  # let cancellations run their cleanup (records, settlement)
    results: list[T | BaseException] = []
    for task in tasks:
        if task.cancelled():
            results.append(DeadlineExceeded("cancelled at the deadline"))
        elif task.exception() is not None:
            results.append(task.exception())  # type: ignore[arg-type]
        else:
            results.append(task.result())
    return results
