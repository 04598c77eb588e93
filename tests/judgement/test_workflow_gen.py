"""POST /ai/workflow-gen: the steps as YAML that parses (written without a YAML library in the layer), fitted
to the repository files; an unusable model answer is a JSON error (the client falls back to its template)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from devserver.fakellm import FakeLLMServer
from devserver.fakellm.script import Reply, last_user_text
from tests.pipelines.harness import Api

REQUEST = json.loads((Path(__file__).parent / "fixtures/workflow_gen_request.json").read_text())
UV_STEPS = {
    "steps": [
        {"name": "Check out", "uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},
        {"name": "Set up uv", "uses": "astral-sh/setup-uv@v6", "with": {"python-version": "3.11"}},
        {"name": "Install the project and codeflash", "run": "uv sync --all-groups\nuv pip install codeflash"},
        {"name": "Optimize", "run": "uv run codeflash"},  # the client adds this step itself: dropped
    ]
}


def client_splice(steps_yaml: str) -> list[dict[str, Any]]:
    """What the client does with the answer (github_workflow.py, read not copied): strip `steps:`, indent every
    line with fewer than 8 spaces to 8, put the lines under `    steps:` of its job."""
    content = steps_yaml[6:].lstrip("\n") if steps_yaml.startswith("steps:") else steps_yaml
    lines = []
    for line in content.split("\n"):
        indent = len(line) - len(line.lstrip())
        lines.append(line if not line.strip() or indent >= 8 else " " * 8 + line.lstrip())
    job = "jobs:\n  optimize:\n    runs-on: ubuntu-latest\n    steps:\n" + "\n".join(lines)
    return yaml.safe_load(job)["jobs"]["optimize"]["steps"]


@pytest.mark.usefixtures("llm")
def test_the_steps_parse_and_fit_the_repository(api: Api, key: str, llm: FakeLLMServer) -> None:
    llm.default_reply = lambda request: Reply(text=json.dumps(UV_STEPS))
    reply = api.call("WorkflowGenFunction", REQUEST, key)
    assert reply.status == 200
    text = reply.body["workflow_steps"]
    steps = yaml.safe_load(text)["steps"]
    assert [step["name"] for step in steps] == ["Check out", "Set up uv", "Install the project and codeflash"]
    assert steps[0] == {"name": "Check out", "uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    assert steps[2]["run"] == "uv sync --all-groups\nuv pip install codeflash"
    assert client_splice(text) == steps  # survives the client's re-indentation
    prompt = last_user_text(llm.requests[0].body)
    assert "requires-python" in prompt and "uv sync --all-groups" in prompt  # pyproject and the existing CI
    assert "uv.lock" in prompt and "# mypkg" not in prompt  # a lock file named, the README left out


@pytest.mark.usefixtures("llm")
@pytest.mark.parametrize(
    "plan",
    [
        {"steps": [{"name": "Install", "run": "pip install ."}]},  # no checkout
        {"steps": [{"name": "Both", "uses": "actions/checkout@v4", "run": "ls"}]},  # uses and run
        {"steps": []},
        "steps:\n  - run: pip install .",  # YAML instead of the JSON asked for
    ],
)
def test_unusable_steps_are_a_json_error(api: Api, key: str, llm: FakeLLMServer, plan: Any) -> None:
    llm.default_reply = lambda request: Reply(text=plan if isinstance(plan, str) else json.dumps(plan))
    reply = api.call("WorkflowGenFunction", REQUEST, key)
    assert 400 <= reply.status < 600 and reply.error


_TEXT = st.text(st.characters(codec="utf-8"), max_size=80)  # any text but lone surrogates


@settings(max_examples=200, deadline=None)
@given(name=_TEXT, run=_TEXT, value=st.one_of(_TEXT, st.integers(), st.booleans()))
def test_the_yaml_writer_round_trips_any_text(name: str, run: str, value: Any) -> None:
    from aiservice.pipelines.workflow import Step, to_yaml

    steps = [
        Step.model_validate(
            {"name": name or "n", "uses": "actions/setup-python@v5", "with": {"python-version": value}}
        ),  # fmt: skip
        Step.model_validate({"name": "script", "run": run or "true", "env": {"A_B": run}}),
    ]
    loaded = yaml.safe_load(to_yaml(steps))["steps"]
    assert loaded[0] == {"name": name or "n", "uses": "actions/setup-python@v5", "with": {"python-version": value}}
    assert loaded[1]["run"] == (run or "true").strip("\n")
    assert loaded[1]["env"] == {"A_B": run}
