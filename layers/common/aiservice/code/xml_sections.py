"""XML-style sections in Claude-style replies: `<thinking>...</thinking>`, `<code>...</code>`, `<explanation>`.

Models are loose with them, so the reader is tolerant: a missing closing tag ends the section at the next
opening tag of a known section (or at the end), a fence wrapping the body is removed, attributes are read
(`<code file="a.py">`), repeated tags all count. Nothing inside a section is read as a tag, so code such as
`List<int>` or `a<b>` cannot open a section of its own; outside sections, a tag with no closing tag is text.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

# Sections that may end without a closing tag. Any other tag counts only when it is closed.
KNOWN_SECTIONS = frozenset({"code", "explanation", "thinking", "reasoning", "analysis", "summary", "tests"})

_OPENING = re.compile(r"""<([A-Za-z_][\w.-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*>""")
_ATTRIBUTE = re.compile(r"""([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# A body that is one fenced block: the fence's info line, the code, the closing fence.
_FENCED = re.compile(r"```[^\n`]*\n(.*?)\n?```", re.DOTALL)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Section:
    tag: str  # lower-cased
    body: str  # exactly as written between the tags
    attributes: dict[str, str] = field(default_factory=dict)
    closed: bool = True
    start: int = 0  # the span in the text, opening tag to closing tag
    end: int = 0

    @property
    def content(self) -> str:
        """The body without its wrapping fence (if it is a single fenced block), blank lines around it and common
        indentation."""
        body = self.body.strip()
        fenced = _FENCED.fullmatch(body)
        if fenced and "\n```" not in fenced.group(1):
            return textwrap.dedent(fenced.group(1)).rstrip()
        return textwrap.dedent(_LEADING_BLANK_LINES.sub("", self.body)).rstrip()


def find_sections(text: str, tag: str | None = None, known: Collection[str] = KNOWN_SECTIONS) -> list[Section]:
    """Every section in order, or only those named `tag`. `known` names the sections that may be left open."""
    known = frozenset(known)
    sections: list[Section] = []
    never_closed: set[str] = set()  # a closing tag missing after one position is missing after every later one
    position = 0
    while opening := _OPENING.search(text, position):
        name = opening.group(1).lower()
        closing = None if name in never_closed else _closing(name).search(text, opening.end())
        if closing is None:
            never_closed.add(name)
        reopening = _opening(name).search(text, opening.end())
        if closing and not (reopening and reopening.start() < closing.start()):
            body_end, end, closed = closing.start(), closing.end(), True
        elif name in known:
            following = _any_opening(known).search(text, opening.end())
            body_end = end = following.start() if following else len(text)
            closed = False
        else:
            position = opening.end()
            continue
        attributes = {key: double or single for key, double, single in _ATTRIBUTE.findall(opening.group(2))}
        sections.append(Section(name, text[opening.end() : body_end], attributes, closed, opening.start(), end))
        position = end
    return [section for section in sections if tag is None or section.tag == tag.lower()]


def section(text: str, tag: str) -> str | None:
    """The content of the first `tag` section, or None if there is none."""
    found = find_sections(text, tag)
    return found[0].content if found else None


def outside_sections(text: str, sections: list[Section]) -> str:
    """The text with those sections cut out."""
    pieces, position = [], 0
    for cut in sorted(sections, key=lambda section: section.start):
        pieces.append(text[position : cut.start])
        position = max(position, cut.end)
    pieces.append(text[position:])
    return "".join(pieces)


@lru_cache(maxsize=64)
def _closing(name: str) -> re.Pattern[str]:
    return re.compile(rf"</\s*{re.escape(name)}\s*>", re.IGNORECASE)


@lru_cache(maxsize=64)
def _opening(name: str) -> re.Pattern[str]:
    return re.compile(rf"<{re.escape(name)}(?=[\s>])[^<>]*>", re.IGNORECASE)


@lru_cache(maxsize=8)
def _any_opening(names: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(sorted(map(re.escape, names)))
    return re.compile(rf"<(?:{alternatives})(?=[\s>])[^<>]*>", re.IGNORECASE)
