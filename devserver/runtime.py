"""Lambda execution environments as local processes.

Each worker is a spawned process serving one function: it takes the function's environment and sys.path,
imports the handler module once, before its first invocation (Lambda's INIT phase: later invocations are warm),
and runs invocations sent over a Pipe, so the handler's stdout (its JSON logs) stays free for the terminal.
As on Lambda, INIT has its own bound and the function's Timeout applies to each invocation alone: a cold start
makes the first request slower, never a timeout. Each function has a pool of workers that
grows while all are busy, like Lambda scaling out to concurrent execution environments, up to a limit (Lambda's
reserved concurrency); past it invocations wait in a short bounded queue, and past that they are throttled.
"""

from __future__ import annotations

import importlib
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from devserver.console import log
from devserver.template import LOCAL_ACCOUNT_ID, FunctionSpec


@dataclass(frozen=True)
class Concurrency:
    """Per function: at most `limit` execution environments; up to `queue` more invocations wait for one, each
    at most `queue_wait_s`. Past that an invocation is Throttled at once: a burst gets quick 429s, not a pile of
    requests that time out (or processes that exhaust the machine)."""

    limit: int = 8
    queue: int = 64
    queue_wait_s: float = 10.0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.queue < 0 or self.queue_wait_s < 0:
            raise ValueError(f"invalid concurrency settings: {self}")


DEFAULT_CONCURRENCY = Concurrency()

LAMBDA_INIT_LIMIT_S = 10.0  # Lambda's INIT phase (importing the handler module) is bounded at 10 s
# A local worker's INIT also includes what Lambda's does not: a process spawn and multiprocessing's bootstrap, which
# re-imports the parent's __main__ (devserver.cli: botocore), on a laptop or a shared CI machine that may be busy.
# So the hard bound is larger; an import alone that takes longer than Lambda's limit gets a warning instead.
LOCAL_INIT_ALLOWANCE_S = 30.0


class FunctionError(Exception):
    """The invocation failed: the handler raised, its result is not JSON, or its process died."""

    def __init__(self, error_type: str, error_message: str):
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message


class InvocationTimeout(Exception):
    """No answer within the allowed time; the worker was killed."""


class RuntimeClosed(Exception):
    """The runtime is shutting down."""


class Throttled(Exception):
    """Every execution environment of the function is busy and its queue is full, or the wait ran out."""

    retry_after_s = 1


@dataclass
class LambdaContext:
    """The attributes of the Lambda Python runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


# ----------------------------------------------------------------------------------------------- child side


def _worker_main(
    conn: Connection,
    environment: dict[str, str],
    import_paths: list[str],
    workdir: str,
    handler_name: str,
    context_fields: dict[str, Any],
    logs_to_stderr: bool,
) -> None:
    """Entry point of a worker process: serve invocations until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent stops us
    os.environ.clear()
    os.environ.update(environment)
    sys.path[:0] = import_paths
    os.chdir(workdir)
    if logs_to_stderr:  # `invoke` prints the result on stdout, so handler output goes to stderr
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    elif isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # logs show up as they happen even when piped
    started = time.monotonic()
    try:  # the INIT phase, before the first invocation is taken, as on Lambda
        module_name, function_name = handler_name.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # noqa: BLE001 - reported as Lambda reports an INIT error, on the invocation
        traceback.print_exc()
        conn.send(("init_error", (type(error).__name__, str(error))))
        return  # like Lambda, the environment is not reused: the next invocation starts a fresh one
    conn.send(("ready", time.monotonic() - started))
    while True:
        try:
            request_id, event, deadline_ms = conn.recv()
        except EOFError:
            return
        reply: tuple[str, object]
        try:
            context = LambdaContext(**context_fields, aws_request_id=request_id, deadline_ms=deadline_ms)
            reply = ("result", json.dumps(handler(event, context)))
        except Exception as error:  # noqa: BLE001 - reported to the caller as Lambda reports a function error
            traceback.print_exc()
            reply = ("error", (type(error).__name__, str(error)))
        conn.send(reply)


