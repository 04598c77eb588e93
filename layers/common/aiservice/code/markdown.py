"""CodeStringsMarkdown: the fenced-block format the codeflash client sends code in and reads candidates from.

    ```python:mypkg/sorter.py
    def sort_list(arr): ...
    ```

Parsing agrees with the client's own (contract §4): the same regex over the whole text, paths normalised as
`pathlib.Path` does. Emitting writes exactly the client's layout, with canonical tags only (the client crashes on
a tag it does not know), and refuses a block the client would read back differently. The "flat" form
(`# file: path` headers) is what the client sends to /explain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

# The client's pattern, character for character: a \w+ tag, an optional `:path`, and a closing fence that must
# follow a newline. findall over the whole text, so prose around the blocks is ignored.
MARKDOWN_BLOCK = re.compile(r"```(\w+)(?::([^\n]+))?\n(.*?)\n```", re.DOTALL)

LANGUAGES = ("python", "javascript", "typescript", "java", "go")  # the canonical tags, the only ones we emit
EXTENSIONS = {
    "py": "python", "pyw": "python",
    "js": "javascript", "jsx": "javascript", "mjs": "javascript", "cjs": "javascript",
    "ts": "typescript", "tsx": "typescript", "mts": "typescript",
    "java": "java",
    "go": "go",
}  # fmt: skip
_COMMENT_PREFIX = {"python": "#"}  # the flat form's header comment; "//" for every other language
_FLAT_HEADER = re.compile(r"^(?:#|//) file: (.*)$", re.MULTILINE)


class MarkdownError(ValueError):
    """Code that cannot be written as a block the client would read back unchanged."""


def language_of_tag(tag: str) -> str | None:
    """The canonical language of a fence tag the client accepts (a language name or a file extension, any case),
    or None for a tag that would crash it (`text`, `python3`, `diff`, ...)."""
    tag = tag.lower()
    return tag if tag in LANGUAGES else EXTENSIONS.get(tag)


def language_of_path(path: str) -> str | None:
    return EXTENSIONS.get(PurePosixPath(path).suffix[1:].lower())


def normalise_path(path: str) -> str:
    """As the client's `str(Path(path.strip()))` on POSIX: `./a.py` -> `a.py`, `pkg//a.py` -> `pkg/a.py`."""
    return str(PurePosixPath(path.strip()))


@dataclass(frozen=True)
class CodeString:
    """One block: the file it belongs to (relative to the project root; None when the fence names none), its code,
    and its language. For a block the client accepts, `language` is canonical; in `CodeStringsMarkdown.unknown`
    it is the tag as written."""

    path: str | None
    code: str
    language: str = "python"


@dataclass(frozen=True)
class CodeStringsMarkdown:
    """Code blocks in order. `unknown` holds the blocks whose tag the client does not accept: a parsed reply with
    any is one the client must never see as written, and emit() never writes them."""

    blocks: tuple[CodeString, ...] = ()
    unknown: tuple[CodeString, ...] = ()

    @classmethod
    def parse(cls, text: str) -> CodeStringsMarkdown:
        blocks: list[CodeString] = []
        unknown: list[CodeString] = []
        for tag, path, code in MARKDOWN_BLOCK.findall(text):
            language = language_of_tag(tag)
            block = CodeString(normalise_path(path) if path else None, code, language or tag)
            (blocks if language else unknown).append(block)
        return cls(tuple(blocks), tuple(unknown))

    @property
    def unknown_tags(self) -> list[str]:
        return [block.language for block in self.unknown]

    def by_path(self) -> dict[str | None, str]:
        """Each path's code; the last block wins when a path repeats."""
        return {block.path: block.code for block in self.blocks}

    def emit(self) -> str:
        """The text the client reads back as these blocks, codes stripped (as the client's own `.markdown`)."""
        return "\n".join(_emit_block(block) for block in self.blocks)

    @classmethod
    def parse_flat(cls, text: str) -> CodeStringsMarkdown:
        """The flat form: `# file: path` (or `// file: path`) header lines, each followed by its file's code, the
        blocks joined by a newline. Text before the first header is ignored."""
        headers = list(_FLAT_HEADER.finditer(text))
        blocks = []
        for header, following in zip(headers, [*headers[1:], None][: len(headers)], strict=True):
            end = following.start() - 1 if following else len(text)  # minus the newline that joined the blocks
            path = normalise_path(header.group(1))
            code = text[header.end() + 1 : end]
            blocks.append(CodeString(path, code, language_of_path(path) or "python"))
        return cls(tuple(blocks))

    def emit_flat(self) -> str:
        return "\n".join(_emit_flat_block(block) for block in self.blocks)


def _emit_block(block: CodeString) -> str:
    if block.language not in LANGUAGES:
        raise MarkdownError(f"{block.language!r} is not a canonical language tag")
    header = f"```{block.language}:{block.path}" if block.path is not None else f"```{block.language}"
    text = f"{header}\n{block.code.strip()}\n```"
    # Reading it back is the exact test: a "\n```" in the code, a path with a newline or that Path() would
    # rewrite, all fail it.
    if CodeStringsMarkdown.parse(text).blocks != (CodeString(block.path, block.code.strip(), block.language),):
        where = block.path or "the block without a path"
        reason = "its code holds a closing fence" if "\n```" in block.code.strip() else "its path"
        raise MarkdownError(f"{where} would not read back as written: {reason}")
    return text


def _emit_flat_block(block: CodeString) -> str:
    if block.path is None or block.path != normalise_path(block.path) or "\n" in block.path:
        raise MarkdownError(f"the flat form needs a normalised path, not {block.path!r}")
    if _FLAT_HEADER.search(block.code):
        raise MarkdownError(f"{block.path} holds a line the flat form reads as a file header")
    return f"{_COMMENT_PREFIX.get(block.language, '//')} file: {block.path}\n{block.code}"
