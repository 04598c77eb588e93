"""Patches written from two states of a set of files: to show an edit as a model would write it, and to test.

`before` and `after` map paths to texts (None: absent). The patch turns `before` into `after` through
apply_patch, within what the format can say: an edited file ends with a newline and keeps its line endings (a
file that differs only in those is left out), and SEARCH/REPLACE cannot delete a file. Files come in path
order; unchanged ones are left out, so nothing changed gives a patch apply_patch rejects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from difflib import SequenceMatcher

from aiservice.diff import v4a
from aiservice.diff.matching import Lines
from aiservice.diff.search_replace import is_marker
from aiservice.diff.text import Document

CONTEXT_LINES = 3  # around each V4A hunk, as unified diffs have


def render_v4a(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> str:
    patch = [v4a.BEGIN]
    for path, old, new in _changes(before, after):
        if new is None:
            patch.append(v4a.DELETE + path)
        elif old is None:
            patch.append(v4a.ADD + path)
            patch.extend("+" + line for line in Document.parse(new).lines)
        elif hunks := _v4a_hunks(Document.parse(old).lines, Document.parse(new).lines):
            patch.append(v4a.UPDATE + path)
            patch.extend(hunks)
    patch.append(v4a.END)
    return "\n".join(patch) + "\n"


def render_search_replace(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> str:
    """Raises ValueError for what SEARCH/REPLACE cannot say: deleting a file, a line that reads as a marker, an
    edit among blank lines only (no text for a SEARCH to hold on to) other than adding lines at the end."""
    blocks = []
    for path, old, new in _changes(before, after):
        if new is None:
            raise ValueError(f"{path}: SEARCH/REPLACE cannot delete a file")
        new_lines = Document.parse(new).lines
        edits = [([], new_lines)] if old is None else _search_replace_edits(path, Document.parse(old).lines, new_lines)
        for search, replace in edits:
            if any(is_marker(line) for line in search + replace):
                raise ValueError(f"{path}: a line reads as a SEARCH/REPLACE marker")
            sections = [*_as_section(search), "=======", *_as_section(replace)]
            blocks.append("\n".join([path, "<<<<<<< SEARCH", *sections, ">>>>>>> REPLACE", ""]))
    return "\n".join(blocks)


def _as_section(lines: list[str]) -> list[str]:
    """The lines as a SEARCH or REPLACE section says them: the parser drops a last empty line, so one more keeps
    it."""
    return [*lines, ""] if lines and lines[-1] == "" else lines


def _changes(
    before: Mapping[str, str | None], after: Mapping[str, str | None]
) -> Iterator[tuple[str, str | None, str | None]]:
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old != new:
            yield path, old, new


def _v4a_hunks(old: list[str], new: list[str]) -> list[str]:
    """The hunks' lines. Apply takes each hunk at the first match after the previous one, so a hunk whose lines
    also occur earlier gets more leading context, up to the end of the previous hunk at most."""
    lines = Lines(old)
    hunks: list[str] = []
    cursor = 0
    for group in SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(CONTEXT_LINES):
        start, end = group[0][1], group[-1][2]
        first, step = start, 1
        while end > first and lines.find(old[first:end], start=cursor) != first:
            first, step = max(cursor, first - step), step * 2
        hunks.append("@@")
        hunks.extend(" " + line for line in old[first:start])
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunks.extend(" " + line for line in old[i1:i2])
            else:
                hunks.extend("-" + line for line in old[i1:i2])
                hunks.extend("+" + line for line in new[j1:j2])
        cursor = end
    return hunks


def _search_replace_edits(path: str, old: list[str], new: list[str]) -> list[tuple[list[str], list[str]]]:
    """(SEARCH, REPLACE) pairs that turn `old` into `new` applied in order, each SEARCH found first where it is
    meant to be: the lines of a change and as many around it as that takes (never into the next change, which is
    merged in when nothing short of it will do)."""
    current = Lines(list(old))
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    changes = [opcode[1:] for opcode in matcher.get_opcodes() if opcode[0] != "equal"]
    edits = []
    shift = 0  # how many lines longer `current` is than `old` above the next change
    for index, (i1, i2, j1, j2) in enumerate(changes):
        start, end = i1 + shift, i2 + shift
        following = changes[index + 1] if index + 1 < len(changes) else None
        span = _search_span(current, start, end, limit=following[0] + shift if following else len(current))
        if span is None and following:
            changes[index + 1] = (i1, following[1], j1, following[3])
            continue
        if span is None:
            if start != len(current) or i1 != i2:
                raise ValueError(f"{path}: an edit among blank lines only: nothing for a SEARCH to hold on to")
            span = (start, start)  # lines added at the end: a SEARCH without text appends them
        low, high = span
        replace = current.lines[low:start] + new[j1:j2] + current.lines[end:high]
        edits.append((current.lines[low:high], replace))
        current.replace(low, high - low, replace)
        shift += (j2 - j1) - (i2 - i1)
    return edits


def _search_span(current: Lines, start: int, end: int, limit: int) -> tuple[int, int] | None:
    """current[start:end], grown by a line upwards and downwards in turn (never past `limit`) until it has text
    and is found first where it is; None if it never is."""
    low, high, upwards = start, end, True
    while not (
        high > low
        and any(line.strip() for line in current.lines[low:high])
        and current.find(current.lines[low:high]) == low
    ):
        if low > 0 and (upwards or high == limit):
            low -= 1
        elif high < limit:
            high += 1
        else:
            return None
        upwards = not upwards
    return low, high
