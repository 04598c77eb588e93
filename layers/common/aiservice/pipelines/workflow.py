"""POST /ai/workflow-gen (`codeflash init-actions`): the steps of a GitHub Actions job that installs the project
the way its files say, for codeflash to run in.

The model answers through structured output (a list of steps, validated by pydantic), and this module writes
the YAML itself: every scalar double-quoted as a JSON string (a JSON string is a valid YAML double-quoted
scalar), multi-line scripts as literal blocks. So the layer needs no YAML library, and the output parses by
construction (the tests parse it with PyYAML). Items are indented by 8 spaces under `steps:`: the client strips
`steps:` and re-indents every line with fewer than 8 spaces to 8, which would flatten shallower nesting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiservice.errors import NoValidCandidate
from aiservice.llm.errors import LLMCallFailed
from aiservice.llm.routing import route_for
from aiservice.llm.types import LLMResult
from aiservice.observability import logger
from aiservice.pipelines.generation import spread
from aiservice.pipelines.judgement import run_structured
from aiservice.pipelines.prompts import render
from aiservice.pipelines.schemas import WorkflowGenRequest, WorkflowGenResponse
from aiservice.pipelines.scope import Scope

MAX_FILE_CHARS = 8_000
MAX_FILES_CHARS = 48_000
MAX_STEPS = 20
ITEM_INDENT = 8
# What tells how a Python project is installed; anything else the client sends is left out of the prompt.
_RELEVANT = re.compile(
    r"(^|/)(pyproject\.toml|setup\.py|setup\.cfg|requirements[^/]*\.(txt|in)|requirements/[^/]+\.(txt|in)|Pipfile"
    r"|tox\.ini|noxfile\.py|\.python-version|environment\.ya?ml|Makefile|Dockerfile)$"
    r"|^\.github/workflows/[^/]+\.ya?ml$",
    re.IGNORECASE,
)
_LOCK_FILES = re.compile(r"(^|/)(poetry\.lock|uv\.lock|Pipfile\.lock|pdm\.lock)$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_ACTION = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[A-Za-z0-9_.-]+$")
_CODEFLASH_RUN = re.compile(r"^\s*(uv run |poetry run |pipenv run )?codeflash(\s|$)", re.MULTILINE)


class Step(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    uses: str | None = Field(None, description="an action, e.g. actions/setup-python@v5")
    with_: dict[str, str | int | float | bool] | None = Field(None, alias="with", description="the action's inputs")
    run: str | None = Field(None, description="shell commands")
    env: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if (self.uses is None) == (self.run is None):
            raise ValueError("a step has exactly one of `uses` and `run`")
        if self.uses is not None and not _ACTION.match(self.uses.strip()):
            raise ValueError(f"`uses` is not owner/action@version: {self.uses!r}")
        if self.with_ and self.uses is None:
            raise ValueError("`with` belongs to a step that `uses` an action")
        for key in (*(self.with_ or {}), *(self.env or {})):
            if not _KEY.match(key):
                raise ValueError(f"not a valid input or variable name: {key!r}")
        return self


class WorkflowPlan(BaseModel):
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)


def workflow_gen(request: WorkflowGenRequest, scope: Scope) -> WorkflowGenResponse:
    route = route_for("workflow_gen", scope.principal)
    user = render(
        "workflow_user",
        config=json.dumps(request.codeflash_config.model_dump(), indent=2),
        layout=layout(request.directory_structure),
        files=files_section(request.repo_files),
    )
    conversation = [{"role": "system", "content": render("workflow_system")}, {"role": "user", "content": user}]
    # Not part of an optimization run: no trace to bill to or to log errors under.
    (result,) = run_structured(scope, route, "workflow_gen", None, spread(route, [conversation])[:1], WorkflowPlan)
    if not isinstance(result, LLMResult):
        logger.warning("workflow-gen: no usable answer", extra={"error": f"{type(result).__name__}: {result}"[:500]})
        if isinstance(result, LLMCallFailed):
            raise NoValidCandidate(f"no usable workflow steps from the model: {result}")
        raise result
    steps = [step for step in result.parsed.steps if not (step.run and _CODEFLASH_RUN.search(step.run))]
    if not any((step.uses or "").startswith("actions/checkout@") for step in steps):
        raise NoValidCandidate("the model's workflow steps do not check the repository out")
    return WorkflowGenResponse(workflow_steps=to_yaml(steps))


def files_section(repo_files: dict[str, str]) -> str:
    parts: list[str] = []
    locks = sorted(path for path in repo_files if _LOCK_FILES.search(path))
    budget = MAX_FILES_CHARS
    for path in sorted(repo_files):
        if not _RELEVANT.search(path) or budget <= 0:
            continue
        content = repo_files[path][: min(MAX_FILE_CHARS, budget)]
        budget -= len(content)
        parts.append(f"### {path}\n\n````\n{content.strip()}\n````")
    if locks:
        parts.append("Lock files present (content omitted): " + ", ".join(locks))
    return "\n\n".join(parts) or "(none sent)"


def layout(tree: dict[str, Any], depth: int = 0, limit: list[int] | None = None) -> str:
    """The directory structure as an indented listing, two levels, at most 200 entries."""
    budget = limit if limit is not None else [200]
    lines: list[str] = []
    for name in sorted(tree):
        if budget[0] <= 0:
            lines.append("  " * depth + "...")
            break
        budget[0] -= 1
        value = tree[name]
        is_dir = isinstance(value, dict) and value.get("type") != "file"
        lines.append("  " * depth + f"{name}{'/' if is_dir else ''}")
        if is_dir and depth < 1:
            nested = layout({k: v for k, v in value.items() if k != "type"}, depth + 1, budget)
            if nested:
                lines.append(nested)
    return "\n".join(lines) or "(none sent)"


# ---------------------------------------------------------------- YAML, written without a YAML library


# What YAML allows unescaped in a stream (besides tab, LF, CR): everything else is written as \uXXXX.
# NEL and the Unicode line and paragraph separators are line breaks to YAML 1.1 (folded to a space in a quoted
# scalar), and a BOM may be dropped: escaped as well.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def scalar(value: str | int | float | bool) -> str:
    """A YAML scalar: booleans and numbers as such, strings double-quoted with JSON's escapes (valid YAML
    double-quoted escapes), characters YAML does not allow in a stream escaped too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return _NOT_PRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))


