"""CodeStringsMarkdown against the client's behaviour (contract §4 and the verified cases of sample 18), the exact
emitted layout, what emit() refuses, and the properties: parsing never fails, and whatever we emit parses back
to what we emitted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiservice.code.markdown import (
    EXTENSIONS,
    LANGUAGES,
    MARKDOWN_BLOCK,
    CodeString,
    CodeStringsMarkdown,
    MarkdownError,
    language_of_path,
    language_of_tag,
    normalise_path,
)
from aiservice.code.syntax import CodeSyntaxError, check_python

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "codeflash-samples"
PARSE_CASES = [case for case in json.loads((SAMPLES / "18_markdown_parse_cases.json").read_text())["cases"]
               if case["input"].startswith(("```", "Here"))]  # fmt: skip


def client_outcome(text: str) -> list[list] | str:
    """What the client makes of `text`, predicted from our parse: EXCEPTION for an unknown tag, [] if a Python
    block does not compile (one bad block voids them all), else (path, code, language) per block."""
    parsed = CodeStringsMarkdown.parse(text)
    if parsed.unknown:
        return "EXCEPTION"
    try:
        for block in parsed.blocks:
            if block.language == "python":
                check_python(block.code)
    except CodeSyntaxError:
        return []
    return [[block.path, block.code, block.language] for block in parsed.blocks]


@pytest.mark.parametrize("case", PARSE_CASES, ids=[case["input"][:30] for case in PARSE_CASES])
def test_parse_agrees_with_the_client_on_every_verified_case(case):
    expected = case["result"]
    if isinstance(expected, str):
        assert expected.startswith("EXCEPTION")
        expected = "EXCEPTION"
    else:  # the client keeps the tag as written (`py`); we hold its canonical language
        expected = [[path, code, language_of_tag(tag)] for path, code, tag in expected]
    assert client_outcome(case["input"]) == expected


@pytest.mark.parametrize("tag", ["js", "ts", "jsx", "tsx", "javascript", "typescript", "java", "go", "Python", "py",
                                 "PY", "pyw", "mjs", "cjs", "mts"])  # fmt: skip
def test_tags_the_client_accepts(tag):
    assert language_of_tag(tag) in LANGUAGES


@pytest.mark.parametrize("tag", ["text", "python3", "golang", "diff", "json", "bash", "sh", "c", "rust"])
def test_tags_that_would_crash_the_client_are_reported_not_raised(tag):
    parsed = CodeStringsMarkdown.parse(f"```python:a.py\nx = 1\n```\n```{tag}:b.{tag}\ny = 2\n```")
    assert language_of_tag(tag) is None
    assert parsed.blocks == (CodeString("a.py", "x = 1", "python"),)
    assert parsed.unknown == (CodeString(f"b.{tag}", "y = 2", tag),)
    assert parsed.unknown_tags == [tag]


@pytest.mark.parametrize("sample", ["03_ai_optimize.json", "17_ai_optimize_multifile.json", "06_ai_refinement.json"])
def test_the_clients_own_markdown_reads_and_writes_back_byte_for_byte(sample):
    body = json.loads((SAMPLES / sample).read_text())["request_body"]
    texts = [item[key] for item in (body if isinstance(body, list) else [body])
             for key in ("source_code", "original_source_code", "optimized_source_code") if key in item]  # fmt: skip
    assert texts
    for text in texts:
        assert CodeStringsMarkdown.parse(text).emit() == text


def test_emit_writes_the_clients_layout():
    markdown = CodeStringsMarkdown((
        CodeString("pkg/a.py", "\n\ndef f():\n    return 1\n\n", "python"),
        CodeString(None, "x = 1", "python"),
        CodeString("src/b.ts", "export const b = 2;", "typescript"),
    ))  # fmt: skip
    assert markdown.emit() == (
        "```python:pkg/a.py\ndef f():\n    return 1\n```\n```python\nx = 1\n```\n```typescript:src/b.ts\n"
        "export const b = 2;\n```"
    )


def test_emit_of_nothing_is_empty():
    assert CodeStringsMarkdown().emit() == ""


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (CodeString("a.py", "x = 1", "py"), "not a canonical language tag"),
        (CodeString("a.py", "x = 1", "python3"), "not a canonical language tag"),
        (CodeString("a.py", 'doc = """\n```\nexample\n"""', "python"), "closing fence"),
        (CodeString("./a.py", "x = 1", "python"), "its path"),
        (CodeString(" a.py", "x = 1", "python"), "its path"),
        (CodeString("a\nb.py", "x = 1", "python"), "its path"),
        (CodeString("", "x = 1", "python"), "its path"),
    ],
)
def test_emit_refuses_what_the_client_would_read_differently(block, message):
    with pytest.raises(MarkdownError, match=message):
        CodeStringsMarkdown((block,)).emit()


def test_a_fence_inside_a_line_is_fine():
    block = CodeString("a.py", 'doc = "use ```python blocks```"', "python")
    assert CodeStringsMarkdown.parse(CodeStringsMarkdown((block,)).emit()).blocks == (block,)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("./pkg/a.py", "pkg/a.py"), ("pkg//a.py", "pkg/a.py"), (" pkg/a.py\r", "pkg/a.py"), ("pkg/./a.py", "pkg/a.py"),
     ("/abs/a.py", "/abs/a.py"), ("pkg/../a.py", "pkg/../a.py"), ("a.py/", "a.py")],
)  # fmt: skip
def test_paths_are_normalised_like_pathlib(raw, normal):
    assert normalise_path(raw) == normal


def test_by_path_and_the_last_block_wins():
    parsed = CodeStringsMarkdown.parse("```python:a.py\nx = 1\n```\n```python:a.py\nx = 2\n```\n```python\ny\n```")
    assert parsed.by_path() == {"a.py": "x = 2", None: "y"}


@pytest.mark.parametrize(
    ("path", "language"),
    [("a.py", "python"), ("src/b.tsx", "typescript"), ("c.mjs", "javascript"), ("D.java", "java"), ("e.go", "go"),
     ("f.rs", None), ("Makefile", None)],
)  # fmt: skip
def test_language_of_path(path, language):
    assert language_of_path(path) == language


def test_extensions_resolve_to_canonical_languages():
    assert set(EXTENSIONS.values()) == set(LANGUAGES)


FLAT = json.loads((SAMPLES / "11_ai_explain.json").read_text())["request_body"]


@pytest.mark.parametrize("key", ["source_code", "optimized_code"])
def test_the_flat_form_the_client_sends_to_explain(key):
    parsed = CodeStringsMarkdown.parse_flat(FLAT[key])
    assert [block.path for block in parsed.blocks] == ["mypkg/sorter.py"]
    assert parsed.blocks[0].code.startswith("def sort_list(arr):\n") and parsed.blocks[0].language == "python"
    assert parsed.emit_flat() == FLAT[key]


def test_the_flat_form_with_several_files_and_comment_styles():
    text = "# file: a.py\nx = 1\n\n# file: b.py\ny = 2\n// file: src/c.js\nconst c = 3;\n"
    parsed = CodeStringsMarkdown.parse_flat(text)
    assert parsed.blocks == (
        CodeString("a.py", "x = 1\n", "python"),
        CodeString("b.py", "y = 2", "python"),
        CodeString("src/c.js", "const c = 3;\n", "javascript"),
    )
    assert parsed.emit_flat() == text


def test_the_flat_form_refuses_a_header_inside_code_and_a_missing_path():
    with pytest.raises(MarkdownError):
        CodeStringsMarkdown((CodeString("a.py", "x = 1\n# file: b.py\n"),)).emit_flat()
    with pytest.raises(MarkdownError):
        CodeStringsMarkdown((CodeString(None, "x = 1"),)).emit_flat()


# Properties. Text is drawn from an alphabet rich in what matters here: fences, backticks, newlines, colons.
pieces = st.sampled_from(list("`\n\r :./\\ab_é\t#") + ["```", "\n```", "```python", "```py:a.py\n", "\u2028"])
tricky_text = st.lists(pieces, max_size=30).map("".join)
paths = st.one_of(st.none(), tricky_text)
blocks = st.builds(CodeString, paths, tricky_text, st.sampled_from(LANGUAGES))


