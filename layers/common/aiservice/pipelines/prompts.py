"""Prompt templates: the `.md` files in prompts/ beside this module, read once per execution environment.

A template names its values as `{{name}}`; rendering fills every one of them and refuses a template that names a
value it was not given, or a value nobody uses (a typo in either place would otherwise ship a broken prompt).
Values are inserted as they are, so code with braces needs no escaping.

Templates may differ per language: `render(name, language=...)` takes `prompts/<language>/<name>.md` when there is
one, else the next language of its fallback chain (TypeScript falls back to JavaScript), else the generic
`prompts/<name>.md` (written for Python). `language` also fills a `{{language}}` placeholder where the chosen
template has one; a language variant may leave out values only the generic template needs (Python's JIT rule).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).with_name("prompts")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# The languages whose templates a language may use, in order, before the generic one.
_FALLBACKS = {"typescript": ("typescript", "javascript")}
_LANGUAGE_NAME = re.compile(r"[a-z]+")


class PromptError(LookupError):
    """A template that does not exist, or values that do not match its placeholders."""


@cache
def template(name: str, language: str | None = None) -> str:
    """The template's text: the language's own version if it has one (see the module's docstring)."""
    return _path(name, language).read_text(encoding="utf-8")


@cache
def _path(name: str, language: str | None) -> Path:
    code = (language or "").lower()
    chain = _FALLBACKS.get(code, (code,)) if _LANGUAGE_NAME.fullmatch(code) else ()
    for candidate in (*(FOLDER / variant / f"{name}.md" for variant in chain), FOLDER / f"{name}.md"):
        if candidate.is_file():
            return candidate
    raise PromptError(f"no prompt template {name!r} in {FOLDER}")


def placeholders(name: str, language: str | None = None) -> set[str]:
    return set(_PLACEHOLDER.findall(template(name, language)))


def render(name: str, language: str | None = None, **values: str) -> str:
    text = template(name, language)
    wanted = placeholders(name, language)
    if language is not None and "language" in wanted:
        values["language"] = language
    if missing := wanted - values.keys():
        raise PromptError(f"prompt {name!r} needs {sorted(missing)}")
    if unused := values.keys() - wanted - placeholders(name):
        raise PromptError(f"prompt {name!r} has no placeholder for {sorted(unused)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text).strip() + "\n"


def section(title: str, body: str | None, *, fence: str | None = None) -> str:
    """An optional part of a prompt: `## title` and the body, or nothing when the body is empty."""
    if not body or not body.strip():
        return ""
    text = f"```{fence}\n{body.strip()}\n```" if fence is not None else body.strip()
    return f"## {title}\n\n{text}\n"
