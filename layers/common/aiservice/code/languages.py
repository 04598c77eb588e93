"""Language dispatch: what the service does for each language the codeflash client may send, in one registry.

A router looks the request's `language` up here and calls the hooks it gets; it never branches on the name, so
adding a language is one `_register(...)` call below (and its extensions in aiservice.code.markdown's table,
which both modules read).

Python is handled. The client checks JavaScript, TypeScript, Java and Go with tree-sitter; this layer has no
parser for them, so their hooks answer NotSupported (HTTP 422) rather than pass on code nobody checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, Protocol

from aiservice.code import testgen
from aiservice.code.markdown import EXTENSIONS
from aiservice.code.syntax import check_python
from aiservice.errors import NotSupported


class Validate(Protocol):
    def __call__(self, code: str, path: str | None = None) -> None:
        """Returns if the code parses; raises CodeSyntaxError (with line and column) if not."""


class PostprocessTests(Protocol):
    def __call__(
        self, source: str, target: testgen.CodeUnderTest, *, behavior_capture: bool = False
    ) -> testgen.ProcessedTests: ...


@dataclass(frozen=True)
class LanguageSupport:
    name: str  # as the client's `language` field spells it
    # The markdown fence tags the client accepts for it, in any case: the name and each file extension
    # (contract §4). Any other tag crashes the client.
    tags: tuple[str, ...]
    file_extensions: tuple[str, ...]  # with the dot, as in a path
    validate: Validate
    postprocess_tests: PostprocessTests
    supported: bool = True


_LANGUAGES: dict[str, LanguageSupport] = {}


def _register(name: str, validate: Validate, postprocess_tests: PostprocessTests, supported: bool = True) -> None:
    if name in _LANGUAGES:
        raise ValueError(f"language {name!r} is registered already")
    extensions = tuple(extension for extension, language in EXTENSIONS.items() if language == name)
    _LANGUAGES[name] = LanguageSupport(
        name=name,
        tags=tuple(dict.fromkeys((name, *extensions))),  # `java` is both
        file_extensions=tuple(f".{extension}" for extension in extensions),
        validate=validate,
        postprocess_tests=postprocess_tests,
        supported=supported,
    )


def _register_not_yet(name: str) -> None:
    """A language the client knows and we do not handle yet: every hook refuses it."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise NotSupported(f"{name} is not supported yet")

    _register(name, validate=refuse, postprocess_tests=refuse, supported=False)


def language_support(name: str) -> LanguageSupport:
    """The language named (any case), or NotSupported naming the languages there are."""
    language = _LANGUAGES.get(name.lower())
    if language is None:
        supported = sorted(known.name for known in _LANGUAGES.values() if known.supported)
        not_yet = sorted(known.name for known in _LANGUAGES.values() if not known.supported)
        raise NotSupported(
            f"language {name!r} is not supported; supported: {', '.join(supported)}"
            f" (not yet: {', '.join(not_yet)})"
        )
    return language


_register("python", validate=check_python, postprocess_tests=testgen.postprocess_tests)
_register_not_yet("javascript")
_register_not_yet("typescript")
_register_not_yet("java")
_register_not_yet("go")
