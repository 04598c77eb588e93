"""The environment's event loop, deadlines and fan-out."""

import asyncio
import time
from types import SimpleNamespace

from aiservice.llm import runtime
from aiservice.llm.runtime import Deadline, DeadlineExceeded, fan_out


async def _sleep_then(value, seconds):
    await asyncio.sleep(seconds)
    return value


async def _fail():
    raise RuntimeError("boom")


async def _current_loop():
    return asyncio.get_running_loop()


def test_the_loop_outlives_each_invocation():
    first = runtime.run(_current_loop())
    assert runtime.run(_current_loop()) is first and not first.is_closed()


def test_fan_out_runs_concurrently_and_keeps_order():
    started = time.perf_counter()
    results = runtime.run(fan_out([_sleep_then(n, 0.2) for n in range(6)], Deadline.after(5)))
    assert results == list(range(6))
    assert time.perf_counter() - started < 0.5


def test_fan_out_cancels_at_the_deadline_and_returns_what_finished():
    cleaned = []

    async def slow():
        try:
            await asyncio.sleep(5)
        finally:
            cleaned.append(True)  # cancellation still runs the call's cleanup (records, settlement)

    started = time.perf_counter()
    results = runtime.run(fan_out([_sleep_then("fast", 0.05), slow(), _fail()], Deadline.after(0.3)))
    assert time.perf_counter() - started < 1.0
    assert results[0] == "fast"
    assert isinstance(results[1], DeadlineExceeded) and cleaned == [True]
    assert isinstance(results[2], RuntimeError)


def test_the_deadline_is_the_sooner_of_lambda_and_the_api_timeout(settings_env):
    settings_env(API_TIMEOUT_MS="29000")
    lambda_context = SimpleNamespace(get_remaining_time_in_millis=lambda: 10_000)
    assert 8.5 < Deadline.for_invocation(lambda_context).remaining_s() <= 9.0  # 10 s less the margin
    long_lambda = SimpleNamespace(get_remaining_time_in_millis=lambda: 900_000)
    assert 27.5 < Deadline.for_invocation(long_lambda).remaining_s() <= 28.0  # 29 s less the margin
    assert Deadline.after(-1).remaining_s() == 0