# ----------------------------------------------------------------------------------------------- parent side


def template_environment(template: dict[str, str], local: os._Environ | dict[str, str]) -> dict[str, str]:
    """The template's variables for a function, except those it leaves empty (a parameter with an empty
    default, such as AzureOpenAIEndpoint) where the local environment has a value: that is how a local run
    is pointed at real providers, or at the offline demo model, without editing the template."""
    return {name: local[name] if value == "" and local.get(name) else value for name, value in template.items()}


class Worker:
    """One execution environment of one function."""

    def __init__(self, spec: FunctionSpec, region: str, logs_to_stderr: bool):
        self.spec = spec
        name = spec.logical_id
        context_fields = {
            "function_name": name,
            "function_version": "$LATEST",
            "invoked_function_arn": f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}",
            "memory_limit_in_mb": spec.memory_mb,
            "log_group_name": f"/aws/lambda/{name}",
            "log_stream_name": f"local/{uuid.uuid4().hex}",
        }
        environment = {
            **os.environ,  # passes AWS_ENDPOINT_URL_DYNAMODB, credentials, PATH... through
            **template_environment(spec.environment, os.environ),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context_fields["log_group_name"],
            "AWS_LAMBDA_LOG_STREAM_NAME": context_fields["log_stream_name"],
            "_HANDLER": spec.handler,
            "AWS_SAM_LOCAL": "true",  # what `sam local` sets; Powertools then skips X-Ray
        }
        # Lambda's order: the function's code first, then the layers.
        import_paths = [str(spec.code_uri), *map(str, spec.layer_paths)]
        mp = multiprocessing.get_context("spawn")
        self._conn, child_conn = mp.Pipe()
        self._process = mp.Process(
            target=_worker_main,
            args=(
                child_conn,
                environment,
                import_paths,
                str(spec.code_uri),
                spec.handler,
                context_fields,
                logs_to_stderr,
            ),
            name=f"lambda-{name}",
            daemon=True,
        )
        self._process.start()
        child_conn.close()  # so the parent sees EOF when the child dies
        self._ready = False

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def wait_ready(self, limit_s: float, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Wait for the worker's INIT (the handler's import), at most limit_s; the invocation's Timeout starts
        after it. Raises FunctionError (INIT failed or timed out: the worker is stopped) or RuntimeClosed."""
        name = self.spec.logical_id
        deadline = time.monotonic() + limit_s
        try:
            while not self._conn.poll(min(0.25, max(0.0, deadline - time.monotonic()))):
                if cancelled():
                    self.stop()
                    raise RuntimeClosed(name)
                if time.monotonic() >= deadline:
                    self.stop()
                    raise FunctionError("Runtime.InitTimeout", f"{name}: INIT did not finish within {limit_s:g} s")
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise FunctionError("Runtime.ExitError", f"{name}: the worker process exited during INIT") from None
        if kind == "init_error":
            self.stop()
            raise FunctionError(*payload)
        self._ready = True
        if payload > LAMBDA_INIT_LIMIT_S:
            log(f"{name}: INIT took {payload:.1f} s, over Lambda's {LAMBDA_INIT_LIMIT_S:g} s limit")

    def invoke(self, event: dict, wait_s: float) -> Any:
        """Run one invocation; the result is the handler's return value after a JSON round trip."""
        if not self._ready:  # the pool waits for INIT first; this is for a worker used on its own
            self.wait_ready(LOCAL_INIT_ALLOWANCE_S)
        request_id = str(uuid.uuid4())
        deadline_ms = int(time.time() * 1000) + self.spec.timeout_s * 1000
        try:
            self._conn.send((request_id, event, deadline_ms))
            if not self._conn.poll(wait_s):
                self.stop()
                raise InvocationTimeout(f"{self.spec.logical_id} gave no answer within {wait_s:g} s")
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise FunctionError("Runtime.ExitError", f"{self.spec.logical_id}: the worker process exited") from None
        if kind == "error":
            raise FunctionError(*payload)
        return json.loads(payload)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()


