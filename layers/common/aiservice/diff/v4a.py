"""V4A, the envelope of OpenAI's apply_patch tool: parsed into file operations, then applied.

    *** Begin Patch
    *** Update File: path            (or *** Add File: path, '+' lines / *** Delete File: path)
    *** Move to: new/path            (optional, right after Update File)
    @@ class A                       (scope lines, which may be stacked: the hunk is searched after them)
    @@     def f():
     context
    -removed
    +added
    *** End of File                  (optional: the hunk ends the file)
    *** End Patch

As codex (the primary reference) does: hunks apply in order, each searched forward from where the previous one
ended, under the passes exact -> trailing whitespace -> surrounding whitespace -> unicode punctuation; context
lines keep the file's text and '+' lines go in verbatim; Add File overwrites. Where codex falls short, the other
references lead: stacked scope lines (OpenAI's agents SDK), and a hunk that only adds lines goes right after its
scope lines (the cookbook; codex appends it to the file, which stays the rule for such a hunk without scope).
Beyond all three: an `*** End of File` hunk must lie after the previous hunk (codex takes the file's last lines
even when that hunk already changed them), and blank lines between file operations are allowed. The patch may
come as the shell command models are trained to run, `apply_patch <<'EOF'` ... `EOF` (also `<<EOF`, `<<"EOF"`,
as codex's lenient parse accepts), in a markdown fence or not. Context lines and the lines around the hunks keep
their own line endings; '+' lines take the ending of the file's first line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiservice.diff.errors import PatchError
from aiservice.diff.matching import (
    Lines,
    exact,
    surrounding_whitespace,
    trailing_whitespace,
    unicode_punctuation,
)
from aiservice.diff.text import Document, check_text, patch_lines, unfence

BEGIN = "*** Begin Patch"
END = "*** End Patch"
ADD = "*** Add File: "
DELETE = "*** Delete File: "
UPDATE = "*** Update File: "
MOVE = "*** Move to: "
END_OF_FILE = "*** End of File"

# codex's seek_sequence, strictest first: each pass searches the whole rest of the file before the next, looser
# one starts, so an exact match later in the file wins over a loose one earlier.
PASSES = (exact, trailing_whitespace, surrounding_whitespace, unicode_punctuation)
_HEREDOC = re.compile(r"(?:apply_?patch\s*)?<<-?\s*(['\"]?)(\w+)\1")  # the opening line, `\2` the delimiter
_SHOWN_LINES = 8  # of a hunk that did not match, in the error


@dataclass
class Hunk:
    number: int  # 1-based, within its Update File
    scopes: list[str]
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)
    at_end: bool = False

    @property
    def old(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "+"]

    @property
    def label(self) -> str:
        return f"hunk {self.number}" + (f" ({' '.join(f'@@ {scope}' for scope in self.scopes)})" if self.scopes else "")


@dataclass
class AddFile:
    path: str
    content: str


@dataclass
class DeleteFile:
    path: str


@dataclass
class UpdateFile:
    path: str
    move_to: str | None
    hunks: list[Hunk]


Operation = AddFile | DeleteFile | UpdateFile


def parse(patch: str) -> list[Operation]:
    lines = _without_blank_ends(patch_lines(patch))
    lines = _without_blank_ends(unfence(lines))
    lines = _without_blank_ends(_without_heredoc(lines))
    if not lines or lines[0].strip() != BEGIN:
        raise PatchError(f"the first line of the patch must be '{BEGIN}'")
    if len(lines) < 2 or lines[-1].strip() != END:
        raise PatchError(f"the last line of the patch must be '{END}' (was the patch cut short?)")
    operations: list[Operation] = []
    position, end = 1, len(lines) - 1
    while position < end:
        header = lines[position].strip()
        position += 1
        if not header:
            continue
        if header.startswith(ADD):
            path = _path(header, ADD)
            added = position
            while position < end and lines[position].startswith("+"):
                position += 1
            operations.append(AddFile(path, "".join(line[1:] + "\n" for line in lines[added:position])))
        elif header.startswith(DELETE):
            operations.append(DeleteFile(_path(header, DELETE)))
        elif header.startswith(UPDATE):
            update, position = _parse_update(lines, position, end, _path(header, UPDATE))
            operations.append(update)
        else:
            raise PatchError(f"expected '{ADD}path', '{DELETE}path' or '{UPDATE}path', got {lines[position - 1]!r}")
    if not operations:
        raise PatchError("the patch has no file operations")
    return operations


def apply(files: Mapping[str, str | None], operations: list[Operation]) -> dict[str, str | None]:
    state = dict(files)
    for operation in operations:
        if isinstance(operation, AddFile):
            state[operation.path] = operation.content
        elif isinstance(operation, DeleteFile):
            if state.get(operation.path) is None:
                raise PatchError("cannot delete: no such file", path=operation.path)
            state[operation.path] = None
        else:
            text = state.get(operation.path)
            if text is None:
                raise PatchError("cannot update: no such file", path=operation.path)
            check_text(text, "the file", operation.path)
            document = _apply_hunks(Document.parse(text), operation.hunks, operation.path)
            state[operation.path] = None
            state[operation.move_to or operation.path] = document.text()
    return state


def seek(lines: Lines, pattern: list[str], start: int, at_end: bool = False) -> int | None:
    """Where the pattern is, at or after `start`, under the strictest pass that finds it: the first such place,
    or with `at_end` only the place that ends the file."""
    for key in PASSES:
        if not at_end:
            found = lines.find(pattern, key, start)
            if found is not None:
                return found
        elif len(lines) - len(pattern) >= start and lines.matches_at(len(lines) - len(pattern), pattern, key):
            return len(lines) - len(pattern)
    return None


def _apply_hunks(document: Document, hunks: list[Hunk], path: str) -> Document:
    """The new document, built in one forward pass: every hunk is found after the end of the previous one. Lines
    the hunks do not remove keep their own endings; added lines take the file's."""
    original = document.lines
    lines = Lines(original)
    result = Document([], [], document.newline)
    copied = cursor = 0  # original[:copied] is in `result`; the next hunk is searched from `cursor`
    appended: list[str] = []  # pure additions without scope, which go at the end of the file
    for hunk in hunks:
        for scope in hunk.scopes:
            found = seek(lines, [scope], cursor)
            if found is None:
                raise PatchError(f"'@@' line not found{_after(cursor)}: {scope!r}", path=path, hunk=hunk.label)
            cursor = found + 1
        if not hunk.old:
            if not hunk.scopes:
                appended.extend(text for _, text in hunk.lines)
                continue
            result.copy(document, copied, cursor)
            result.add([text for _, text in hunk.lines])
            copied = cursor
            continue
        body = hunk.lines
        found = seek(lines, hunk.old, cursor, hunk.at_end)
        if found is None and hunk.old[-1] == "":
            # A trailing empty line that stands for the file's final newline, which `original` does not hold.
            last_old = max(index for index, (kind, _) in enumerate(body) if kind != "+")
            body = body[:last_old] + body[last_old + 1 :]
            found = seek(lines, hunk.old[:-1], cursor, hunk.at_end) if len(hunk.old) > 1 else None
        if found is None:
            shown = "\n".join(f"  {line}" for line in hunk.old[:_SHOWN_LINES])
            where = " at the end of the file" if hunk.at_end else _after(cursor)
            raise PatchError(f"context not found{where}:\n{shown}", path=path, hunk=hunk.label)
        result.copy(document, copied, found)
        position = found
        for kind, text in body:
            if kind == "+":
                result.add([text])
                continue
            if kind == " ":
                # The file's own line and ending, whatever whitespace the patch had.
                result.lines.append(original[position])
                result.endings.append(document.endings[position])
            position += 1
        copied = cursor = position
    result.copy(document, copied, len(original))
    result.add(appended)
    return result


