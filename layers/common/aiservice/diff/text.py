"""What both formats do to texts: the safety limits, lines and their endings, markdown fences."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiservice.diff.errors import PatchError

MAX_TEXT_BYTES = 4 * 1024 * 1024  # per file and per patch: far above any source file a model rewrites

_OPENING_FENCE = re.compile(r"\s*(`{3,}|~{3,})[^`~]*")  # ```diff, ```patch, ````python, ~~~
_CLOSING_FENCE = re.compile(r"\s*(`{3,}|~{3,})\s*")


def check_text(text: str, what: str, path: str | None = None) -> None:
    """PatchError for a text no patch should touch: NUL bytes (binary content) or more than MAX_TEXT_BYTES."""
    if "\x00" in text:
        raise PatchError(f"{what} contains NUL bytes: binary content cannot be patched", path=path)
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise PatchError(f"{what} is {size:,} bytes, over the {MAX_TEXT_BYTES:,}-byte limit", path=path)


def patch_lines(patch: str) -> list[str]:
    """The patch's lines, CRLF or not (models and transports add them), after the size and NUL checks."""
    check_text(patch, "the patch")
    return patch.replace("\r\n", "\n").split("\n")


def is_fence(line: str) -> bool:
    return _OPENING_FENCE.fullmatch(line) is not None


def unfence(lines: list[str]) -> list[str]:
    """The lines inside one markdown fence wrapped around all of them, else the lines as they are."""
    if len(lines) >= 2 and is_fence(lines[0]) and _CLOSING_FENCE.fullmatch(lines[-1]):
        return lines[1:-1]
    return lines


@dataclass
class Document:
    """A file's text as lines without their endings, and each line's own ending.

    Byte-faithful: a line the patch does not touch is written back with its own ending ("\n" or "\r\n"), even in
    a file of mixed endings; a new line takes the ending of the file's first line (`newline`). An edited file
    always ends with a newline, as both references write it (a missing final newline is not kept).
    """

    lines: list[str]
    endings: list[str]  # parallel to `lines`; "" for a last line without one
    newline: str = "\n"

    @classmethod
    def parse(cls, text: str) -> Document:
        lines = text.split("\n")
        last = lines.pop()  # what follows the final newline: "" or a last line without one
        endings = ["\n"] * len(lines)
        if "\r" in text:
            for index, line in enumerate(lines):
                if line.endswith("\r"):
                    lines[index], endings[index] = line[:-1], "\r\n"
        if last:
            lines.append(last)
            endings.append("")
        return cls(lines, endings, "\r\n" if endings and endings[0] == "\r\n" else "\n")

    def text(self) -> str:
        if self.endings.count(self.newline) == len(self.lines):  # one ending throughout, the usual case: C speed
            return self.newline.join(self.lines) + self.newline if self.lines else ""
        return "".join(line + (ending or self.newline) for line, ending in zip(self.lines, self.endings, strict=True))

    def add(self, lines: list[str]) -> None:
        """New lines at the end, with the file's newline."""
        self.lines.extend(lines)
        self.endings.extend([self.newline] * len(lines))

    def copy(self, source: Document, start: int, stop: int) -> None:
        """source's lines[start:stop] at the end, with their own endings."""
        self.lines.extend(source.lines[start:stop])
        self.endings.extend(source.endings[start:stop])

    def endings_for(self, start: int, count: int, new_lines: list[str]) -> list[str]:
        """The endings of `new_lines` once they replace lines[start:start + count]: the lines they begin or end with
        unchanged keep their endings (the context a SEARCH/REPLACE block repeats), the others take `newline`."""
        old = self.lines[start : start + count]
        kept = 0
        while kept < min(len(old), len(new_lines)) and old[kept] == new_lines[kept]:
            kept += 1
        tail = 0
        while tail < min(len(old), len(new_lines)) - kept and old[-1 - tail] == new_lines[-1 - tail]:
            tail += 1
        old_endings = self.endings[start : start + count]
        middle = [self.newline] * (len(new_lines) - kept - tail)
        return old_endings[:kept] + middle + old_endings[len(old_endings) - tail :]
