"""The scripted model's optional seeded `faults` section (devserver/fakellm/scripted.py), which makes `make run`
itself fail a share of the provider calls for the fault soak."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devserver.fakellm.script import Fault, RecordedRequest, Reply
from devserver.fakellm.scripted import FAULT_KINDS, ScriptedModel


def model_in(folder: Path, faults: dict[str, Any] | None = None) -> ScriptedModel:
    (folder / "one.md").write_text("candidate one")
    script: dict[str, Any] = {"rules": [{"when": "Write candidate 1\\b", "reply": "one.md"}]}
    if faults is not None:
        script["faults"] = faults
    (folder / "script.json").write_text(json.dumps(script))
    return ScriptedModel(folder)


def request(text: str = "Write candidate 1.", *, stream: bool = False) -> RecordedRequest:
    return RecordedRequest(
        protocol="bedrock",
        method="POST",
        path="/model/m/invoke",
        query={},
        model="m",
        stream=stream,
        body={"messages": [{"role": "user", "content": text}]},
        headers={},
        connection=1,
        received_at=0.0,
    )


def outcomes(model: ScriptedModel, count: int) -> list[str]:
    answers = [model(request()) for _ in range(count)]
    return ["reply" if isinstance(answer, Reply) else answer.kind for answer in answers]


def test_without_faults_the_rules_answer_as_before(tmp_path, capsys):
    model = model_in(tmp_path)
    answer = model(request())
    assert isinstance(answer, Reply) and answer.text == "candidate one"
    assert model.faults is None and not model.injected
    assert capsys.readouterr().out == ""  # nothing printed without a faults section


def test_faults_are_drawn_from_the_seed_at_the_rate(tmp_path, capsys):
    faults = {"rate": 0.3, "seed": 7}
    first = outcomes(model_in(tmp_path, faults), 400)
    second = outcomes(model_in(tmp_path, faults), 400)
    other_seed = outcomes(model_in(tmp_path, {**faults, "seed": 8}), 400)
    assert first == second != other_seed  # deterministic per seed, in arrival order
    assert 0.22 < 1 - first.count("reply") / 400 < 0.38
    # Every kind by default; each request's draw printed as one JSON line for whoever reads the stack's output.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["request"] for line in lines[:400]] == list(range(1, 401))
    assert [line["fault"] is None for line in lines[:400]] == [outcome == "reply" for outcome in first]
    assert {line["fault"] for line in lines} == {*FAULT_KINDS, None}
    assert all(line["message"] == "fakellm_request" for line in lines)


def test_each_kind_is_the_fault_it_names(tmp_path):
    expected = {
        "rate_limited": ("status", 429),
        "server_error": ("status", 500),
        "overloaded": ("overloaded", 0),
        "timeout": ("timeout", 0),
        "drop": ("drop", 0),
        "malformed": ("malformed", 0),
        "stream_error": ("stream_error", 0),
    }
    for kind, (fault_kind, status) in expected.items():
        model = model_in(tmp_path, {"rate": 1, "seed": 1, "kinds": [kind], "retry_after_s": 0.25, "timeout_s": 9})
        fault = model(request())
        assert isinstance(fault, Fault) and (fault.kind, fault.status_code) == (fault_kind, status)
        assert model.injected == {kind: 1}
        if kind == "rate_limited":
            assert fault.retry_after == 0.25
        if kind == "timeout":
            assert fault.seconds == 9


def test_a_late_answer_is_the_requests_reply_without_another_draw(tmp_path):
    # The server asks again for what a timeout sends late and a dropped stream sends in part.
    for kind, stream in (("timeout", False), ("drop", True)):
        model = model_in(tmp_path, {"rate": 1, "seed": 1, "kinds": [kind]})
        held = request(stream=stream)
        fault = model(held)
        assert isinstance(fault, Fault) and fault.kind == kind
        late = model(held)
        assert isinstance(late, Reply) and late.text == "candidate one"
        assert model.requests == 1 and model.injected == {kind: 1}


@pytest.mark.parametrize(
    "faults",
    [{"rate": 1.5}, {"rate": 0.3, "kinds": ["gremlins"]}, {"rate": 0.3, "sede": 7}, {"seed": 7}],
)
def test_a_wrong_faults_section_is_refused(tmp_path, faults):
    with pytest.raises((ValueError, KeyError)):
        model_in(tmp_path, faults)