def _after(cursor: int) -> str:
    return f" after line {cursor}" if cursor else ""


def _parse_update(lines: list[str], position: int, end: int, path: str) -> tuple[UpdateFile, int]:
    move_to = None
    if position < end and lines[position].strip().startswith(MOVE):
        move_to = _path(lines[position].strip(), MOVE)
        position += 1
    hunks: list[Hunk] = []
    while position < end:
        if not lines[position].strip():
            position += 1  # blank lines between hunks
        elif lines[position].startswith("***"):
            break
        else:
            hunk, position = _parse_hunk(lines, position, end, len(hunks) + 1, path)
            hunks.append(hunk)
    if not hunks:
        raise PatchError("Update File has no hunks", path=path)
    return UpdateFile(path, move_to, hunks), position


def _parse_hunk(lines: list[str], position: int, end: int, number: int, path: str) -> tuple[Hunk, int]:
    hunk = Hunk(number, scopes=[])
    has_header = False
    while position < end and (lines[position] == "@@" or lines[position].startswith("@@ ")):
        if (scope := lines[position][3:]).strip():
            hunk.scopes.append(scope)
        has_header = True
        position += 1
    if not has_header and number > 1:
        raise PatchError(f"expected a '@@' line to start the hunk, got {lines[position]!r}", path=path, hunk=hunk.label)
    while position < end:
        line = lines[position]
        if line == END_OF_FILE:
            hunk.at_end = True
            position += 1
            break
        if line[:1] in ("", " ", "-", "+"):
            hunk.lines.append((line[:1] or " ", line[1:]))
        elif hunk.lines:
            break  # the next hunk's '@@' line, or the next file operation
        else:
            raise PatchError(
                f"unexpected line {line!r}: every line of a hunk starts with ' ', '-' or '+'",
                path=path,
                hunk=hunk.label,
            )
        position += 1
    if not hunk.lines:
        raise PatchError("the hunk has no lines", path=path, hunk=hunk.label)
    return hunk, position


def _path(header: str, marker: str) -> str:
    path = header[len(marker) :].strip()
    if not path:
        raise PatchError(f"'{marker.strip()}' without a path")
    return path


def _without_heredoc(lines: list[str]) -> list[str]:
    """The patch inside `apply_patch <<'EOF'` ... `EOF` (or `<<EOF`, `<<"EOF"`, any delimiter word): models trained
    on the apply_patch shell command write it that way, and codex accepts it too."""
    if len(lines) >= 2 and (opening := _HEREDOC.fullmatch(lines[0].strip())) and lines[-1].strip() == opening[2]:
        return lines[1:-1]
    return lines


def _without_blank_ends(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]
