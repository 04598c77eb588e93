"""A scripted model: canned replies chosen by what the request says, for `make run --llm-script DIR`, the demo
and the real-CLI tests.

DIR holds `script.json` and the reply files it names:

    {"rules": [
        {"when": "Write candidate 1\\b", "reply": "optimize_1.md"},
        {"when": "regression tests", "reply": "testgen.md"}
    ]}

Each request's text (its system prompt and messages, whichever protocol) is searched with each rule's `when`
regular expression in order; the first match answers with its file's text. A request no rule matches gets the
offline demo model's answer. The reply files are plain text, exactly what a model would have written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from devserver.fakellm.script import RecordedRequest, Reply, demo_reply


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    reply: str


class ScriptedModel:
    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        script = json.loads((folder / "script.json").read_text(encoding="utf-8"))
        self.rules = [
            _Rule(re.compile(rule["when"]), (folder / rule["reply"]).read_text(encoding="utf-8"))
            for rule in script["rules"]
        ]

    def __call__(self, request: RecordedRequest) -> Reply:
        text = request_text(request.body)
        for rule in self.rules:
            if rule.pattern.search(text):
                return Reply(text=rule.reply)
        return demo_reply(request)


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
