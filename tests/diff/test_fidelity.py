"""Byte-faithful patches and the wrappings models put around them: line endings kept line by line, a fence
around a SEARCH or REPLACE section, a V4A patch as an `apply_patch <<'EOF'` command; and the order of the match
passes (an exact match is never passed over for a looser one)."""

from __future__ import annotations

import pytest

from aiservice.diff import apply_patch

# LF first, so new lines take "\n"; lines 2 and 4 end in CRLF.
MIXED = "a = 1\nb = 2\r\nc = 3\nd = 4\r\ne = 5\n"


def v4a(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_v4a_keeps_each_untouched_line_ending_in_a_mixed_file() -> None:
    patch = v4a("*** Update File: f.py", "@@", " b = 2", "-c = 3", "+C = 3", "+c2 = 3", " d = 4")
    assert apply_patch({"f.py": MIXED}, patch, "v4a")["f.py"] == "a = 1\nb = 2\r\nC = 3\nc2 = 3\nd = 4\r\ne = 5\n"


def test_v4a_new_lines_take_the_first_line_ending() -> None:
    text = "a\r\nb\nc\n"  # CRLF first: new lines are CRLF, the LF lines stay LF
    patch = v4a("*** Update File: f.py", "@@", " b", "+new", " c")
    assert apply_patch({"f.py": text}, patch, "v4a")["f.py"] == "a\r\nb\nnew\r\nc\n"


def test_v4a_matches_a_crlf_line_of_an_lf_file_exactly() -> None:
    # The CRLF line's "\r" is its ending, not part of its text: the exact pass finds it, not a looser one.
    patch = v4a("*** Update File: f.py", "@@", "-d = 4", "+D = 4")
    assert apply_patch({"f.py": MIXED}, patch, "v4a")["f.py"] == MIXED.replace("d = 4\r\n", "D = 4\n")


def test_search_replace_keeps_each_untouched_line_ending_in_a_mixed_file() -> None:
    patch = block("f.py", "b = 2\nc = 3\nd = 4", "b = 2\nC = 3\nd = 4")
    # b and d, repeated unchanged at the ends of the block, keep CRLF; C is new and takes the first line's LF.
    assert apply_patch({"f.py": MIXED}, patch, "search_replace")["f.py"] == ("a = 1\nb = 2\r\nC = 3\nd = 4\r\ne = 5\n")


def test_search_replace_new_lines_take_the_first_line_ending() -> None:
    result = apply_patch({"f.py": "a\r\nb\nc\n"}, block("f.py", "c", "c\nnew"), "search_replace")
    assert result["f.py"] == "a\r\nb\nc\nnew\r\n"


def test_an_untouched_last_line_without_newline_gets_one() -> None:
    patch = v4a("*** Update File: f.py", "@@", "-a", "+A")
    assert apply_patch({"f.py": "a\r\nb"}, patch, "v4a")["f.py"] == "A\r\nb\r\n"
    assert apply_patch({"f.py": "a\nb\r\nc"}, block("f.py", "a", "A"), "search_replace")["f.py"] == "A\nb\r\nc\n"


@pytest.mark.parametrize(
    "search, replace",
    [
        ("```python\nx = 1\n```", "```python\nx = 2\n```"),
        ("```\nx = 1\n```", "x = 2"),
        ("x = 1", "~~~python\nx = 2\n~~~"),
    ],
    ids=["both", "search-only", "replace-only-tildes"],
)
def test_search_replace_unwraps_a_section_in_its_own_fence(search: str, replace: str) -> None:
    files = {"f.py": "y = 0\nx = 1\n"}
    assert apply_patch(files, block("f.py", search, replace), "search_replace") == {"f.py": "y = 0\nx = 2\n"}


def test_search_replace_keeps_indented_fence_lines_of_a_docstring() -> None:
    text = '"""Example:\n\n    ```\n    run()\n    ```\n"""\n'
    patch = block("f.py", "    ```\n    run()\n    ```", "    ```python\n    run(fast=True)\n    ```")
    expected = text.replace("```\n    run()", "```python\n    run(fast=True)")
    assert apply_patch({"f.py": text}, patch, "search_replace")["f.py"] == expected


HEREDOC_PATCH = v4a("*** Update File: f.py", "@@", "-x = 1", "+x = 2")


@pytest.mark.parametrize(
    "opening",
    ["apply_patch <<'EOF'", 'apply_patch <<"EOF"', "apply_patch <<EOF", "<<'EOF'", "<<EOF", '<<"EOF"'],
)
def test_v4a_patch_in_a_heredoc_applies(opening: str) -> None:
    patch = f"{opening}\n{HEREDOC_PATCH}EOF\n"
    assert apply_patch({"f.py": "x = 1\n"}, patch, "v4a") == {"f.py": "x = 2\n"}


def test_v4a_heredoc_in_a_fence_applies() -> None:
    patch = f"```bash\napply_patch <<'EOF'\n{HEREDOC_PATCH}EOF\n```\n"
    assert apply_patch({"f.py": "x = 1\n"}, patch, "v4a") == {"f.py": "x = 2\n"}


# The indented line comes first: every loose pass (whitespace-insensitive, re-indenting) would take it.
INDENTED_FIRST = "    x = 1\ny = 0\nx = 1\n"


def test_v4a_an_exact_match_wins_over_an_earlier_loose_one() -> None:
    patch = v4a("*** Update File: f.py", "@@", "-x = 1", "+x = 2")
    assert apply_patch({"f.py": INDENTED_FIRST}, patch, "v4a")["f.py"] == "    x = 1\ny = 0\nx = 2\n"


def test_v4a_a_trailing_whitespace_match_wins_over_an_earlier_surrounding_one() -> None:
    text = "  x = 1\nx = 1  \n"
    patch = v4a("*** Update File: f.py", "@@", "-x = 1", "+x = 2")
    assert apply_patch({"f.py": text}, patch, "v4a")["f.py"] == "  x = 1\nx = 2\n"


def test_search_replace_an_exact_match_wins_over_an_earlier_reindented_one() -> None:
    result = apply_patch({"f.py": INDENTED_FIRST}, block("f.py", "x = 1", "x = 2"), "search_replace")
    assert result["f.py"] == "    x = 1\ny = 0\nx = 2\n"
