"""Properties: a patch written from (a, b) turns a into b, in both formats; a failing patch changes nothing; a
fence around a patch changes nothing either."""

from __future__ import annotations

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from aiservice.diff import PatchError, apply_patch, render_search_replace, render_v4a

# Few distinct lines, so that texts repeat themselves as code does and hunks need context to land right.
LINE = st.one_of(
    st.sampled_from(["", "    ", "a", "b", "x = 1", "    return x", "def f():", "\tpass", "*** End of File", "@@"]),
    st.text(alphabet="ab xy:()-\t#é—", max_size=8),
)
TEXT = st.lists(LINE, max_size=12).map(lambda lines: "".join(line + "\n" for line in lines))
PATHS = ["a.py", "pkg/b.py", "c.txt"]
STATE = st.fixed_dictionaries({path: st.none() | TEXT for path in PATHS})
NEWLINE = st.sampled_from(["\n", "\r\n"])
FENCES = [("```diff\n", "```\n"), ("```\n", "\n```"), ("~~~patch\n", "~~~")]

FAST = settings(max_examples=150, deadline=None)


def _with_newline(text: str, newline: str) -> str:
    return text.replace("\n", newline)


@FAST
@given(a=TEXT, b=TEXT, newline=NEWLINE)
def test_v4a_turns_a_into_b(a: str, b: str, newline: str) -> None:
    a, b = _with_newline(a, newline), _with_newline(b, newline)
    if a == b or (newline != "\n" and not a):  # nothing to say; an empty file has no line ending to keep
        reject()
    patch = render_v4a({"f.py": a}, {"f.py": b})
    assert apply_patch({"f.py": a}, patch, "v4a") == {"f.py": b}


@FAST
@given(before=STATE, after=STATE)
def test_v4a_turns_a_set_of_files_into_another(before: dict, after: dict) -> None:
    if before == after:
        reject()
    result = apply_patch(before, render_v4a(before, after), "v4a")
    assert {path: result.get(path) for path in PATHS} == after


@FAST
@given(a=TEXT, b=TEXT, newline=NEWLINE)
def test_search_replace_turns_a_into_b(a: str, b: str, newline: str) -> None:
    a, b = _with_newline(a, newline), _with_newline(b, newline)
    if a == b or (newline != "\n" and not a):
        reject()
    try:
        patch = render_search_replace({"f.py": a}, {"f.py": b})
    except ValueError:  # an edit among blank lines only: nothing for a SEARCH to hold on to
        reject()
    assert apply_patch({"f.py": a}, patch, "search_replace") == {"f.py": b}


@FAST
@given(before=STATE, after=STATE)
def test_search_replace_turns_a_set_of_files_into_another(before: dict, after: dict) -> None:
    after = {path: text if before[path] is None or text is not None else before[path] for path, text in after.items()}
    if before == after:
        reject()
    try:
        patch = render_search_replace(before, after)
    except ValueError:
        reject()
    result = apply_patch(before, patch, "search_replace")
    assert {path: result.get(path) for path in PATHS} == after


@FAST
@given(a=TEXT, b=TEXT, fence=st.sampled_from(FENCES))
def test_a_fence_around_the_patch_changes_nothing(a: str, b: str, fence: tuple[str, str]) -> None:
    if a == b:
        reject()
    files, (opening, closing) = {"f.py": a}, fence
    v4a_patch = render_v4a(files, {"f.py": b})
    assert apply_patch(files, opening + v4a_patch + closing, "v4a") == {"f.py": b}
    try:
        sr_patch = render_search_replace(files, {"f.py": b})
    except ValueError:
        return
    each_block_fenced = sr_patch.replace("<<<<<<< SEARCH", "```python\n<<<<<<< SEARCH").replace(
        ">>>>>>> REPLACE", ">>>>>>> REPLACE\n```"
    )
    assert apply_patch(files, opening + sr_patch + closing, "search_replace") == {"f.py": b}
    assert apply_patch(files, each_block_fenced, "search_replace") == {"f.py": b}


NOWHERE = "this line is in no file"


@FAST
@given(a=TEXT, b=TEXT, other=TEXT)
def test_a_failing_v4a_patch_changes_nothing(a: str, b: str, other: str) -> None:
    if a == b:
        reject()
    files = {"f.py": a, "other.py": other}
    untouched = dict(files)
    good = render_v4a({"f.py": a}, {"f.py": b})
    bad = good.replace("*** End Patch", f"*** Update File: other.py\n@@\n-{NOWHERE}\n+x\n*** End Patch")
    with pytest.raises(PatchError, match="other.py: hunk 1: context not found"):
        apply_patch(files, bad, "v4a")
    assert files == untouched


@FAST
@given(a=TEXT, b=TEXT, other=TEXT)
def test_a_failing_search_replace_patch_changes_nothing(a: str, b: str, other: str) -> None:
    if a == b:
        reject()
    files = {"f.py": a, "other.py": other}
    untouched = dict(files)
    try:
        good = render_search_replace({"f.py": a}, {"f.py": b})
    except ValueError:
        reject()
    bad = good + f"\nother.py\n<<<<<<< SEARCH\n{NOWHERE}\n=======\nx\n>>>>>>> REPLACE\n"
    with pytest.raises(PatchError, match="other.py: block [0-9]+: SEARCH not found"):
        apply_patch(files, bad, "search_replace")
    assert files == untouched
