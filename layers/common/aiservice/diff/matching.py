"""Finding a model's lines in a file, exactly or under a normalisation that forgives what models get wrong.

A normalisation is a key function: a file line matches a patch line under it when their keys are equal. `Lines`
keeps the file's lines keyed by each normalisation it was searched with, built on first use and kept up to date
by `replace`, so that the hunks of a long patch cost one pass over the file each, not one per hunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Key = Callable[[str], str]


def exact(line: str) -> str:
    return line


def trailing_whitespace(line: str) -> str:
    return line.rstrip()


def leading_whitespace(line: str) -> str:
    return line.lstrip()


def surrounding_whitespace(line: str) -> str:
    return line.strip()


# codex's normalise(): typographic dashes, quotes and spaces read as their ASCII look-alikes.
_ASCII_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys("\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    }
)


def unicode_punctuation(line: str) -> str:
    return line.strip().translate(_ASCII_PUNCTUATION)


class Lines:
    """A file's lines (shared, not copied: `replace` edits the list in place) and their keyed copies."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._keyed: dict[Key, list[str]] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def keyed(self, key: Key) -> list[str]:
        if key is exact:
            return self.lines
        if key not in self._keyed:
            self._keyed[key] = [key(line) for line in self.lines]
        return self._keyed[key]

    def matches(self, pattern: list[str], key: Key = exact, start: int = 0) -> Iterator[int]:
        """Every position at or after `start` where the (non-empty) pattern matches under `key`, in order."""
        lines, wanted = self.keyed(key), [key(line) for line in pattern]
        size, stop = len(wanted), len(lines) - len(wanted) + 1
        position = start
        while position < stop:
            try:
                position = lines.index(wanted[0], position, stop)  # C-speed skip to the next candidate
            except ValueError:
                return
            if lines[position : position + size] == wanted:
                yield position
            position += 1

    def find(self, pattern: list[str], key: Key = exact, start: int = 0) -> int | None:
        return next(self.matches(pattern, key, start), None)

    def matches_at(self, position: int, pattern: list[str], key: Key = exact) -> bool:
        return self.keyed(key)[position : position + len(pattern)] == [key(line) for line in pattern]

    def replace(self, start: int, count: int, new_lines: list[str]) -> None:
        self.lines[start : start + count] = new_lines
        for key, lines in self._keyed.items():
            lines[start : start + count] = [key(line) for line in new_lines]