class WorkerPool:
    """The execution environments of one function: reuse an idle worker, else start one, up to the limit; else
    wait in the bounded queue."""

    def __init__(
        self,
        spec: FunctionSpec,
        region: str,
        concurrency: Concurrency,
        logs_to_stderr: bool,
        init_limit_s: float = LOCAL_INIT_ALLOWANCE_S,
    ):
        self.spec = spec
        self._init_limit_s = init_limit_s
        self._region = region
        self._concurrency = concurrency
        self._logs_to_stderr = logs_to_stderr
        self._idle: list[Worker] = []
        self._workers: set[Worker] = set()
        self._starting = 0
        self._waiting = 0
        self._closed = False
        self._changed = threading.Condition()

    def invoke(self, event: dict, wait_s: float) -> Any:
        worker = self._acquire()
        try:
            return worker.invoke(event, wait_s)
        finally:
            self._release(worker)

    def _acquire(self) -> Worker:
        limits = self._concurrency
        deadline = time.monotonic() + limits.queue_wait_s
        queued = False
        with self._changed:
            try:
                while True:
                    if self._closed:
                        raise RuntimeClosed(self.spec.logical_id)
                    while self._idle:
                        worker = self._idle.pop()  # the most recently used: the warmest
                        if worker.alive:
                            return worker
                        self._discard(worker)
                    if len(self._workers) + self._starting < limits.limit:
                        self._starting += 1
                        break
                    if not queued:
                        if self._waiting >= limits.queue:
                            raise Throttled(
                                f"{self.spec.logical_id}: {limits.limit} invocations running and "
                                f"{self._waiting} waiting (the limits); retry later"
                            )
                        self._waiting += 1
                        queued = True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise Throttled(
                            f"{self.spec.logical_id}: no execution environment free within "
                            f"{limits.queue_wait_s:g} s; retry later"
                        )
                    self._changed.wait(remaining)
            finally:
                if queued:
                    self._waiting -= 1
        fresh: Worker | None = None
        try:  # outside the lock: starting a process and its INIT take a while
            fresh = Worker(self.spec, self._region, self._logs_to_stderr)
            fresh.wait_ready(self._init_limit_s, cancelled=lambda: self._closed)
        except BaseException:
            if fresh is not None:  # wait_ready stops it on its own errors; this is for an interrupt
                fresh.stop()
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()
            raise
        with self._changed:
            self._starting -= 1
            if self._closed:  # close() ran meanwhile (mypy keeps the narrowing from the loop above)
                fresh.stop()  # type: ignore[unreachable]
                raise RuntimeClosed(self.spec.logical_id)
            self._workers.add(fresh)
        return fresh

    def _release(self, worker: Worker) -> None:
        with self._changed:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:  # killed after a timeout or crash: the next invocation starts a fresh one
                self._discard(worker)
            self._changed.notify_all()  # all: a waiter whose time is up leaves without taking the worker

    def _discard(self, worker: Worker) -> None:
        worker.stop()
        self._workers.discard(worker)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            workers, self._workers, self._idle = list(self._workers), set(), []
            self._changed.notify_all()
        for worker in workers:
            worker.stop()


class FunctionRuntime:
    """Invokes the stack's functions by logical id, each in its own pool of worker processes."""

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        region: str,
        concurrency: Concurrency = DEFAULT_CONCURRENCY,
        logs_to_stderr: bool = False,
        init_limit_s: float = LOCAL_INIT_ALLOWANCE_S,
    ):
        self.functions = functions
        self._pools = {
            function_id: WorkerPool(spec, region, concurrency, logs_to_stderr, init_limit_s)
            for function_id, spec in functions.items()
        }

    def invoke(self, function_id: str, event: dict, wait_s: float | None = None) -> Any:
        """The handler's result; wait_s (the invocation's, a cold start's INIT not included) defaults to the
        function's Timeout.
        Raises FunctionError, InvocationTimeout, Throttled or RuntimeClosed."""
        pool = self._pools[function_id]
        return pool.invoke(event, pool.spec.timeout_s if wait_s is None else wait_s)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    def __enter__(self) -> FunctionRuntime:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
