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
    """A file's text as lines without their endings.

    A file whose first line ends in CRLF is edited as LF and written back all CRLF. An edited file always ends
    with a newline, as both references write it (a missing final newline is not kept).
    """

    lines: list[str]
    newline: str = "\n"

    @classmethod
    def parse(cls, text: str) -> Document:
        first_end = text.find("\n")
        newline = "\r\n" if first_end > 0 and text[first_end - 1] == "\r" else "\n"
        if newline == "\r\n":
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()  # what follows the final newline (or the whole of an empty text)
        return cls(lines, newline)

    def text(self) -> str:
        return self.newline.join(self.lines) + self.newline if self.lines else ""
