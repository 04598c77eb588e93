"""SEARCH/REPLACE blocks, aider's edit format: parsed out of a model's reply, then applied.

    path/to/file.py
    ```python
    <<<<<<< SEARCH
    lines to find
    =======
    lines to put instead
    >>>>>>> REPLACE
    ```

Parsing follows aider: markers of 5 to 9 characters alone on their line; the file named on one of the three
lines before the block (looking through fence lines, with '#', '*', '`' and a trailing ':' stripped); a block
without a name edits the previous block's file; the divider may close the REPLACE section; a section's last line,
if empty, is dropped (aider's reading of a section loses it); a section wrapped in a markdown fence of its own
(```python as its first line, ``` as its last) is unwrapped, as aider does; whatever is outside the blocks (prose,
fences, shell commands) is ignored. A SEARCH section without text creates the file, or appends to it.

Blocks apply in order, each to the files as the previous ones left them, where they match first under the first
pass that finds them anywhere in the file: exact -> uniform indentation offset (the REPLACE lines take the same
offset) -> the same two without a stray leading blank line -> `...` elision (each piece between `...` lines must
occur exactly once). The lines a block's SEARCH and REPLACE begin or end with alike keep their line endings; the
other REPLACE lines take the ending of the file's first line.
Unlike aider: a block edits only the file it names (aider tries every other file when it misses); a new block
starting inside an open one is an error; the indentation common to a block's lines is the longest whitespace
prefix they share, not a count of characters; a piece between `...` lines matches whole lines, and REPLACE text
next to a `...` needs SEARCH text there to place it by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from os.path import commonprefix
from pathlib import PurePosixPath

from aiservice.diff.errors import PatchError
from aiservice.diff.matching import Lines, leading_whitespace
from aiservice.diff.text import Document, check_text, is_fence, patch_lines, unfence

HEAD = re.compile(r"<{5,9} SEARCH>?")
DIVIDER = re.compile(r"={5,9}")
TAIL = re.compile(r">{5,9} REPLACE")
ELISION = "..."
_NAME_LOOKBACK = 3  # lines before the head, as aider looks
_SHOWN_LINES = 8  # of a SEARCH section that did not match, in the error


def is_marker(line: str, *markers: re.Pattern[str]) -> bool:
    return any(marker.fullmatch(line.strip()) for marker in markers or (HEAD, DIVIDER, TAIL))


@dataclass
class Block:
    label: str  # "block 3": the third in the patch
    path: str
    search: list[str]
    replace: list[str]

    @property
    def appends(self) -> bool:
        """A SEARCH section without text: the REPLACE lines start the file, or go at its end."""
        return _without_text(self.search)


def parse(patch: str, files: Mapping[str, str | None]) -> list[Block]:
    lines = patch_lines(patch)
    blocks: list[Block] = []
    path: str | None = None  # the last file named: a block without a name edits it
    position = 0
    while position < len(lines):
        if not is_marker(lines[position], HEAD):
            position += 1
            continue
        label = f"block {len(blocks) + 1}"
        names = _names_before(lines[max(0, position - _NAME_LOOKBACK) : position])
        search, divider = _section(lines, position + 1, (DIVIDER,))
        replace, tail = _section(lines, divider + 1, (TAIL, DIVIDER)) if divider is not None else ([], None)
        if tail is None:
            raise PatchError(
                "the block is not closed: '<<<<<<< SEARCH' needs a '=======' line, then a '>>>>>>> REPLACE' line",
                path=_choose(names, files, new_file=False) or path,
                hunk=label,
            )
        path = _choose(names, files, new_file=_without_text(search)) or path
        if path is None:
            raise PatchError("no file named on the line before '<<<<<<< SEARCH'", hunk=label)
        blocks.append(Block(label, path, search, replace))
        position = tail + 1
    if not blocks:
        raise PatchError("no SEARCH/REPLACE blocks found (a block is '<<<<<<< SEARCH', '=======', '>>>>>>> REPLACE')")
    return blocks


@dataclass
class _File:
    """A file being edited: its document, and its lines as the passes search them (the document's own list)."""

    document: Document
    lines: Lines

    def replace(self, start: int, count: int, new_lines: list[str]) -> None:
        self.document.endings[start : start + count] = self.document.endings_for(start, count, new_lines)
        self.lines.replace(start, count, new_lines)


def apply(files: Mapping[str, str | None], blocks: list[Block]) -> dict[str, str | None]:
    edited: dict[str, _File] = {}
    for block in blocks:
        if block.path not in edited:
            edited[block.path] = _open(files, block)
        _apply_block(edited[block.path], block)
    state = dict(files)
    for path, file in edited.items():
        state[path] = file.document.text()
    return state


def _open(files: Mapping[str, str | None], block: Block) -> _File:
    text = files.get(block.path)
    if text is None:
        if not block.appends:
            problem = "no such file (a block with an empty SEARCH creates one)"
            raise PatchError(problem, path=block.path, hunk=block.label)
        document = Document([], [])
    else:
        check_text(text, "the file", block.path)
        document = Document.parse(text)
    return _File(document, Lines(document.lines))


def _apply_block(file: _File, block: Block) -> None:
    if block.appends:
        file.replace(len(file.lines), 0, block.replace)
        return
    searches = [block.search]
    if len(block.search) > 2 and not block.search[0].strip():
        searches.append(block.search[1:])  # models sometimes open the SEARCH section with a blank line
    for search in searches:
        # Exact anywhere in the file before re-indented anywhere: a looser match must never win over an exact one.
        found = file.lines.find(search)
        if found is not None:
            file.replace(found, len(search), block.replace)
            return
        if indented := _find_indented(file.lines, search, block.replace):
            found, replace = indented
            file.replace(found, len(search), replace)
            return
    if not _apply_elided(file, block):
        shown = "\n".join(f"  {line}" for line in block.search[:_SHOWN_LINES])
        raise PatchError(f"SEARCH not found:\n{shown}", path=block.path, hunk=block.label)


def _find_indented(lines: Lines, search: list[str], replace: list[str]) -> tuple[int, list[str]] | None:
    """Where the SEARCH lines are once one indentation offset is added to them all, with that offset added to
    the REPLACE lines. Both are first outdented by the indentation all their lines start with (aider cuts as many
    characters as the least indented line has, tabs or spaces alike)."""
    common = len(commonprefix([line[: len(line) - len(line.lstrip())] for line in search + replace if line.strip()]))
    search = [line[common:] if line.strip() else line for line in search]
    replace = [line[common:] if line.strip() else line for line in replace]
    for found in lines.matches(search, leading_whitespace):
        offset = _offset(lines.lines[found : found + len(search)], search)
        if offset is not None:
            return found, [offset + line if line.strip() else line for line in replace]
    return None


def _offset(have: list[str], want: list[str]) -> str | None:
    """The one prefix that turns every non-blank `want` line into its `have` line (blank lines match blank lines
    whatever their whitespace), or None."""
    offsets = {
        line[: len(line) - len(wanted)] if line.endswith(wanted) else None
        for line, wanted in zip(have, want, strict=True)
        if wanted.strip()
    }
    return offsets.pop() if len(offsets) == 1 else None


def _apply_elided(file: _File, block: Block) -> bool:
    """Apply a block whose sections skip lines with `...`: False if it has none, PatchError if it does not fit."""
    searches, replaces = _pieces(block.search), _pieces(block.replace)
    if len(searches) == 1:
        return False
    if len(searches) != len(replaces):
        raise PatchError("SEARCH and REPLACE have different numbers of '...' lines", path=block.path, hunk=block.label)
    for search, replace in zip(searches, replaces, strict=True):
        if not search:
            if replace:
                raise PatchError(
                    "REPLACE has lines next to a '...' where SEARCH has none to place them by",
                    path=block.path,
                    hunk=block.label,
                )
            continue
        found = list(islice(file.lines.matches(search), 2))
        if len(found) != 1:
            problem = "not found" if not found else "found more than once"
            shown = "\n".join(f"  {line}" for line in search[:_SHOWN_LINES])
            raise PatchError(f"lines between '...' {problem}:\n{shown}", path=block.path, hunk=block.label)
        file.replace(found[0], len(search), replace)
    return True


def _pieces(section: list[str]) -> list[list[str]]:
    pieces: list[list[str]] = [[]]
    for line in section:
        if line.strip() == ELISION:
            pieces.append([])
        else:
            pieces[-1].append(line)
    return pieces


def _without_text(section: list[str]) -> bool:
    return not any(line.strip() for line in section)


def _section(lines: list[str], start: int, ends: tuple[re.Pattern[str], ...]) -> tuple[list[str], int | None]:
    """The lines from `start` up to the first of the `ends` markers, and that marker's position (None if the lines
    end, or another block starts, first)."""
    for position in range(start, len(lines)):
        if is_marker(lines[position], *ends):
            section = lines[start:position]
            if section and section[-1] == "":
                section.pop()  # as aider reads a section, a last empty line only ends the one before it
            return _unwrapped(section), position
        if is_marker(lines[position], HEAD):
            break
    return [], None


def _unwrapped(section: list[str]) -> list[str]:
    """The section without a markdown fence of its own around it: models fence the code they quote, and aider
    strips such a fence too. Only fences at the start of their lines, as aider checks them, so that a section of
    an indented docstring between fence lines stays as it is."""
    if len(section) >= 2 and all(line.startswith(("```", "~~~")) for line in (section[0], section[-1])):
        return unfence(section)
    return section


def _names_before(lines: list[str]) -> list[str]:
    """The names on the lines just before a block, nearest first: through fence lines ('```python', or
    '```path/name.py'), up to the first other line."""
    names = []
    for line in reversed(lines):
        text = line.strip()
        if is_fence(text):
            info = text.lstrip("`~").strip()
            if "." in info or "/" in info:
                names.append(info)
            continue
        if not is_marker(text):
            name = text.rstrip(":").lstrip("#").strip().strip("`").strip("*")
            if name and name != ELISION:
                names.append(name)
        break
    return names


def _choose(names: list[str], files: Mapping[str, str | None], new_file: bool) -> str | None:
    """The file the names mean, preferring as aider does: a known path, the one known file of that base name
    (not for a new file), a name with an extension. A name with whitespace in it is prose, unless it is known."""
    for name in names:
        if name in files:
            return name
    if not new_file:
        for name in names:
            known = [path for path, text in files.items() if text is not None and PurePosixPath(path).name == name]
            if len(known) == 1:
                return known[0]
    names = [name for name in names if not any(character.isspace() for character in name)]
    return next((name for name in names if "." in name), names[0] if names else None)
