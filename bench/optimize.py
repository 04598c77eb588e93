"""POST /ai/optimize end to end: the real handler with the real authorizer's context in the REST proxy event,
DynamoDB in moto on loopback (the template's tables), the providers in devserver/fakellm on loopback, 6
candidates for a 300-line module, each model reply a distinct valid edit (one function rewritten).

(1) overhead: the model answering at once; p50/p95/best of N warm invocations (target p50 <= 50 ms), and a
    rough split of where the time goes (an instrumented second pass);
(2) latency: the model taking 1 s per call as time to first byte + generation, prompt-cache priming on
    (default) and off, interleaved in one run (target <= 1.2 s warm);
(3) cold: fresh `python -S` interpreters on the layer's pinned requirements (bench/_layer.py), nothing
    pre-imported: handler import + init, then the first request; and import + init, warm_up(["optimize"])
    (what SnapStart's hook does before the snapshot), then the first request (what a restored environment pays).

moto and the fake model run in processes of their own, as remote services would: their CPU is not ours.
Logs and EMF documents go to /dev/null in this process (to stdout in Lambda), so the terminal is not timed.

    .venv/bin/python bench/optimize.py [--runs 100] [--latency-runs 5] [--ttfb 0.1,0.2,0.3] [--cold-runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common"), str(ROOT), str(ROOT / "bench")]

from _layer import stdout_to_devnull  # noqa: E402 - after the path setup

CANDIDATES = 6
PATH = "inventory/summary.py"
TARGET_OVERHEAD_MS = 50
TARGET_LATENCY_S = 1.2
MODEL_S = 1.0  # time to first byte + generation of every call in (2)

HEADER = '''"""Summaries of sensor records: totals, means, spreads and top values per group."""

from __future__ import annotations

import math
from collections import defaultdict

DEFAULT_KEY = "value"
REVISION = "{revision}"
'''

FUNCTION = '''

def summarize_{n}(records: list[dict[str, float]], key: str = DEFAULT_KEY) -> dict[str, float]:
    """Total, mean, spread and the sum of the top values of `key` over the records (group {n})."""
    values = []
    for record in records:
        if key in record:
            values.append(record[key])
    total = 0.0
    for value in values:
        total = total + value
    count = len(values)
    mean = total / count if count else 0.0
    spread = 0.0
    for value in values:
        spread = spread + (value - mean) ** 2
    top = []
    for value in sorted(values, reverse=True):
        if len(top) < {n} + 3:
            top.append(value)
    return {{"total": total, "mean": mean, "spread": math.sqrt(spread), "top": sum(top)}}
'''

FOOTER = """

def by_group(records: list[dict[str, float]]) -> dict[int, list[dict[str, float]]]:
    groups = defaultdict(list)
    for record in records:
        groups[int(record.get("group", 0))].append(record)
    return dict(groups)
