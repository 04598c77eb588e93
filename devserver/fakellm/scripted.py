"""A scripted model: canned replies chosen by what the request says, for `make run --llm-script DIR`, the demo
and the real-CLI tests; optionally with seeded provider faults, for soak tests through `make run` itself.

DIR holds `script.json` and the reply files it names:

    {"rules": [
        {"when": "Write candidate 1\\b", "reply": "optimize_1.md"},
        {"when": "regression tests", "reply": "testgen.md"}
    ],
     "faults": {"rate": 0.3, "seed": 7, "kinds": ["rate_limited", "server_error", "overloaded"]}}

Each request's text (its system prompt and messages, whichever protocol) is searched with each rule's `when`
regular expression in order; the first match answers with its file's text. A request no rule matches gets the
offline demo model's answer. The reply files are plain text, exactly what a model would have written.

`faults` (optional): each provider request, in arrival order, draws from one `random.Random(seed)`; with
probability `rate` it gets a fault of a kind drawn uniformly from `kinds` (default: all of FAULT_KINDS) instead
of its reply. The sequence of draws is fixed by the seed; which request gets which draw follows the order the
requests arrive in. Options: `retry_after_s` (0.5: the `retry-after` of `rate_limited`), `timeout_s` (60: how
long `timeout` holds the request before answering; longer than a handler's deadline, it is cut off there).
Every injected fault is counted (`ScriptedModel.injected`), and with a `faults` section every request's draw is
printed on stdout as one JSON line, `{"message": "fakellm_request", "request": n, "fault": <kind> or null,
"protocol": ..., "model": ..., "stream": ...}`, so that whoever reads the stack's output (bench/soak.py) knows
what was injected, and into how many requests.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devserver.console import line
from devserver.fakellm.script import Fault, RecordedRequest, Reply, demo_reply

# Each kind of fault a `faults` section may name, as the fake server's Fault that answers the request.
FAULT_KINDS: dict[str, Callable[[FaultPlan, RecordedRequest], Fault]] = {
    "rate_limited": lambda plan, _request: Fault.status(429, retry_after=plan.retry_after_s),  # 429 + retry-after
    "server_error": lambda _plan, _request: Fault.status(500),
    "overloaded": lambda _plan, _request: Fault.overloaded(),  # Bedrock 529 overloaded_error; Azure/OpenAI 503
    "timeout": lambda plan, _request: Fault.timeout(plan.timeout_s),
    "drop": lambda _plan, request: Fault.drop(midstream=request.stream),  # a stream dropped after it began
    "malformed": lambda _plan, _request: Fault.malformed(),
    "stream_error": lambda _plan, _request: Fault.stream_error(),  # a 500 for a request that does not stream
}


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    reply: str


@dataclass(frozen=True)
class FaultPlan:
    """The `faults` section of a script.json."""

    rate: float
    seed: int
    kinds: tuple[str, ...]
    retry_after_s: float = 0.5
    timeout_s: float = 60.0

    @classmethod
    def of(cls, section: Mapping[str, Any]) -> FaultPlan:
        unknown = set(section) - {"rate", "seed", "kinds", "retry_after_s", "timeout_s"}
        if unknown:
            raise ValueError(f"script.json faults: unknown keys {sorted(unknown)}")
        rate = float(section["rate"])
        if not 0 <= rate <= 1:
            raise ValueError(f"script.json faults: rate {rate} is not between 0 and 1")
        kinds = tuple(section.get("kinds") or FAULT_KINDS)
        wrong = [kind for kind in kinds if kind not in FAULT_KINDS]
        if wrong or not kinds:
            raise ValueError(f"script.json faults: unknown kinds {wrong}; known: {sorted(FAULT_KINDS)}")
        return cls(
            rate=rate,
            seed=int(section.get("seed", 0)),
            kinds=kinds,
            retry_after_s=float(section.get("retry_after_s", cls.retry_after_s)),
            timeout_s=float(section.get("timeout_s", cls.timeout_s)),
        )


class ScriptedModel:
    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        script = json.loads((folder / "script.json").read_text(encoding="utf-8"))
        self.rules = [
            _Rule(re.compile(rule["when"]), (folder / rule["reply"]).read_text(encoding="utf-8"))
            for rule in script["rules"]
        ]
        self.faults = FaultPlan.of(script["faults"]) if script.get("faults") else None
        self.injected: Counter[str] = Counter()  # faults injected, by kind
        self.requests = 0  # requests answered (first answers only, see below)
        self._random = random.Random(self.faults.seed if self.faults else 0)
        self._lock = threading.Lock()
        # The server asks again for the reply a `timeout` or a midstream `drop` sends late (or in part): that
        # request gets its reply, without another draw. Keyed by id(), the request held so that its id stays its own.
        self._late: dict[int, tuple[RecordedRequest, Reply]] = {}

    def __call__(self, request: RecordedRequest) -> Reply | Fault:
        with self._lock:
            late = self._late.get(id(request))
            if late is not None and late[0] is request:
                del self._late[id(request)]
                return late[1]
            self.requests += 1
            number = self.requests
            kind = self._draw()
        reply = self.reply(request)
        if self.faults is None:
            return reply
        record = {
            "message": "fakellm_request",
            "request": number,
            "fault": kind,
            "protocol": request.protocol,
            "model": request.model,
            "stream": request.stream,
        }
        line(json.dumps(record), sys.stdout)  # one write: the workers share this stdout (devserver.console)
        if kind is None:
            return reply
        fault = FAULT_KINDS[kind](self.faults, request)
        with self._lock:
            self.injected[kind] += 1
            if fault.kind == "timeout" or (fault.kind == "drop" and fault.midstream):
                self._late[id(request)] = (request, reply)
        return fault

    def reply(self, request: RecordedRequest) -> Reply:
        """The scripted reply to a request (the first matching rule's), or the demo model's."""
        text = request_text(request.body)
        for rule in self.rules:
            if rule.pattern.search(text):
                return Reply(text=rule.reply)
        return demo_reply(request)

    def _draw(self) -> str | None:
        """This request's fault kind, or None; under the lock, so that the draws follow the arrival order."""
        if self.faults is None:
            return None
        faulted = self._random.random() < self.faults.rate
        kind = self._random.choice(self.faults.kinds)  # drawn either way: one request, two draws, always
        return kind if faulted else None


def request_text(body: object) -> str:
    """The system prompt and every message's text, in order, for either message format."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []

    def add(content: object) -> None:
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(part["text"])

    add(body.get("system"))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            add(message.get("content"))
    return "\n".join(parts)
