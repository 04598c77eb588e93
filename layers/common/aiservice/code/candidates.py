"""Candidate post-processing: from a model's raw replies to candidates the codeflash client accepts and that are
worth its test run. What /optimize, /refinement, /code_repair and /adaptive_optimize run on every reply.

Per reply:
1. Extract the code and the explanation. Code is in `<code>` sections when the reply has any (markdown blocks
   inside them, or bare code), else in the markdown blocks outside `<thinking>`-style scratch sections. The
   explanation is the `<explanation>` section, else the prose outside code and scratch.
2. Map the blocks to the request's files as the client does (contract §4): the exact path, a lone block without
   a path (to the target's file), a unique basename; then a lone block with any other path goes to the target's
   file too (we re-emit it under the right path). A block whose tag the client does not accept counts only by
   its path. Other blocks are ignored; a file without a block keeps the original.
3. Merge: a Python block is merged into the original file (aiservice.code.merge), so a reply holding only the
   changed function, its helpers and imports becomes the whole file; a JavaScript/TypeScript block likewise
   (aiservice.code.javascript.merge: the changed functions replace their ranges); a block in any other language
   is the file.
4. Drop the candidate if a block does not parse (JS/TS: tree-sitter, as the client checks), if it loses the
   target function or changes its signature, if it only adds Python definitions nothing uses (a renamed copy of
   the target), if a partial JS/TS block redefines nothing of its file (a reply for another file), or if it
   equals the original or an earlier candidate after normalisation (Python: the AST without docstrings, so
   comments, docstrings and formatting do not count; JS/TS: the tree's tokens without comments; other
   languages: trailing whitespace and blank lines).
5. Emit the changed files with the request's paths and canonical tags.

The target's signature is what callers depend on: async or not, the parameters (names, kinds, order, default
values) and the decorators that change how it is called (staticmethod, classmethod, property and its
accessors, cached_property). Annotations and other decorators (a cache, a JIT) may change. For JS/TS it is
aiservice.code.javascript.Signature: the export, static/accessor modifiers, async, generator and the parameter
list.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import NamedTuple

from aiservice.code import javascript
from aiservice.code.markdown import (
    MARKDOWN_BLOCK,
    CodeString,
    CodeStringsMarkdown,
    MarkdownError,
    language_of_path,
    normalise_path,
)
from aiservice.code.merge import Module, NormalForms, adds_only_unused, merge_python
from aiservice.code.syntax import CodeSyntaxError
from aiservice.code.xml_sections import Section, find_sections, outside_sections

SCRATCH_SECTIONS = ("thinking", "reasoning", "analysis")  # the model's notes, never the answer
_CALL_CHANGING_DECORATORS = {"staticmethod", "classmethod", "property", "cached_property", "setter", "getter",
                             "deleter"}  # fmt: skip
_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")


@dataclass(frozen=True)
class Target:
    """The function being optimized: `func`, `Class.method`; in `path`, or in the request's first file when None
    (the client sends the target's file first)."""

    qualified_name: str
    path: str | None = None


@dataclass(frozen=True)
class Candidate:
    index: int  # of the reply it came from
    markdown: str  # the changed files, as the client reads them
    files: dict[str | None, str]  # the same: each changed file's whole code
    explanation: str


class Dropped(NamedTuple):
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: callers read `.index`
    reason: str  # short, for logs: "does not parse: a.py:3:5: ...", "same as candidate 0", ...


@dataclass
class Outcome:
    kept: list[Candidate]
    dropped: list[Dropped]


class _Drop(Exception):
    """Why a reply yields no candidate."""


def postprocess(
    original: CodeStringsMarkdown,
    replies: Sequence[str],
    target: Target | None = None,
    previous: Sequence[str] = (),
) -> Outcome:
    """The candidates in `replies` for the request's code `original` (the rules are in the module's docstring).
    `previous` holds candidates the client already has (the one being refined or repaired): a reply equal to one
    is dropped too. Raises CodeSyntaxError if the original's own Python does not parse."""
    request = _Request(original, target)
    seen = {request.normal: "the original"}
    for number, markdown in enumerate(previous):
        try:
            seen.setdefault(request.normal_of(request.apply(markdown)[0]), f"previous candidate {number}")
        except _Drop:
            continue
    outcome = Outcome([], [])
    for index, reply in enumerate(replies):
        try:
            files, explanation = request.apply(reply)
            request.check_target(files)
            if request.adds_only_unused(files):
                raise _Drop("adds only code nothing uses")
            key = request.normal_of(files)
            if key in seen:
                raise _Drop(f"same as {seen[key]}")
            outcome.kept.append(request.candidate(index, files, explanation))
            seen[key] = f"candidate {index}"
        except _Drop as drop:
            outcome.dropped.append(Dropped(index, str(drop)))
    return outcome


_SCRIPT_LANGUAGES = ("javascript", "typescript")  # what aiservice.code.javascript parses

_Code = Module | javascript.Source | str  # a file's code: parsed for Python and JS/TS, else the text


@dataclass(frozen=True)
class _File:
    path: str | None
    language: str
    code: str
    parsed: Module | javascript.Source | None  # None for a language we cannot parse

    @classmethod
    def parse(cls, block: CodeString) -> _File:
        parsed: Module | javascript.Source | None = None
        if block.language == "python":
            parsed = Module.parse(block.code, block.path)
        elif block.language in _SCRIPT_LANGUAGES:
            parsed = javascript.Source.parse(block.code, block.language, block.path)
        return cls(block.path, block.language, block.code, parsed)


class _Request:
    def __init__(self, original: CodeStringsMarkdown, target: Target | None) -> None:
        self.files = [_File.parse(block) for block in original.blocks]
        self.target = target
        self.normal_forms: NormalForms = {}  # shared by the original and every candidate
        paths = [file.path for file in self.files]
        self.target_file = paths.index(target.path) if target and target.path in paths else 0

    @cached_property
    def normal(self) -> tuple[str, ...]:
        return tuple(self._normal(file.parsed or file.code) for file in self.files)

    def apply(self, reply: str) -> tuple[dict[int, _Code], str]:
        """The reply's new version of each file it changes (by index: a Module for Python, a Source for JS/TS,
        else the code), and its explanation."""
        blocks, explanation = _extract(reply.replace("\r\n", "\n"), self.files[self.target_file].language)
        assigned = self._assign(blocks)
        changed: dict[int, _Code] = {}
        for index, block in assigned.items():
            file = self.files[index]
            new: _Code = block.code
            if isinstance(file.parsed, Module):
                new = self._merged(file, file.parsed, block, index == self.target_file)
            elif isinstance(file.parsed, javascript.Source):
                new = self._merged_script(file.parsed, block, index == self.target_file)
            if _code(new).strip() != file.code.strip():
                changed[index] = new
        return changed, explanation

    def check_target(self, changed: dict[int, _Code]) -> None:
        if not self.target:
            return
        new, old = changed.get(self.target_file), self.files[self.target_file].parsed
        if isinstance(new, javascript.Source) and isinstance(old, javascript.Source):
            self._check_script_target(old, new)
        if not isinstance(new, Module) or not isinstance(old, Module):
            return
        name = self.target.qualified_name
        before = _find_function(old.tree, name)
        if before is None:  # the request does not hold it: nothing to compare with
            return
        after = _find_function(new.tree, name)
        if after is None:
            raise _Drop(f"loses {name}")
        if _signature(after) != _signature(before):
            raise _Drop(f"changes the signature of {name}: {_describe(before)} -> {_describe(after)}")

    def _check_script_target(self, old: javascript.Source, new: javascript.Source) -> None:
        assert self.target is not None
        name = self.target.qualified_name
        before = old.find_function(name)
        if before is None:  # the request does not hold it: nothing to compare with
            return
        after = new.find_function(name)
        if after is None:
            raise _Drop(f"loses {name}")
        if after.signature != before.signature:
            old_call, new_call = before.signature.describe(name), after.signature.describe(name)
            raise _Drop(f"changes the signature of {name}: {old_call} -> {new_call}")

    def adds_only_unused(self, changed: dict[int, _Code]) -> bool:
        return bool(changed) and all(
            isinstance(new, Module) and isinstance(module := self.files[index].parsed, Module)
            and adds_only_unused(module, new, self.normal_forms)
            for index, new in changed.items()
        )  # fmt: skip

    def normal_of(self, changed: dict[int, _Code]) -> tuple[str, ...]:
        return tuple(self._normal(changed[index]) if index in changed else self.normal[index]
                     for index in range(len(self.files)))  # fmt: skip

    def _normal(self, code: _Code) -> str:
        if isinstance(code, Module):
            return code.normal_form(self.normal_forms)
        if isinstance(code, javascript.Source):
            return code.normal_form
        return "\n".join(line.rstrip() for line in code.splitlines() if line.strip())

    def candidate(self, index: int, changed: dict[int, _Code], explanation: str) -> Candidate:
        blocks = tuple(
            CodeString(self.files[file].path, _code(new).strip(), self.files[file].language)
            for file, new in sorted(changed.items())
        )  # fmt: skip
        try:
            markdown = CodeStringsMarkdown(blocks).emit()
        except MarkdownError as error:
            raise _Drop(f"cannot be sent as markdown: {error}") from None
        return Candidate(index, markdown, {block.path: block.code for block in blocks}, explanation)

    def _assign(self, blocks: CodeStringsMarkdown) -> dict[int, CodeString]:
        """Each file's block (the last one, if several map to it)."""
        assigned: dict[int, CodeString] = {}
        lone = len(blocks.blocks) == 1
        # A block with an unknown tag counts only by its path, and a block the client accepts wins the same file.
        ordered = [(block, False) for block in blocks.unknown] + [(block, lone) for block in blocks.blocks]
        for block, is_lone in ordered:
            index = self._file_for(block, is_lone)
            if index is not None:
                assigned[index] = block
        if assigned:
            return assigned
        if blocks.blocks:
            raise _Drop(f"no block for the request's files (got {', '.join(str(b.path) for b in blocks.blocks)})")
        if blocks.unknown:
            raise _Drop(f"unknown language tag {blocks.unknown_tags[0]!r}")
        raise _Drop("no code")

    def _file_for(self, block: CodeString, lone: bool) -> int | None:
        paths = [file.path for file in self.files]
        if block.path in paths:
            return paths.index(block.path)
        if lone and block.path is None:
            return self.target_file
        if block.path is not None:
            name = PurePosixPath(block.path).name
            same_name = [i for i, path in enumerate(paths) if path and PurePosixPath(path).name == name]
            if len(same_name) == 1:
                return same_name[0]
        return self.target_file if lone else None

    def _merged(self, file: _File, module: Module, block: CodeString, is_target_file: bool) -> Module:
        try:
            reply = Module.parse(block.code, file.path)
        except CodeSyntaxError as error:
            raise _Drop(f"does not parse: {error}") from None
        target = self.target.qualified_name if self.target and is_target_file else None
        text = merge_python(module, reply, target)
        if text == reply.text:
            return reply
        try:
            return Module.parse(text, file.path)
        except CodeSyntaxError as error:  # a merge bug, not the model's: say so
            raise _Drop(f"merged code does not parse: {error}") from None

    def _merged_script(self, original: javascript.Source, block: CodeString, is_target_file: bool) -> _Code:
        """The file's new code; parsed as the file's language and path say (the client parses the block we emit
        with the file's tag), whatever the reply's tag."""
        language = "typescript" if original.grammar != "javascript" else "javascript"
        try:
            reply = javascript.Source.parse(block.code, language, original.path)
        except CodeSyntaxError as error:
            raise _Drop(f"does not parse: {error}") from None
        target = self.target.qualified_name if self.target and is_target_file else None
        merged = javascript.merge(original, reply, target)
        if not merged.matched:
            raise _Drop(f"redefines nothing of {original.path or 'the target file'}")
        if merged.text == reply.text:
            return reply
        try:
            return javascript.Source.parse(merged.text, language, original.path)
        except CodeSyntaxError as error:  # a merge bug, not the model's: say so
            raise _Drop(f"merged code does not parse: {error}") from None


def _extract(reply: str, default_language: str) -> tuple[CodeStringsMarkdown, str]:
    """The reply's code blocks and its explanation (see the module's docstring)."""
    sections = find_sections(reply)
    code_sections = [section for section in sections if section.tag == "code"]
    scratch = [section for section in sections if section.tag in SCRATCH_SECTIONS]
    if code_sections:
        found = [_code_section_blocks(section, default_language) for section in code_sections]
        blocks = CodeStringsMarkdown(
            tuple(block for parsed in found for block in parsed.blocks),
            tuple(block for parsed in found for block in parsed.unknown),
        )
    else:
        blocks = CodeStringsMarkdown.parse(outside_sections(reply, scratch))
    explanations = [section.content for section in sections if section.tag == "explanation"]
    if explanations:
        return blocks, "\n\n".join(explanations)
    prose = MARKDOWN_BLOCK.sub("", outside_sections(reply, [*code_sections, *scratch]))
    return blocks, _BLANK_RUNS.sub("\n\n", prose).strip()


def _code_section_blocks(section: Section, default_language: str) -> CodeStringsMarkdown:
    """Markdown blocks inside a `<code>` section, or its bare content as one block (`<code file="a.py">`)."""
    parsed = CodeStringsMarkdown.parse(section.body)
    if parsed.blocks or parsed.unknown or not section.content:
        return parsed
    path = section.attributes.get("file") or section.attributes.get("path")
    language = (language_of_path(path) if path else None) or default_language
    return CodeStringsMarkdown((CodeString(normalise_path(path) if path else None, section.content, language),))


def _code(new: _Code) -> str:
    return new if isinstance(new, str) else new.text


def _find_function(tree: ast.Module, qualified_name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function `a.b.c` names, through classes and functions (the last definition of a name wins)."""
    node: ast.AST = tree
    for part in qualified_name.split("."):
        found = [
            child for child in getattr(node, "body", [])
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == part
        ]  # fmt: skip
        if not found:
            return None
        node = found[-1]
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _signature(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[object, ...]:
    arguments = function.args
    return (
        isinstance(function, ast.AsyncFunctionDef),
        [[argument.arg for argument in kind] for kind in (arguments.posonlyargs, arguments.args, arguments.kwonlyargs)],
        [argument and argument.arg for argument in (arguments.vararg, arguments.kwarg)],
        [ast.dump(default) for default in arguments.defaults],
        [default and ast.dump(default) for default in arguments.kw_defaults],
        _call_changing_decorators(function),
    )


def _call_changing_decorators(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = []
    for decorator in function.decorator_list:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
        if name in _CALL_CHANGING_DECORATORS:
            names.append(ast.unparse(decorator))
    return sorted(names)


def _describe(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """`@staticmethod async def f(a, b=1)` (annotations left out), for the drop reason."""
    arguments = ast.unparse(_without_annotations(function.args))
    decorators = "".join(f"@{name} " for name in _call_changing_decorators(function))
    prefix = "async def" if isinstance(function, ast.AsyncFunctionDef) else "def"
    return f"{decorators}{prefix} {function.name}({arguments})"


def _without_annotations(arguments: ast.arguments) -> ast.arguments:
    def bare(argument: ast.arg) -> ast.arg:
        return ast.arg(argument.arg)

    return ast.arguments(
        posonlyargs=[bare(a) for a in arguments.posonlyargs], args=[bare(a) for a in arguments.args],
        vararg=arguments.vararg and bare(arguments.vararg), kwonlyargs=[bare(a) for a in arguments.kwonlyargs],
        kw_defaults=arguments.kw_defaults, kwarg=arguments.kwarg and bare(arguments.kwarg),
        defaults=arguments.defaults,
    )  # fmt: skip
