"""What the vectors do not pin down: moves, several files, where a V4A hunk may land, how a SEARCH/REPLACE
block finds its file, and the passes at work on realistic code."""

from __future__ import annotations

import pytest

from aiservice.diff import PatchError, apply_patch


def v4a(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])


def block(path: str | None, search: str, replace: str) -> str:
    name = f"{path}\n" if path else ""
    return f"{name}<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_files_the_patch_does_not_touch_come_back_as_they_were() -> None:
    files = {"f.py": "a\n", "g.py": "g\n", "gone.py": None}
    result = apply_patch(files, v4a("*** Update File: f.py", "@@", "-a", "+b"), "v4a")
    assert result == {"f.py": "b\n", "g.py": "g\n", "gone.py": None}
    assert result["g.py"] is files["g.py"]


def test_v4a_move_add_and_delete_in_one_patch() -> None:
    files = {"old.py": "x = 1\ny = 2\n", "dead.py": "pass\n"}
    patch = v4a(
        "*** Update File: old.py",
        "*** Move to: pkg/new.py",
        "@@",
        " x = 1",
        "-y = 2",
        "+y = 3",
        "*** Delete File: dead.py",
        "",
        "*** Add File: pkg/__init__.py",
        "+from pkg.new import x",
    )
    assert apply_patch(files, patch, "v4a") == {
        "old.py": None,
        "pkg/new.py": "x = 1\ny = 3\n",
        "dead.py": None,
        "pkg/__init__.py": "from pkg.new import x\n",
    }


def test_v4a_operations_see_the_earlier_ones() -> None:
    patch = v4a("*** Add File: f.py", "+a", "*** Update File: f.py", "@@", "-a", "+b")
    assert apply_patch({}, patch, "v4a") == {"f.py": "b\n"}


def test_v4a_typographic_punctuation_in_the_file() -> None:
    files = {"f.py": "msg = “it’s done — ok”\nprint(msg)\n"}
    patch = v4a("*** Update File: f.py", "@@", ' msg = "it\'s done - ok"', "-print(msg)", "+log(msg)")
    assert apply_patch(files, patch, "v4a")["f.py"] == "msg = “it’s done — ok”\nlog(msg)\n"


def test_v4a_an_end_of_file_hunk_never_reaches_back_into_the_previous_one() -> None:
    patch = v4a("*** Update File: f.py", "@@", "-a", "-b", "+X", "@@", "-b", "+Y", "*** End of File")
    with pytest.raises(PatchError, match="f.py: hunk 2: context not found at the end of the file"):
        apply_patch({"f.py": "a\nb\n"}, patch, "v4a")


def test_v4a_scope_lines_narrow_to_a_method() -> None:
    source = "class A:\n    def run(self):\n        return 1\n\nclass B:\n    def run(self):\n        return 1\n"
    patch = v4a("*** Update File: f.py", "@@ class B:", "@@ def run(self):", "-        return 1", "+        return 2")
    assert apply_patch({"f.py": source}, patch, "v4a")["f.py"] == source[: source.rindex("1")] + "2\n"


def test_v4a_a_crlf_file_with_a_crlf_patch() -> None:
    patch = v4a("*** Update File: f.py", "@@", " a", "-b", "+B").replace("\n", "\r\n")
    assert apply_patch({"f.py": "a\r\nb\r\n"}, patch, "v4a")["f.py"] == "a\r\nB\r\n"


def test_search_replace_finds_a_file_by_its_base_name() -> None:
    files = {"pkg/util.py": "def f():\n    return 1\n", "tests/test_x.py": "pass\n"}
    patch = block("util.py", "    return 1", "    return 2")
    assert apply_patch(files, patch, "search_replace")["pkg/util.py"] == "def f():\n    return 2\n"


def test_search_replace_a_base_name_two_files_have_is_no_file() -> None:
    files = {"a/util.py": "x\n", "b/util.py": "x\n"}
    with pytest.raises(PatchError, match="^util.py: block 1: no such file"):
        apply_patch(files, block("util.py", "x", "y"), "search_replace")


def test_search_replace_a_block_without_a_name_edits_the_previous_file() -> None:
    patch = "Change f.py:\n\n" + block("f.py", "a", "A") + "\nand then:\n\n" + block(None, "b", "B")
    assert apply_patch({"f.py": "a\nb\n", "g.py": "b\n"}, patch, "search_replace") == {"f.py": "A\nB\n", "g.py": "b\n"}


def test_search_replace_prose_before_a_block_is_not_a_file_name() -> None:
    patch = "Here is the new module:\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n"
    with pytest.raises(PatchError, match="no file named"):
        apply_patch({}, patch, "search_replace")


def test_search_replace_reindents_a_block_written_at_the_wrong_depth() -> None:
    source = "class A:\n\tdef f(self):\n\t\tif x:\n\t\t\treturn 1\n"
    patch = block("f.py", "if x:\n\treturn 1", "if x:\n\treturn 2\nreturn 3")
    assert apply_patch({"f.py": source}, patch, "search_replace")["f.py"] == (
        "class A:\n\tdef f(self):\n\t\tif x:\n\t\t\treturn 2\n\t\treturn 3\n"
    )


def test_search_replace_elision_needs_search_text_for_every_replace_piece() -> None:
    patch = block("f.py", "...\nc", "new first line\n...\nC")
    with pytest.raises(PatchError, match="f.py: block 1: REPLACE has lines next to a '...'"):
        apply_patch({"f.py": "a\nb\nc\n"}, patch, "search_replace")


def test_search_replace_keeps_a_crlf_file_crlf() -> None:
    result = apply_patch({"f.py": "a\r\nb\r\n"}, block("f.py", "b", "B\nC"), "search_replace")
    assert result == {"f.py": "a\r\nB\r\nC\r\n"}


def test_search_replace_creates_a_file_named_in_a_fence_info_string() -> None:
    patch = "```pkg/new.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n```\n"
    assert apply_patch({}, patch, "search_replace") == {"pkg/new.py": "x = 1\n"}
