"""XML-style sections of Claude-style replies: the well-formed case and every looseness the reader tolerates."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiservice.code.xml_sections import Section, find_sections, outside_sections, section

REPLY = """<thinking>
The loop is quadratic.
</thinking>
<code>
```python:pkg/a.py
def f(arr):
    return sorted(arr)
```
</code>
<explanation>sorted() is O(n log n).</explanation>"""


def test_sections_in_order_with_their_bodies_and_spans():
    found = find_sections(REPLY)
    assert [(s.tag, s.closed) for s in found] == [("thinking", True), ("code", True), ("explanation", True)]
    assert found[2].body == "sorted() is O(n log n)."
    assert REPLY[found[2].start : found[2].end] == "<explanation>sorted() is O(n log n).</explanation>"


def test_a_single_wrapping_fence_is_removed():
    assert section(REPLY, "code") == "def f(arr):\n    return sorted(arr)"


TWO_BLOCKS = "```python:a.py\nx = 1\n```\n```python:b.py\ny = 2\n```"


@pytest.mark.parametrize(
    ("body", "content"),
    [
        ("```\nx = 1\n```", "x = 1"),
        ("\n```py\nx = 1```\n", "x = 1"),  # no newline before the closing fence
        (TWO_BLOCKS, TWO_BLOCKS),  # not a single fence: left as it is
        ("\n\n    def m(self):\n        return 1\n\n", "def m(self):\n    return 1"),  # common indentation removed
        ("x = 1", "x = 1"),
    ],
)  # fmt: skip
def test_content(body, content):
    assert Section("code", body).content == content


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<code>x = 1\n<explanation>why</explanation>", [("code", "x = 1\n", False), ("explanation", "why", True)]),
        ("<explanation>why", [("explanation", "why", False)]),
        ("<thinking>hmm\n<code>x = 1</code>\n<thinking>more</thinking>",
         [("thinking", "hmm\n", False), ("code", "x = 1", True), ("thinking", "more", True)]),
        ("<code>a</code><code>b", [("code", "a", True), ("code", "b", False)]),
    ],
)  # fmt: skip
def test_a_missing_closing_tag_ends_at_the_next_known_section_or_the_end(text, expected):
    assert [(s.tag, s.body, s.closed) for s in find_sections(text)] == expected


def test_nothing_inside_a_section_is_read_as_a_tag():
    text = "<code>\nx: List<int> = a<b>c\nprint('<explanation>')\n</code>"
    assert [s.tag for s in find_sections(text)] == ["code"]


def test_a_closed_thinking_section_that_mentions_code_tags_holds_them():
    text = "<thinking>I will answer in <code> tags.</thinking><code>x = 1</code>"
    assert [(s.tag, s.body) for s in find_sections(text)] == [
        ("thinking", "I will answer in <code> tags."), ("code", "x = 1")
    ]  # fmt: skip


def test_outside_sections_an_unclosed_unknown_tag_is_text_and_a_closed_one_is_a_section():
    text = "Use Vec<T> here. <note>read me</note> <code>x</code>"
    assert [(s.tag, s.body) for s in find_sections(text)] == [("note", "read me"), ("code", "x")]


def test_attributes():
    text = """<code file="pkg/a.py" lang='python'>x = 1</code>"""
    assert find_sections(text)[0].attributes == {"file": "pkg/a.py", "lang": "python"}


@pytest.mark.parametrize("text", ["<CODE>x</CODE>", "<code>x</ code >", "<Code>x</code>"])
def test_tag_names_ignore_case_and_closing_tags_tolerate_spaces(text):
    assert section(text, "code") == "x"


def test_filter_by_tag_and_absent_sections():
    assert [s.body for s in find_sections(REPLY, "explanation")] == ["sorted() is O(n log n)."]
    assert section(REPLY, "summary") is None
    assert section("no tags at all", "code") is None


def test_outside_sections_cuts_them_out():
    thinking = find_sections(REPLY, "thinking")
    assert outside_sections(REPLY, thinking).startswith("\n<code>")
    assert outside_sections("a<x>b</x>c<y>d</y>e", find_sections("a<x>b</x>c<y>d</y>e")) == "ace"


@given(st.lists(st.sampled_from([*'<>/ab c\n`="', "<code>", "</code>", "<thinking>", "</explanation>"])).map("".join))
def test_any_text_is_read_without_error_into_ordered_disjoint_sections(text):
    found = find_sections(text)
    for earlier, later in itertools.pairwise(found):
        assert earlier.end <= later.start
    for s in found:
        assert s.body in text[s.start : s.end]