"""

OPTIMIZED = '''def summarize_{n}(records: list[dict[str, float]], key: str = DEFAULT_KEY) -> dict[str, float]:
    """Total, mean, spread and the sum of the top values of `key` over the records (group {n})."""
    values = [record[key] for record in records if key in record]
    total = math.fsum(values)
    mean = total / len(values) if values else 0.0
    spread = math.fsum((value - mean) ** 2 for value in values)
    top = heapq.nlargest({n} + 3, values)
    return {{"total": total, "mean": mean, "spread": math.sqrt(spread), "top": sum(top)}}'''


def module_source(revision: str = "") -> str:
    """The module the request optimizes: 14 summarize_N functions and a helper, ~300 lines. Every request's
    differs (`revision`), as users' code does, so that nothing computed from one request's prompt is reused by
    the next one."""
    return HEADER.format(revision=revision) + "".join(FUNCTION.format(n=n) for n in range(14)) + FOOTER


def candidate_reply(number: int) -> str:
    """Candidate `number` (1-based) rewrites summarize_<number - 1> alone, with the import it needs: a partial
    reply the service merges into the module; every candidate edits another function, so all are kept."""
    n = number - 1
    return (
        f"<explanation>summarize_{n} made one pass with built-ins (a comprehension, math.fsum, heapq.nlargest) "
        f"instead of three Python loops and a full sort.</explanation>\n"
        f"```python:{PATH}\nimport heapq\nimport math\n\n\n{OPTIMIZED.format(n=n)}\n```\n"
    )


# ------------------------------------------------------------------------------ the fake model, in its own process


def _serve_fake_llm(conn: Connection) -> None:
    """FakeLLMServer answering each candidate with its edit; commands over `conn`: ("model", ttfb_s, generation_s)
    and ("requests",) (arrival times of the requests since the last command, then forgotten)."""
    import signal

    from devserver.fakellm import FakeLLMServer, Reply
    from devserver.fakellm.scripted import request_text

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = {"generation_s": 0.0}

    def answer(request: Any) -> Reply:
        match = re.search(r"Write candidate (\d+)", request_text(request.body))
        number = int(match.group(1)) if match else 1
        return Reply(text=candidate_reply(number), generation_s=state["generation_s"])

    server = FakeLLMServer(default_reply=answer)
    conn.send(server.url)
    while True:
        try:
            command = conn.recv()
        except EOFError:
            break
        if command[0] == "model":
            server.latency_s, state["generation_s"] = command[1], command[2]
            server.reset()
            conn.send(None)
        elif command[0] == "requests":
            conn.send([(request.received_at, request.model, request.stream) for request in server.requests])
            server.reset()
    server.stop()


class FakeModel:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def set(self, ttfb_s: float, generation_s: float) -> None:
        self.conn.send(("model", ttfb_s, generation_s))
        self.conn.recv()

    def requests(self) -> list[tuple[float, str, bool]]:
        self.conn.send(("requests",))
        answer: list[tuple[float, str, bool]] = self.conn.recv()
        return answer


@contextlib.contextmanager
def fake_llm_process() -> Iterator[tuple[str, FakeModel]]:
    context = multiprocessing.get_context("spawn")
    parent_conn, child_conn = context.Pipe()
    process = context.Process(target=_serve_fake_llm, args=(child_conn,), name="fakellm", daemon=True)
    process.start()
    child_conn.close()
    try:
        if not parent_conn.poll(60):
            raise RuntimeError("the fake LLM server did not start")
        yield parent_conn.recv(), FakeModel(parent_conn)
    finally:
        parent_conn.close()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


# ----------------------------------------------------------------------------------------------- the deployed shape


def function_environment(dynamodb_url: str, llm_url: str) -> dict[str, str]:
    """OptimizeFunction's environment from template.yaml, pointed at the local services."""
    from devserver.template import Stack

    environment = dict(Stack.load(ROOT / "template.yaml").functions["OptimizeFunction"].environment)
    environment.pop("AZURE_OPENAI_API_KEY_SECRET", None)  # the key is given directly: no Secrets Manager here
    environment.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_url,
        BEDROCK_BASE_URL=llm_url,
        AZURE_OPENAI_ENDPOINT=llm_url,
        AZURE_OPENAI_API_KEY="bench",
        RATE_LIMIT_MAX="100000000",
    )
    return environment


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="OptimizeFunction",
        memory_limit_in_mb=1024,
        aws_request_id="bench",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:OptimizeFunction",
        get_remaining_time_in_millis=lambda: 29_000,
    )


