"""Language dispatch: what the service does for each language the codeflash client may send, in one registry.

A router looks the request's `language` up here and calls the hooks it gets; it never branches on the name, so
adding a language is one `_register(...)` call below (and its extensions in aiservice.code.markdown's table,
which both modules read).

Python, JavaScript and TypeScript are handled (JS/TS through tree-sitter, as the client checks them:
aiservice.code.javascript). Java and Go have no parser here, so their hooks answer NotSupported (HTTP 422) rather
than pass on code nobody checked.

Tests post-processing, for a pipeline (the same calls for every language):

    language = language_support(request.language)
    target = language.tests_target(module_path, qualified_name, helpers)  # InvalidRequest if the names are bad
    processed = language.postprocess_tests(raw_tests, target, behavior_capture=True)  # -> ProcessedTests

`postprocess_tests` raises CodeSyntaxError when the tests do not parse. Python's rewrites the tests
(aiservice.code.testgen); JS/TS's only removes a markdown fence, checks the tests parse, call test/it/describe
and import `module_path` (else javascript.TestsRejected, a ValueError), and ignores behavior_capture: the client
re-instruments JS/TS tests itself (contract §2.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from aiservice.code import javascript
from aiservice.code.markdown import EXTENSIONS
from aiservice.code.syntax import check_python
from aiservice.errors import NotSupported

if TYPE_CHECKING:  # the Python test tools load libcst: only requests that post-process tests import them
    from aiservice.code import testgen


class Validate(Protocol):
    def __call__(self, code: str, path: str | None = None) -> None:
        """Returns if the code parses; raises CodeSyntaxError (with line and column) if not."""


class TestsTarget(Protocol):
    """What tests are for, as each language's `tests_target` builds it from the request."""

    @property
    def module_path(self) -> str: ...

    @property
    def qualified_name(self) -> str: ...


class MakeTestsTarget(Protocol):
    def __call__(self, module_path: str, qualified_name: str, helpers: tuple[str, ...] = ()) -> TestsTarget:
        """The target from the request's `module_path`, `qualified_name` and `helper_function_names`; raises
        InvalidRequest if they are not names of the language."""


class PostprocessTests(Protocol):
    # `target` is what the same language's tests_target made (each language has its own type).
    def __call__(self, source: str, target: Any, *, behavior_capture: bool = False) -> testgen.ProcessedTests: ...


@dataclass(frozen=True)
class LanguageSupport:
    name: str  # as the client's `language` field spells it
    # The markdown fence tags the client accepts for it, in any case: the name and each file extension
    # (contract §4). Any other tag crashes the client.
    tags: tuple[str, ...]
    file_extensions: tuple[str, ...]  # with the dot, as in a path
    validate: Validate
    tests_target: MakeTestsTarget
    postprocess_tests: PostprocessTests
    supported: bool = True


_LANGUAGES: dict[str, LanguageSupport] = {}


def _register(
    name: str,
    validate: Validate,
    tests_target: MakeTestsTarget,
    postprocess_tests: PostprocessTests,
    supported: bool = True,
) -> None:
    if name in _LANGUAGES:
        raise ValueError(f"language {name!r} is registered already")
    extensions = tuple(extension for extension, language in EXTENSIONS.items() if language == name)
    _LANGUAGES[name] = LanguageSupport(
        name=name,
        tags=tuple(dict.fromkeys((name, *extensions))),  # `java` is both
        file_extensions=tuple(f".{extension}" for extension in extensions),
        validate=validate,
        tests_target=tests_target,
        postprocess_tests=postprocess_tests,
        supported=supported,
    )


def _register_script(name: str) -> None:
    """JavaScript or TypeScript: one module, aiservice.code.javascript, for both."""

    def validate(code: str, path: str | None = None) -> None:
        javascript.check_syntax(code, name, path)

    def postprocess_tests(
        source: str, target: javascript.TestsTarget, *, behavior_capture: bool = False
    ) -> testgen.ProcessedTests:
        from aiservice.code.testgen import ProcessedTests

        code, changes = javascript.check_tests(source, name, target)
        return ProcessedTests(code=code, changes=changes)

    _register(name, validate=validate, tests_target=javascript.TestsTarget, postprocess_tests=postprocess_tests)


def _register_not_yet(name: str) -> None:
    """A language the client knows and we do not handle yet: every hook refuses it."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise NotSupported(f"{name} is not supported yet")

    _register(name, validate=refuse, tests_target=refuse, postprocess_tests=refuse, supported=False)


def language_support(name: str) -> LanguageSupport:
    """The language named (any case), or NotSupported naming the languages there are."""
    language = _LANGUAGES.get(name.lower())
    if language is None:
        supported = sorted(known.name for known in _LANGUAGES.values() if known.supported)
        not_yet = sorted(known.name for known in _LANGUAGES.values() if not known.supported)
        raise NotSupported(
            f"language {name!r} is not supported; supported: {', '.join(supported)} (not yet: {', '.join(not_yet)})"
        )
    return language


def _python_tests_target(module_path: str, qualified_name: str, helpers: tuple[str, ...] = ()) -> testgen.CodeUnderTest:
    from aiservice.code.testgen import CodeUnderTest

    return CodeUnderTest(module_path, qualified_name, helpers)


def _python_postprocess_tests(
    source: str, target: testgen.CodeUnderTest, *, behavior_capture: bool = False
) -> testgen.ProcessedTests:
    from aiservice.code.testgen import postprocess_tests

    return postprocess_tests(source, target, behavior_capture=behavior_capture)


_register("python", validate=check_python, tests_target=_python_tests_target,
          postprocess_tests=_python_postprocess_tests)  # fmt: skip
_register_script("javascript")
_register_script("typescript")
_register_not_yet("java")
_register_not_yet("go")
