"""devserver.runtime: a worker does its INIT (the handler's import) before its first invocation, bounded on its own,
so that the function's Timeout applies to the invocation alone, as on Lambda."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devserver.runtime import Concurrency, FunctionError, FunctionRuntime, InvocationTimeout
from devserver.template import FunctionSpec

HANDLER = """
import os, time
time.sleep(float(os.environ["INIT_SLEEP_S"]))  # a slow import: botocore and pydantic on a loaded machine
if os.environ.get("INIT_FAILS"):
    raise ImportError("no module named somewhere")

def handler(event, context):
    time.sleep(event.get("sleep_s", 0))
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}
"""


def _spec(folder: Path, init_sleep_s: float, timeout_s: int = 1, **environment: str) -> dict[str, FunctionSpec]:
    folder.mkdir(exist_ok=True)
    (folder / "app.py").write_text(HANDLER)
    spec = FunctionSpec(
        logical_id="SlowInitFunction",
        code_uri=folder,
        handler="app.handler",
        environment={"INIT_SLEEP_S": str(init_sleep_s), **environment},
        timeout_s=timeout_s,
        memory_mb=128,
        routes=[],
    )
    return {spec.logical_id: spec}


@pytest.fixture(autouse=True)
def no_workers_left() -> Iterator[None]:
    before = set(multiprocessing.active_children())
    yield
    assert set(multiprocessing.active_children()) <= before, "workers outlived the runtime"


def test_an_import_longer_than_the_timeout_still_answers_and_the_timeout_holds_for_the_invocation(tmp_path):
    with FunctionRuntime(_spec(tmp_path / "fn", init_sleep_s=2.5, timeout_s=1), "us-east-1") as runtime:
        started = time.monotonic()
        cold = runtime.invoke("SlowInitFunction", {})  # waits for INIT (2.5 s), then runs within its 1 s
        assert time.monotonic() - started >= 2.5
        assert 0 < cold["remaining_ms"] <= 1000  # the deadline counts from the invocation, not from the spawn
        started = time.monotonic()
        warm = runtime.invoke("SlowInitFunction", {})
        assert warm["pid"] == cold["pid"] and time.monotonic() - started < 1  # warm: no second INIT
        with pytest.raises(InvocationTimeout):  # the Timeout still bounds the invocation itself
            runtime.invoke("SlowInitFunction", {"sleep_s": 3})


def test_init_is_bounded_on_its_own(tmp_path):
    spec = _spec(tmp_path / "fn", init_sleep_s=5, timeout_s=60)
    with FunctionRuntime(spec, "us-east-1", init_limit_s=1) as runtime:
        started = time.monotonic()
        with pytest.raises(FunctionError) as failure:
            runtime.invoke("SlowInitFunction", {})
        assert failure.value.error_type == "Runtime.InitTimeout"
        assert time.monotonic() - started < 4


def test_a_failed_init_is_a_function_error_and_the_next_invocation_starts_afresh(tmp_path):
    folder = tmp_path / "fn"
    with FunctionRuntime(_spec(folder, init_sleep_s=0, INIT_FAILS="1"), "us-east-1") as runtime:
        with pytest.raises(FunctionError) as failure:
            runtime.invoke("SlowInitFunction", {})
        assert (failure.value.error_type, failure.value.error_message) == ("ImportError", "no module named somewhere")
        (folder / "app.py").write_text(HANDLER.replace('os.environ.get("INIT_FAILS")', "False"))
        assert runtime.invoke("SlowInitFunction", {})["pid"] > 0


def test_concurrent_cold_starts_stay_within_the_limit(tmp_path):
    """Workers in INIT count toward the concurrency limit: a burst on a cold function never spawns more."""
    from concurrent.futures import ThreadPoolExecutor

    spec = _spec(tmp_path / "fn", init_sleep_s=1.5, timeout_s=1)
    limits = Concurrency(limit=2, queue=8, queue_wait_s=20)
    with FunctionRuntime(spec, "us-east-1", limits) as runtime, ThreadPoolExecutor(6) as pool:
        pids = set(pool.map(lambda _: runtime.invoke("SlowInitFunction", {})["pid"], range(6)))
    assert 1 <= len(pids) <= 2