def authorized_event() -> Callable[[], dict[str, Any]]:
    """A key made in DynamoDB, the real authorizer run once (API Gateway caches its answer), and a maker of
    /ai/optimize proxy events carrying its context, each with a trace of its own."""
    from aiservice.admin import create_key
    from aiservice.store.keys import KeyStore
    from devserver.modules import import_file

    key, _ = create_key(
        KeyStore(), user_id=f"bench-{uuid.uuid4().hex[:8]}", org_id="bench-org", plan="pro", privacy_mode=False,
        label=None,
    )  # fmt: skip
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    auth_event = json.loads((ROOT / "events/authorizer.json").read_text())
    auth_event.update(headers=headers, multiValueHeaders={name: [value] for name, value in headers.items()})
    authorizer = import_file("bench_authorizer", ROOT / "functions/authorizer/app.py")
    answer = authorizer.handler(auth_event, lambda_context())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", answer
    template = json.loads((ROOT / "events/optimize.json").read_text())
    template.update(headers=headers, multiValueHeaders={name: [value] for name, value in headers.items()})
    template["requestContext"]["authorizer"] = {"principalId": answer["principalId"], **answer["context"]}
    body = json.loads(template["body"])

    def make() -> dict[str, Any]:
        event: dict[str, Any] = copy.deepcopy(template)
        trace_id = str(uuid.uuid4())
        source_code = f"```python:{PATH}\n{module_source(trace_id)}```"
        event["body"] = json.dumps(
            {**body, "source_code": source_code, "n_candidates": CANDIDATES, "trace_id": trace_id}
        )
        return event

    return make


def kept_of(response: dict[str, Any]) -> int:
    assert response["statusCode"] == 200, response
    return len(json.loads(response["body"])["optimizations"])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# ----------------------------------------------------------------------------------------------- (1) overhead


PARTS = ("dynamodb", "llm", "postprocess", "parse")


def clocks() -> tuple[float, float]:
    """(wall, CPU of this process): moto and the model run in processes of their own, so this process's CPU is
    the handler's own work, whatever else the machine is doing."""
    return time.perf_counter(), time.process_time()