@given(st.one_of(tricky_text, st.text()))
def test_parse_never_raises_and_agrees_with_the_clients_regex(text):
    parsed = CodeStringsMarkdown.parse(text)
    assert len(parsed.blocks) + len(parsed.unknown) == len(MARKDOWN_BLOCK.findall(text))


@given(st.lists(blocks, max_size=4))
def test_whatever_we_emit_parses_back_to_what_we_emitted(listed):
    markdown = CodeStringsMarkdown(tuple(listed))
    try:
        text = markdown.emit()
    except MarkdownError:
        return
    expected = tuple(CodeString(block.path, block.code.strip(), block.language) for block in listed)
    assert CodeStringsMarkdown.parse(text) == CodeStringsMarkdown(expected)


safe_paths = st.from_regex(r"[a-z_][a-z0-9_]{0,8}(/[a-z_][a-z0-9_]{0,8}){0,3}\.(py|js|ts|java|go)", fullmatch=True)
python_like = st.text(st.characters(blacklist_characters="`", blacklist_categories=["Cs"]), max_size=200)


@given(st.lists(st.builds(CodeString, st.one_of(st.none(), safe_paths), python_like, st.sampled_from(LANGUAGES)),
                max_size=4))  # fmt: skip
def test_ordinary_code_is_never_refused_and_round_trips(listed):
    markdown = CodeStringsMarkdown(tuple(listed))
    expected = tuple(CodeString(block.path, block.code.strip(), block.language) for block in listed)
    assert CodeStringsMarkdown.parse(markdown.emit()) == CodeStringsMarkdown(expected)