def _block(value: str, indent: int) -> str:
    """A multi-line string as a literal block, when that keeps it exact; else a quoted scalar."""
    lines = value.split("\n")
    if (
        "\r" in value
        or "\t" in value
        or _NOT_PRINTABLE.search(value)
        or value[:1].isspace()
        or any(line != line.rstrip() for line in lines)
        or value.endswith("\n\n")
    ):
        return scalar(value)
    chomp = "" if value.endswith("\n") else "-"
    body = value[:-1] if value.endswith("\n") else value
    pad = " " * indent
    return f"|{chomp}\n" + "\n".join(pad + line if line else "" for line in body.split("\n"))


def to_yaml(steps: list[Step]) -> str:
    pad = " " * ITEM_INDENT
    inner = pad + "  "
    out = ["steps:"]
    for step in steps:
        out.append(f"{pad}- name: {scalar(step.name)}")
        if step.uses is not None:
            out.append(f"{inner}uses: {scalar(step.uses.strip())}")
        if step.with_:
            out.append(f"{inner}with:")
            out += [f"{inner}  {key}: {scalar(value)}" for key, value in step.with_.items()]
        if step.env:
            out.append(f"{inner}env:")
            out += [f"{inner}  {key}: {scalar(value)}" for key, value in step.env.items()]
        if step.run is not None:
            run_text = step.run.strip("\n")
            value = _block(run_text, len(inner) + 2) if "\n" in run_text else scalar(run_text)
            out.append(f"{inner}run: {value}")
    return "\n".join(out) + "\n"