class Split:
    """Where an invocation's time goes, wall and CPU: DynamoDB round trips (botocore's calls on the service's
    client, moto's work included in the wall time), the model calls (the fan-out: SDKs, HTTP, call_llm),
    post-processing (replies to candidates), the request's parse; the rest is the remainder."""

    def __init__(self) -> None:
        self.current = {name: [0.0, 0.0] for name in PARTS}
        self.dynamodb_calls = 0
        self._started: list[tuple[float, float]] = []

    def reset(self) -> None:
        self.current = {name: [0.0, 0.0] for name in PARTS}

    def _add(self, name: str, started: tuple[float, float]) -> None:
        wall, cpu = clocks()
        self.current[name][0] += wall - started[0]
        self.current[name][1] += cpu - started[1]

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import aiservice.pipelines.generation as generation
        import aiservice.pipelines.optimize as optimize
        from aiservice.store.dynamo import dynamodb_client

        events = dynamodb_client().meta.events
        events.register("before-call.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        patched: list[tuple[Any, str, Callable[..., Any]]] = [
            (generation, "_concurrently", self._timed_async("llm", generation._concurrently)),
            (optimize, "candidates_from", self._timed("postprocess", generation.candidates_from)),
            (optimize, "parse_source", self._timed("parse", optimize.parse_source)),
        ]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patched]
        for module, name, wrapper in patched:
            setattr(module, name, wrapper)
        try:
            yield
        finally:
            for module, name, original in saved:
                setattr(module, name, original)
            events.unregister("before-call.dynamodb", self._before)
            events.unregister("after-call.dynamodb", self._after)

    def _timed_async(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = clocks()
            try:
                return await function(*args, **kwargs)
            finally:
                self._add(name, started)

        return timed

    def _timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clocks()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(name, started)

        return timed

    def _before(self, **_: Any) -> None:
        self._started.append(clocks())

    def _after(self, **_: Any) -> None:
        self._add("dynamodb", self._started.pop())
        self.dynamodb_calls += 1


def overhead(handler: Callable[..., dict[str, Any]], make_event: Callable[[], dict[str, Any]], runs: int) -> list[str]:
    for _ in range(5):  # warm-up: the environment's first requests (SDKs, clients, connections)
        kept = kept_of(handler(make_event(), lambda_context()))
    walls, cpus = [], []
    for _ in range(runs):
        event = make_event()
        wall, cpu = clocks()
        response = handler(event, lambda_context())
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        kept = kept_of(response)
    split = Split()
    split_runs = max(10, runs // 2)
    parts: dict[str, list[tuple[float, float]]] = {name: [] for name in (*PARTS, "rest")}
    with split.installed():
        for _ in range(split_runs):
            event = make_event()
            split.reset()
            wall, cpu = clocks()
            kept_of(handler(event, lambda_context()))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            for name in PARTS:
                parts[name].append((split.current[name][0] * 1000, split.current[name][1] * 1000))
            parts["rest"].append(
                (
                    (wall - sum(split.current[name][0] for name in PARTS)) * 1000,
                    (cpu - sum(split.current[name][1] for name in PARTS)) * 1000,
                )
            )
    labels = {
        "dynamodb": f"DynamoDB, {split.dynamodb_calls / split_runs:g} round trips",
        "llm": f"LLM client, {CANDIDATES} calls at once",
        "postprocess": "post-processing",
        "parse": "request's code parsed",
        "rest": "the rest",
    }
    status = "meets" if statistics.median(walls) <= TARGET_OVERHEAD_MS else "MISSES"
    lines = [
        f"(1) overhead: {CANDIDATES} candidates, {len(module_source().splitlines())}-line module, model answering at "
        f"once; kept {kept} of {CANDIDATES} candidates",
        f"    {runs} warm invocations, wall: p50 {statistics.median(walls):.1f} ms, "
        f"p95 {percentile(walls, 0.95):.1f} ms, best {min(walls):.1f} ms (target p50 <= {TARGET_OVERHEAD_MS} ms: "
        f"{status})",
        f"    the same, CPU of the handler's process: p50 {statistics.median(cpus):.1f} ms, "
        f"p95 {percentile(cpus, 0.95):.1f} ms, best {min(cpus):.1f} ms",
        f"    split, median of {split_runs} instrumented invocations:   wall ms    CPU ms",
    ]
    for name, label in labels.items():
        wall_ms = statistics.median(value[0] for value in parts[name])
        cpu_ms = statistics.median(value[1] for value in parts[name])
        lines.append(f"      {label:<44} {wall_ms:7.1f}   {cpu_ms:7.1f}")
    return lines


# ----------------------------------------------------------------------------------------------- (2) latency


def latency(
    handler: Callable[..., dict[str, Any]],
    make_event: Callable[[], dict[str, Any]],
    model: FakeModel,
    ttfbs: list[float],
    runs: int,
) -> list[str]:
    from aiservice.config import get_settings

    lines = [
        f"(2) {CANDIDATES} candidates, every call {MODEL_S:g} s = time to first byte + generation; "
        f"best/median of {runs} warm invocations, priming on/off interleaved (target <= {TARGET_LATENCY_S} s)"
    ]
    for ttfb in ttfbs:
        model.set(ttfb, MODEL_S - ttfb)
        figures: dict[bool, list[float]] = {True: [], False: []}
        waits: dict[bool, list[float]] = {True: [], False: []}
        for index in range(runs + 1):
            for priming in (True, False):
                os.environ["PROMPT_CACHE_PRIMING"] = "true" if priming else "false"
                get_settings.cache_clear()
                model.requests()  # forget earlier arrivals
                event = make_event()
                started = time.perf_counter()
                kept = kept_of(handler(event, lambda_context()))
                elapsed = time.perf_counter() - started
                assert kept == CANDIDATES, kept
                arrivals = model.requests()
                claude = sorted(at for at, name, _ in arrivals if "anthropic" in (name or ""))
                if index:  # the first round is a warm-up of this model setting
                    figures[priming].append(elapsed)
                    waits[priming].append((claude[-1] - min(at for at, _, _ in arrivals)) * 1000)
        lines.append(f"    time to first byte {ttfb:.1f} s + generation {MODEL_S - ttfb:.1f} s:")
        for priming in (True, False):
            timings = figures[priming]
            status = "meets" if statistics.median(timings) <= TARGET_LATENCY_S else "MISSES"
            lines.append(
                f"      priming {'on ' if priming else 'off'}  best {min(timings):.3f} s  median "
                f"{statistics.median(timings):.3f} s  ({status}); last Claude call sent "
                f"{statistics.median(waits[priming]):4.0f} ms after the first call"
            )
    os.environ.pop("PROMPT_CACHE_PRIMING", None)
    get_settings.cache_clear()
    return lines


def cache_price_note(make_event: Callable[[], dict[str, Any]]) -> str:
    """What the Claude calls' shared system prompt costs per request with and without priming, at list prices."""
    from aiservice.llm.models import estimate_tokens, get_model
    from aiservice.llm.routing import route_for
    from aiservice.pipelines.optimize import _OPTIMIZE, _system_prompt, parse_source
    from aiservice.pipelines.schemas import OptimizeRequest

    request = OptimizeRequest.model_validate_json(make_event()["body"])
    system = _system_prompt(request, parse_source(request.source_code, request.language), _OPTIMIZE)
    route = route_for("optimize")
    chain = (route.model, *route.fallbacks)
    claude = sum(1 for index in range(CANDIDATES) if get_model(chain[index % len(chain)]).family == "anthropic")
    tokens = estimate_tokens(system)
    rates = get_model(route.model).rates()  # USD per 1M tokens
    write, read = rates.cache_write_5m or rates.input, rates.cache_read or rates.input
    on = (write + (claude - 1) * read) * tokens / 1_000_000
    off = claude * write * tokens / 1_000_000  # concurrent calls all miss the cache, and each writes it
    return (
        f"    system prompt ~{tokens} tokens (estimate), {claude} Claude calls ({route.model}): its input costs "
        f"${on:.4f} per request with priming (1 cache write + {claude - 1} reads), ${off:.4f} without "
        f"({claude} writes)"
    )


# ----------------------------------------------------------------------------------------------- (3) cold


_COLD = """
import sys, time
started = time.perf_counter()
sys.path[:0] = {paths!r}
import app
imported = time.perf_counter()
heavy_at_import = sorted(name for name in {heavy!r} if name in sys.modules)
if {warm_up!r}:
    from aiservice.pipelines.warmup import warm_up
    warm_up(["optimize"])
warmed = time.perf_counter()
heavy_at_warm = sorted(name for name in {heavy!r} if name in sys.modules)
import json
from types import SimpleNamespace
events = json.load(open({events!r}))
context = SimpleNamespace(function_name="OptimizeFunction", memory_limit_in_mb=1024, aws_request_id="cold",
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:OptimizeFunction",
                          get_remaining_time_in_millis=lambda: 29_000)
timings, kept = [], []
for event in events:
    begun = time.perf_counter()
    response = app.handler(event, context)
    timings.append((time.perf_counter() - begun) * 1000)
    kept.append(len(json.loads(response["body"]).get("optimizations", [])) if response["statusCode"] == 200 else -1)
print("BENCH " + json.dumps({{"import": (imported - started) * 1000, "warm_up": (warmed - imported) * 1000,
                             "requests": timings, "kept": kept, "heavy_at_import": heavy_at_import,
                             "heavy_at_warm": heavy_at_warm}}))
"""


def cold(make_event: Callable[[], dict[str, Any]], environment: dict[str, str], runs: int) -> list[str]:
    from _layer import HEAVY, native_layer

    paths = [str(ROOT / "functions/optimize"), str(ROOT / "layers/common"), str(native_layer())]
    results: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as scratch:
        environ = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "AWS_"))}
        environ.update(environment, PYTHONPYCACHEPREFIX=str(Path(scratch) / "pycache"))
        events_file = Path(scratch) / "events.json"
        for index in range(runs + 1):  # the first run compiles the bytecode into the private cache: not counted
            for snapstart in (False, True):
                events_file.write_text(json.dumps([make_event(), make_event()]))
                code = _COLD.format(paths=paths, heavy=HEAVY, warm_up=snapstart, events=str(events_file))
                done = subprocess.run(
                    [sys.executable, "-S", "-c", code], env=environ, capture_output=True, text=True, check=False
                )
                lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
                if done.returncode or not lines:
                    raise RuntimeError(f"the cold run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
                result = json.loads(lines[-1][len("BENCH ") :])
                result["errors"] = [
                    f"{line['kind']}: {line['detail'][:120]}"
                    for line in map(_json_or_none, done.stdout.splitlines())
                    if line and line.get("message") == "optimization_error"
                ]
                if index:
                    results[snapstart].append(result)

    def row(label: str, values: list[float]) -> str:
        return f"      {label:<44} best {min(values):7.1f} ms   median {statistics.median(values):7.1f} ms"

    plain, snap = results[False], results[True]
    first_plain = [r["import"] + r["requests"][0] for r in plain]
    kept = ", ".join("/".join(str(count) for count in r["kept"]) for r in (*plain, *snap))
    errors = sorted({error for r in (*plain, *snap) for error in r["errors"]})
    return [
        f"(3) cold: {runs} fresh `python -S` processes each, bytecode cached, layer = its pinned requirements; "
        f"{CANDIDATES} candidates, model answering at once",
        "    a new execution environment, no SnapStart:",
        row("handler import + init", [r["import"] for r in plain]),
        row("first /ai/optimize (SDKs load inside it)", [r["requests"][0] for r in plain]),
        row("import + init + first request", first_plain),
        row("second request (warm, for reference)", [r["requests"][1] for r in plain]),
        "    SnapStart: the hook's work before the snapshot, then a restored environment's first request:",
        row("handler import + init", [r["import"] for r in snap]),
        row('warm_up(["optimize"]) (before the snapshot)', [r["warm_up"] for r in snap]),
        row("first /ai/optimize after it (restored env.)", [r["requests"][0] for r in snap]),
        f"    heavy modules loaded: at import {plain[0]['heavy_at_import'] or 'none'}; "
        f"after warm_up {snap[0]['heavy_at_warm'] or 'none'}",
        f"    candidates kept (first/second request of each process): {kept}",
        *(f"    run error: {error}" for error in errors),
    ]


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# ----------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100, help="warm invocations for (1)")
    parser.add_argument("--latency-runs", type=int, default=5, help="invocations per setting for (2)")
    parser.add_argument("--ttfb", default="0.1,0.2,0.3", help="times to first byte for (2), seconds, comma-separated")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per variant for (3)")
    parser.add_argument("--skip", default="", help="sections to skip, e.g. 3 or 1,2")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    from devserver.dynamo import create_tables, dynamodb_client, use_local_credentials
    from devserver.moto_process import moto_process
    from devserver.template import Stack

    use_local_credentials()
    with moto_process() as dynamodb_url, fake_llm_process() as (llm_url, model):
        environment = function_environment(dynamodb_url, llm_url)
        os.environ.update(environment)
        create_tables(dynamodb_client(dynamodb_url), Stack.load(ROOT / "template.yaml"))
        from devserver.modules import import_file

        print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
        with stdout_to_devnull():
            make_event = authorized_event()
            handler = import_file("bench_optimize_app", ROOT / "functions/optimize/app.py").handler
        if "1" not in skip:
            model.set(0.0, 0.0)
            with stdout_to_devnull():
                lines = overhead(handler, make_event, args.runs)
            print("\n".join(lines), flush=True)
        if "2" not in skip:
            ttfbs = [float(value) for value in args.ttfb.split(",")]
            with stdout_to_devnull():
                lines = [*latency(handler, make_event, model, ttfbs, args.latency_runs), cache_price_note(make_event)]
            print("\n".join(lines), flush=True)
        if "3" not in skip:
            model.set(0.0, 0.0)
            print("\n".join(cold(make_event, environment, args.cold_runs)), flush=True)
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
