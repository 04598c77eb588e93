"""Prompt templates: the `.md` files in prompts/ beside this module, read once per execution environment.

A template names its values as `{{name}}`; rendering fills every one of them and refuses a template that names a
value it was not given, or a value nobody uses (a typo in either place would otherwise ship a broken prompt).
Values are inserted as they are, so code with braces needs no escaping.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).with_name("prompts")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class PromptError(LookupError):
    """A template that does not exist, or values that do not match its placeholders."""


@cache
def template(name: str) -> str:
    path = FOLDER / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"no prompt template {name!r} in {FOLDER}")
    return path.read_text(encoding="utf-8")


def placeholders(name: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template(name)))


def render(name: str, **values: str) -> str:
    text = template(name)
    wanted = placeholders(name)
    if missing := wanted - values.keys():
        raise PromptError(f"prompt {name!r} needs {sorted(missing)}")
    if unused := values.keys() - wanted:
        raise PromptError(f"prompt {name!r} has no placeholder for {sorted(unused)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text).strip() + "\n"


def section(title: str, body: str | None, *, fence: str | None = None) -> str:
    """An optional part of a prompt: `## title` and the body, or nothing when the body is empty."""
    if not body or not body.strip():
        return ""
    text = f"```{fence}\n{body.strip()}\n```" if fence is not None else body.strip()
    return f"## {title}\n\n{text}\n"
