"""Input a patch must not be applied from: every case is a PatchError that says why, never a silent edit."""

from __future__ import annotations

import pytest

from aiservice.diff import MAX_TEXT_BYTES, PatchError, PatchFormat, apply_patch

FORMATS: list[PatchFormat] = ["v4a", "search_replace"]
SOURCE = "def f():\n    return 1\n"


def v4a_update(path: str, *hunk_lines: str) -> str:
    return "\n".join(["*** Begin Patch", f"*** Update File: {path}", *hunk_lines, "*** End Patch", ""])


def search_replace(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def good_patch(format: PatchFormat) -> str:
    if format == "v4a":
        return v4a_update("f.py", "@@ def f():", "-    return 1", "+    return 2")
    return search_replace("f.py", "    return 1", "    return 2")


@pytest.mark.parametrize("format", FORMATS)
def test_nul_bytes_in_the_patch(format: PatchFormat) -> None:
    with pytest.raises(PatchError, match="the patch contains NUL bytes"):
        apply_patch({"f.py": SOURCE}, good_patch(format).replace("return 2", "return\x002"), format)


@pytest.mark.parametrize("format", FORMATS)
def test_nul_bytes_in_the_file_it_edits(format: PatchFormat) -> None:
    with pytest.raises(PatchError, match="^f.py: the file contains NUL bytes"):
        apply_patch({"f.py": SOURCE + "\x00"}, good_patch(format), format)


@pytest.mark.parametrize("format", FORMATS)
def test_a_binary_file_the_patch_does_not_touch_is_no_concern(format: PatchFormat) -> None:
    files = {"f.py": SOURCE, "logo.png": "\x89PNG\x00\x00"}
    assert apply_patch(files, good_patch(format), format)["logo.png"] == "\x89PNG\x00\x00"


@pytest.mark.parametrize("format", FORMATS)
def test_a_5_mb_file(format: PatchFormat) -> None:
    big = SOURCE + "x = 1\n" * (5 * 1024 * 1024 // 6)
    with pytest.raises(PatchError, match=r"^f.py: the file is 5,24\d,\d{3} bytes, over the 4,194,304-byte limit"):
        apply_patch({"f.py": big}, good_patch(format), format)


def test_the_limit_counts_utf8_bytes() -> None:
    wide = SOURCE + "é" * (MAX_TEXT_BYTES // 2)  # under the limit in characters, over it in bytes
    with pytest.raises(PatchError, match="over the 4,194,304-byte limit"):
        apply_patch({"f.py": wide}, good_patch("v4a"), "v4a")


@pytest.mark.parametrize("format", FORMATS)
def test_a_patch_over_the_limit(format: PatchFormat) -> None:
    patch = good_patch(format) + "\n" + "filler\n" * (MAX_TEXT_BYTES // 7 + 1)
    with pytest.raises(PatchError, match="^the patch is .* bytes, over the"):
        apply_patch({"f.py": SOURCE}, patch, format)


def test_a_patch_that_would_grow_a_file_past_the_limit() -> None:
    files = {"f.py": SOURCE + "x = 1\n" * (3 * 1024 * 1024 // 6)}  # 3 MB
    patch = v4a_update("f.py", "@@ def f():", "-    return 1", *["+    y = 2" for _ in range(150_000)])  # 1.6 MB
    with pytest.raises(PatchError, match="^f.py: the patched file is .* bytes, over the"):
        apply_patch(files, patch, "v4a")


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize(
    "patch", ["", "  \n\n", "Sure! I made the function faster.", "```diff\n```", "*** Begin Patch\n*** End Patch"]
)
def test_a_patch_with_nothing_to_apply(format: PatchFormat, patch: str) -> None:
    with pytest.raises(PatchError):
        apply_patch({"f.py": SOURCE}, patch, format)


def test_context_that_no_pass_finds_v4a() -> None:
    # Wrong in content, not in whitespace or punctuation: no pass may take it.
    patch = v4a_update("f.py", "@@ def f():", "-    return 2", "+    return 3")
    with pytest.raises(PatchError) as raised:
        apply_patch({"f.py": SOURCE}, patch, "v4a")
    assert str(raised.value) == "f.py: hunk 1 (@@ def f():): context not found after line 1:\n      return 2"
    assert (raised.value.path, raised.value.hunk) == ("f.py", "hunk 1 (@@ def f():)")


def test_a_scope_line_that_no_pass_finds() -> None:
    patch = v4a_update("f.py", "@@ def g():", "-    return 1", "+    return 2")
    with pytest.raises(PatchError, match=r"^f.py: hunk 1 \(@@ def g\(\):\): '@@' line not found"):
        apply_patch({"f.py": SOURCE}, patch, "v4a")


def test_the_failing_hunk_is_named_among_others() -> None:
    source = "a\nb\nc\nd\n"
    patch = v4a_update("f.py", "@@", "-a", "+A", "@@", "-x", "+X")
    with pytest.raises(PatchError, match=r"^f.py: hunk 2: context not found after line 1:\n  x$"):
        apply_patch({"f.py": source}, patch, "v4a")


@pytest.mark.parametrize(
    "search",
    [
        "    return 2",  # wrong content
        "\treturn 1",  # tabs where the file has spaces: no uniform offset turns one into the other
        "def f():\n    return 1\n    return 1",  # more lines than the file has
    ],
)
def test_context_that_no_pass_finds_search_replace(search: str) -> None:
    with pytest.raises(PatchError, match=r"^f.py: block 1: SEARCH not found:\n  "):
        apply_patch({"f.py": SOURCE}, search_replace("f.py", search, "    return 3"), "search_replace")


def test_the_failing_block_is_named_among_others() -> None:
    patch = search_replace("f.py", "def f():", "def g():") + search_replace("f.py", "def f():", "def h():")
    with pytest.raises(PatchError, match="^f.py: block 2: SEARCH not found"):
        apply_patch({"f.py": SOURCE}, patch, "search_replace")


def test_a_block_for_a_file_that_does_not_exist() -> None:
    with pytest.raises(PatchError, match=r"^g.py: block 1: no such file \(a block with an empty SEARCH creates one\)"):
        apply_patch({"f.py": SOURCE}, search_replace("g.py", "def f():", "def g():"), "search_replace")


def test_a_block_without_a_file_name() -> None:
    block_without_name = "<<<<<<< SEARCH\ndef f():\n=======\ndef g():\n>>>>>>> REPLACE\n"
    with pytest.raises(PatchError, match="^block 1: no file named"):
        apply_patch({"f.py": SOURCE}, block_without_name, "search_replace")


def test_a_block_left_open_before_the_next_one() -> None:
    # aider would read the second block's markers as REPLACE text and close the first at its divider.
    patch = (
        "f.py\n<<<<<<< SEARCH\ndef f():\n=======\ndef g():\n\n"
        "f.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n"
    )
    with pytest.raises(PatchError, match="^f.py: block 1: the block is not closed"):
        apply_patch({"f.py": SOURCE}, patch, "search_replace")


@pytest.mark.parametrize(
    "patch",
    [
        "*** Begin Patch\n*** Update File: f.py\n@@ def f():\n-    return 1\n+    return 2\n",  # cut short
        "Here it is:\n*** Begin Patch\n*** Delete File: f.py\n*** End Patch\n",  # prose before the envelope
        "*** Begin Patch\n*** Update File: f.py\n*** End Patch\n",  # no hunk
        "*** Begin Patch\n*** Update File: f.py\n@@ def f():\n*** End Patch\n",  # a hunk without lines
        "*** Begin Patch\n*** Update File: f.py\n@@\n-    return 1\n+    return 2\nreturn 3\n*** End Patch\n",
        "*** Begin Patch\n*** Update File: \n@@\n-a\n*** End Patch\n",  # no path
    ],
)
def test_malformed_v4a(patch: str) -> None:
    with pytest.raises(PatchError):
        apply_patch({"f.py": SOURCE}, patch, "v4a")


def test_an_unknown_format_is_the_caller_s_error() -> None:
    with pytest.raises(ValueError, match="unknown patch format") as raised:
        apply_patch({"f.py": SOURCE}, good_patch("v4a"), "unified")  # type: ignore[arg-type]
    assert not isinstance(raised.value, PatchError)
