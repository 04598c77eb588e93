"""Applying the patches models write: V4A (the envelope of OpenAI's apply_patch tool) and SEARCH/REPLACE blocks
(aider's edit format); and writing such patches from two states of the files.

    apply_patch(files, patch, format)     -> the new state: path -> text, None for absent or deleted
    render_v4a(before, after)             -> a V4A patch that turns `before` into `after`
    render_search_replace(before, after)  -> the same as SEARCH/REPLACE blocks

Each format finds lines as its reference does (aiservice.diff.v4a: codex; aiservice.diff.search_replace: aider)
and does better where a production service should:

- Atomic: a patch applies whole or not at all. The new state is built on copies and `files` is never changed;
  any failure raises PatchError, whose message starts with the file and the hunk (or block), fit for a repair
  prompt ("f.py: hunk 2 (@@ def g():): context not found after line 40:" and the lines expected).
- A patch wrapped in a markdown fence (```diff, ```patch, ```, ~~~) applies as if it were not; SEARCH/REPLACE
  blocks may also sit in a fence each, and each SEARCH or REPLACE section in a fence of its own, as aider allows;
  a V4A patch may also come as the shell command `apply_patch <<'EOF'` ... `EOF` (`<<EOF`, `<<"EOF"`).
- Passes go from exact to loosest, each over the whole file before the next: an exact match is never passed
  over for a looser one that comes earlier.
- No silent wrong edit where a reference makes one: a SEARCH/REPLACE block edits only the file it names; a
  block left open when the next one starts is an error; a V4A hunk never lands before the end of the previous
  one (details in each module's docstring).
- Safety: NUL bytes in the patch or in a file it edits, a file or patch over MAX_TEXT_BYTES (4 MiB, UTF-8), or a
  patch without a single file operation or block raise PatchError.

Line endings, byte-faithful: every line the patch leaves as it was keeps its own ending, even in a file of mixed
CRLF and LF lines; a new line takes the ending of the file's first line, whatever the patch's; an edited file
always ends with a newline.

Deviations: where the conformance vectors (tests/fixtures/reference/diff-vectors, run by tests/diff/test_vectors.py)
expect a reference's behaviour, these get ours:
- v4a_42_markdown_fenced_patch_errors: the fenced patch applies (models fence their output; the fence is not
  part of the edit).
- sr_36_falls_back_to_other_chat_file (marked quirk): the block fails on the file it names instead of editing
  another file where its SEARCH happens to match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from aiservice.diff import search_replace, v4a
from aiservice.diff.errors import PatchError
from aiservice.diff.render import render_search_replace, render_v4a
from aiservice.diff.text import MAX_TEXT_BYTES, check_text

__all__ = ["MAX_TEXT_BYTES", "PatchError", "PatchFormat", "apply_patch", "render_search_replace", "render_v4a"]

PatchFormat = Literal["v4a", "search_replace"]


def apply_patch(files: Mapping[str, str | None], patch: str, format: PatchFormat) -> dict[str, str | None]:
    """The full new state of `files` (those the patch does not touch, unchanged) once `patch` is applied.

    Raises PatchError if the patch cannot be applied as a whole; ValueError for an unknown format.
    """
    if format == "v4a":
        state = v4a.apply(files, v4a.parse(patch))
    elif format == "search_replace":
        state = search_replace.apply(files, search_replace.parse(patch, files))
    else:
        raise ValueError(f"unknown patch format {format!r}: 'v4a' or 'search_replace'")
    for path, text in state.items():
        if text is not None and text is not files.get(path):
            check_text(text, "the patched file", path)
    return state
