"""Concurrent requests of one user through the whole local stack (the API Gateway emulator, the authorizer and
the optimize function in their own worker processes, as Lambda execution environments; moto; the fake
providers) against an allowance that covers only a few of them: never overspent, refusals are JSON 402s."""

from __future__ import annotations

import http.client
import json
import threading
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import pytest

from aiservice.admin import create_key
from aiservice.llm.cost import cost_of
from aiservice.store.keys import KeyStore
from aiservice.store.usage import Admission, UsageStore
from devserver.fakellm import Reply, bedrock
from devserver.runtime import Concurrency
from devserver.template import Stack, load_template
from tests.conftest import ROOT
from tests.devserver.devserver_harness import running_emulator
from tests.money.ledger import SORTED, allowance, assert_released, billed_today, body_of
from tests.pipelines.harness import Api

THREADS = 8
# Each answer costs about 0.6 of the request's worst case: the allowance (2.5 worst cases) admits at most two
# requests at once, and at most three in all.
ANSWER = Reply(text=SORTED, input_tokens=1000, output_tokens=5000)


def estimate_of_one_request(api: Api, key: str, llm: Any, monkeypatch: pytest.MonkeyPatch) -> Decimal:
    """What one /ai/optimize request with n_candidates=1 reserves, read off an in-process call's admission."""
    seen: list[Decimal] = []
    admit = UsageStore.admit

    def spy(self: UsageStore, admission: Admission, now: Any = None) -> Any:
        seen.append(admission.estimate_usd)
        return admit(self, admission, now)

    with monkeypatch.context() as patch:
        patch.setattr(UsageStore, "admit", spy)
        assert api.call("OptimizeFunction", body_of("03_ai_optimize", n_candidates=1), key).status == 200
    (estimate,) = seen
    return estimate


def local_stack(folder: Path) -> Stack:
    """template.yaml with absolute code paths and room for cold starts: on a loaded machine a worker's first
    import can take longer than the authorizer's 5 s timeout, which a deployed Lambda's init phase never counts."""
    template = load_template(ROOT / "template.yaml")
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(name), str):
                properties[name] = str(ROOT / properties[name])
    template["Resources"]["AuthorizerFunction"]["Properties"]["Timeout"] = 120
    path = folder / "template.json"  # JSON is YAML
    path.write_text(json.dumps(template))
    overrides = {"AuthorizerCacheTtlSeconds": 0, "LlmFunctionTimeoutSeconds": 180, "ApiIntegrationTimeoutMs": 150000}
    return Stack.load(path, overrides)


def post(host: str, port: int, body: str, headers: dict[str, str]) -> tuple[int, str, Any]:
    connection = http.client.HTTPConnection(host, port, timeout=170)
    try:
        connection.request("POST", "/ai/optimize", body=body, headers={"Connection": "close", **headers})
        response = connection.getresponse()
        return response.status, response.getheader("content-type") or "", json.loads(response.read())
    finally:
        connection.close()


def test_concurrent_requests_of_one_user_never_spend_past_the_allowance(
    api: Api, key: str, llm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    llm.default_reply = lambda request: ANSWER
    llm.latency_s = 0.5  # requests overlap
    estimate = estimate_of_one_request(api, key, llm, monkeypatch)
    limit = (estimate * Decimal("2.5")).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)

    user_id = f"conc-{key[-10:]}"
    plaintext, _ = create_key(KeyStore(), user_id=user_id, org_id=None, plan="pro", privacy_mode=False, label=None)
    KeyStore().set_user_allowance(user_id, limit)
    body = json.dumps(body_of("03_ai_optimize", n_candidates=1))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {plaintext}"}

    stack = local_stack(tmp_path)
    llm.reset()
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    def watch() -> None:  # the allowance item while the requests run
        store = UsageStore()
        while not done.is_set():
            item = store.allowance("USER", user_id, allowance_period())
            if item is not None:
                seen.append(item)
            done.wait(0.02)

    with running_emulator(stack, Concurrency(limit=3, queue=THREADS, queue_wait_s=170)) as client:
        start = threading.Barrier(THREADS)
        replies: list[tuple[int, str, Any]] = [(0, "", None)] * THREADS

        def send(index: int) -> None:
            start.wait()
            replies[index] = post(client.host, client.port, body, headers)

        watcher = threading.Thread(target=watch)
        threads = [threading.Thread(target=send, args=(index,)) for index in range(THREADS)]
        watcher.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        done.set()
        watcher.join()

    statuses = sorted(status for status, _, _ in replies)
    succeeded = statuses.count(200)
    assert 1 <= succeeded <= 3 and statuses.count(402) == THREADS - succeeded, replies
    for status, content_type, answer in replies:
        if status == 402:
            assert content_type.startswith("application/json")
            assert "allowance" in answer["error"]

    assert seen, "the watcher never saw the allowance item"
    for item in seen:  # at no moment more spent and held than the limit
        assert Decimal(item.get("spent_usd", 0)) + Decimal(item.get("reserved_usd", 0)) <= limit, item
    assert max(item.get("reservations", 0) for item in seen) <= 2

    assert_released(user_id, None)
    spent = Decimal(allowance("USER", user_id)["spent_usd"])
    usage = bedrock.usage(llm.requests[0], ANSWER)
    assert len(llm.requests) == succeeded  # refused requests never reached a model
    assert spent == succeeded * cost_of("claude-sonnet-4-5", usage).total_usd <= limit
    (row,) = billed_today(user_id).values()
    assert (row["calls"], Decimal(row["cost_usd"])) == (succeeded, spent)


def allowance_period() -> str:
    from datetime import UTC, datetime

    from aiservice.store.usage import month_of

    return month_of(datetime.now(UTC))
