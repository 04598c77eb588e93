"""POST /ai/testgen, /ai/testgen_review and /ai/testgen_repair: regression tests for the function the client
optimizes, which it runs against the original and every candidate (contract §2.6-2.8, prompting.md §9).

A test file is one model call (the client asks twice, test_index 0 and 1, and the two go to different models
of the route). Its reply is read defensively: the test file is taken from the fenced block that holds it, or from
the reply itself when it has no fence, and a reply cut off mid-file keeps its complete part. The file is then
post-processed by the language's hook (aiservice.code.languages) and, for Python, instrumented for the client's
behaviour and timing runs (aiservice.code.instrument). A file that still cannot be used (no test calls the
function, it imports it from another module, it does not parse) gets one retry with the problem stated; then the
request fails (502) and the client does without that file.

Test generation does not count toward the plan's monthly quota; the model calls are billed like any other.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiservice.code.instrument import InstrumentTarget, instrument_tests
from aiservice.code.languages import LanguageSupport, language_support
from aiservice.code.syntax import CodeSyntaxError
from aiservice.code.testgen import CodeUnderTest
from aiservice.errors import InvalidRequest, NotSupported, NoValidCandidate
from aiservice.llm.client import CallContext, call_llm, worst_case_usd
from aiservice.llm.routing import Route, route_for
from aiservice.llm.runtime import fan_out, run
from aiservice.llm.types import LLMResult
from aiservice.pipelines.errors import record_run_errors
from aiservice.pipelines.generation import ModelCall, call_within, reserved, spread
from aiservice.pipelines.prompts import render, section
from aiservice.pipelines.rerun import stored_or_live
from aiservice.pipelines.schemas import (
    FunctionToRepair,
    TestFileReview,
    TestgenRepairRequest,
    TestgenRequest,
    TestgenResponse,
    TestgenReviewRequest,
    TestgenReviewResponse,
    TestsForRequest,
)
from aiservice.pipelines.scope import Scope

_MAX_SOURCE_CHARS = 12_000  # of one test file or module shown in a review or repair prompt
_MAX_REASON_CHARS = 500

# Emphasis per test file: the client asks for two files, and two files that test the same things waste one.
_FOCUS = (
    "the contract's edges: boundaries, degenerate inputs, error paths and every branch, with one or two "
    "realistic sizes.",
    "realistic workloads: varied shapes of data (sorted, reversed, duplicated, mixed) at two or three sizes, "
    "the largest one heavy, plus the edge cases the first file may have missed.",
)


@dataclass(frozen=True)
class _Framework:
    rules: str
    fence_tag: str | None  # None: the language's own name (javascript, typescript)
    raises_idiom: str
    import_style: str  # "python": `from m import name`; "script": from the request's module system


_PYTHON, _SCRIPT = "python", "script"
_FRAMEWORKS: dict[str, _Framework] = {
    "pytest": _Framework(
        rules="Plain pytest: module-level `test_*` functions, bare `assert`, `pytest.raises` for expected "
        "exceptions; `pytest.mark.parametrize` is fine. No fixtures beyond pytest's own, no conftest, no plugins.",
        fence_tag="python",
        raises_idiom="pytest.raises(...)",
        import_style=_PYTHON,
    ),
    "unittest": _Framework(
        rules="unittest: `unittest.TestCase` subclasses with `test_*` methods and the `self.assert*` methods; no "
        "pytest import, no `if __name__ == '__main__'` block.",
        fence_tag="python",
        raises_idiom="self.assertRaises(...)",
        import_style=_PYTHON,
    ),
    "jest": _Framework(
        rules="jest: `describe` and `test` (or `it`) with `expect`; jest's globals need no import.",
        fence_tag=None,
        raises_idiom="expect(() => ...).toThrow()",
        import_style=_SCRIPT,
    ),
    "vitest": _Framework(
        rules="vitest: import `describe`, `test` and `expect` from 'vitest'; no jest globals.",
        fence_tag=None,
        raises_idiom="expect(() => ...).toThrow()",
        import_style=_SCRIPT,
    ),
    "mocha": _Framework(
        rules="mocha: `describe` and `it` with node's `assert` module (`assert.deepStrictEqual`, `assert.throws`).",
        fence_tag=None,
        raises_idiom="assert.throws(() => ...)",
        import_style=_SCRIPT,
    ),
}


class _Unusable(ValueError):
    """A reply that holds no usable test file; the message says why, for the retry prompt and the logs."""


# ------------------------------------------------------------------------------------------ the test file


@dataclass(frozen=True)
class _Tests:
    """What a request's test file is for, and how a reply becomes the three sources the client reads."""

    language: LanguageSupport
    target: Any  # the language's tests target (aiservice.code.languages.TestsTarget)
    instrument: InstrumentTarget | None  # tests the server instruments (Python); None: the client does
    framework: _Framework
    request: TestsForRequest

    @classmethod
    def of(cls, request: TestsForRequest) -> _Tests:
        """Everything checked before any model call: an unsupported language is 422, bad names 400."""
        language = _supported(request.language)
        qualified_name = request.target_name
        if not qualified_name:
            raise InvalidRequest("field 'qualified_name' is missing and function_to_optimize does not name one")
        target = language.tests_target(request.module_path, qualified_name, tuple(request.helper_function_names))
        framework = _FRAMEWORKS.get(request.test_framework) or _Framework(
            rules=f"{request.test_framework}: use only its own API.", fence_tag=None,
            raises_idiom="the framework's own check for a raised error", import_style=_SCRIPT,
        )  # fmt: skip
        instrument = None
        # Python tests come back instrumented by the server (contract §5); the client instruments the others
        # (JS/TS, whose instrumented keys it ignores).
        if isinstance(target, CodeUnderTest):
            if request.test_framework not in ("pytest", "unittest"):
                raise InvalidRequest(f"test_framework {request.test_framework!r} is not pytest or unittest")
            instrument = InstrumentTarget(
                module_path=request.module_path, qualified_name=qualified_name, class_name=request.target_class,
                is_async=request.target_is_async, test_module_path=request.test_module_path,
                test_framework=request.test_framework,  # type: ignore[arg-type]  # checked above
            )  # fmt: skip
        return cls(language, target, instrument, framework, request)

    @property
    def qualified_name(self) -> str:
        return str(self.target.qualified_name)

    def prompt_values(self) -> dict[str, str]:
        """The values the testgen and repair prompts share."""
        request = self.request
        name = self.qualified_name
        top_level = name.partition(".")[0]
        return {
            "language": self.language.name,
            "qualified_name": name,
            "module_path": request.module_path,
            "framework_rules": self.framework.rules,
            "fence_tag": self.framework.fence_tag or self.language.tags[0],
            "import_line": _import_line(self.framework, request, top_level),
            "test_timeout": str(request.test_timeout or 15),
        }

    def finish(self, reply: str) -> tuple[str, TestgenResponse]:
        """(the reply's test file as written, the response). _Unusable if there is no usable file in it."""
        raw = extract_tests(reply, self.language)
        if raw is None:
            raise _Unusable(f"the reply holds no {self.language.name} test file that parses (one fenced block)")
        try:
            generated = self.language.postprocess_tests(raw, self.target).code
            if self.instrument is None:
                return raw, TestgenResponse(generated_tests=generated, instrumented_behavior_tests=generated,
                                            instrumented_perf_tests=generated, raw_generated_tests=raw)  # fmt: skip
            _check_imports(generated, self.instrument)
            # The behaviour and timing runs record outcomes rather than check them: asserts are stripped (a
            # wrong expectation must not fail the original), the calls in them kept.
            measured = self.language.postprocess_tests(raw, self.target, behavior_capture=True).code
            behavior = instrument_tests(measured, self.instrument, "behavior")
        except (CodeSyntaxError, InvalidRequest, ValueError) as error:  # JS: TestsRejected is a ValueError
            raise _Unusable(str(error)) from None
        if behavior == measured:
            raise _Unusable(
                f"no test calls {self.request.module_path}.{self.qualified_name} directly in its body, so nothing "
                "would be measured"
            )
        perf = instrument_tests(measured, self.instrument, "perf")
        return raw, TestgenResponse(generated_tests=generated, instrumented_behavior_tests=behavior,
                                    instrumented_perf_tests=perf, raw_generated_tests=raw)  # fmt: skip


def _supported(name: str) -> LanguageSupport:
    language = language_support(name)  # NotSupported (422) for a language the registry does not know
    if not language.supported:
        raise NotSupported(f"test generation for {language.name} is not supported yet")
    return language


def _import_line(framework: _Framework, request: TestsForRequest, name: str) -> str:
    if framework.import_style == _PYTHON:
        return f"from {request.module_path} import {name}"
    if (request.module_system or "").lower() == "commonjs":
        return f"const {{ {name} }} = require('{request.module_path}');"
    return f"import {{ {name} }} from '{request.module_path}';"


def _check_imports(code: str, target: InstrumentTarget) -> None:
    """A test file that imports the function's name from another module would fail to import, or test
    something else (the model guessed the module): refused, so that the retry imports it from the right one."""
    top_level = target.qualified_name.partition(".")[0]
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.level, node.module) != (0, target.module_path)
            and any(alias.name == top_level and alias.asname in (None, top_level) for alias in node.names)
        ):
            source = "." * node.level + (node.module or "")
            raise _Unusable(f"it imports {top_level} from {source}; import it from {target.module_path}")


# ------------------------------------------------------------------------------------------ reading replies

# A fenced block; its closing fence may be missing when the reply was cut off.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([^\n`]*)\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_MAX_PROSE_LINES = 40  # leading or trailing prose lines tried away from an unfenced reply
# Where an unfenced test file starts, after any prose: an import, a definition, a comment, a docstring, a test call.
_CODE_START = re.compile(
    r"""(?:(?:import|from|def|async|class|describe|test|it|const|let|var|function)\b|[@#'"]|//|/\*)"""
)


def extract_tests(reply: str, language: LanguageSupport) -> str | None:
    """The test file in a model's reply, or None. Fenced blocks in the language's tags come first, then other
    fences (```text), longest first; without a fence, the reply from its first line of code on, trailing prose
    dropped. A file cut off mid-way keeps its longest prefix that parses and ends before a top-level line."""
    tags = {tag.lower() for tag in language.tags}
    blocks = [(match.group(1).strip().partition(":")[0].lower(), match.group(2)) for match in _FENCE.finditer(reply)]
    ranked = sorted(blocks, key=lambda block: (block[0] not in tags, -len(block[1])))
    for _, code in ranked:
        found = _parsing(code, language)
        if found is not None:
            return found
    if blocks:
        return None
    lines = reply.strip().splitlines()
    start = next((i for i, line in enumerate(lines[:_MAX_PROSE_LINES]) if _CODE_START.match(line)), None)
    if start is None:
        return None
    for end in range(len(lines), max(start, len(lines) - _MAX_PROSE_LINES), -1):
        code = "\n".join(lines[start:end]).strip("\n")
        if _parses(code, language):
            return code + "\n"
    return _parsing("\n".join(lines[start:]), language)  # an unfenced reply that was cut off


def _parsing(code: str, language: LanguageSupport) -> str | None:
    code = code.strip("\n")
    if not code.strip():
        return None
    if _parses(code, language):
        return code + "\n"
    lines = code.splitlines()
    # Cut off: keep what comes before the last top-level statement that parses.
    for end in range(len(lines) - 1, 0, -1):
        line = lines[end]
        if line and not line[0].isspace() and line[0] not in ")]}":
            prefix = "\n".join(lines[:end]).rstrip()
            if prefix and _parses(prefix, language):
                return prefix + "\n"
    return None


def _parses(code: str, language: LanguageSupport) -> bool:
    try:
        language.validate(code)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------ /ai/testgen


def testgen(request: TestgenRequest, scope: Scope) -> TestgenResponse:
    tests = _Tests.of(request)

    def live() -> TestgenResponse:
        route = route_for("testgen", scope.principal)
        values = tests.prompt_values()
        system = render(
            "testgen_system", **{key: values[key] for key in (
                "language", "qualified_name", "module_path", "framework_rules", "fence_tag", "import_line",
                "test_timeout")},
            source_code=request.source_code_being_tested.strip(),
            helpers_section=section("Helpers it calls (fully qualified)",
                                    "\n".join(f"- `{name}`" for name in request.helper_function_names)),
            async_note=" (a coroutine function: await it inside async tests)" if request.target_is_async else "",
            call_note=(" (on an instance you create in that test)" if request.target_class else ""),
            raises_idiom=tests.framework.raises_idiom,
        )  # fmt: skip
        user = render("testgen_user", number=str(request.test_index + 1), qualified_name=tests.qualified_name,
                      focus=_FOCUS[request.test_index % len(_FOCUS)])  # fmt: skip
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return _generate(scope, route, "testgen", request.trace_id, _rotated(route, messages, request.test_index),
                         tests)  # fmt: skip

    return stored_or_live(
        scope, trace_id=request.trace_id, rerun_trace_id=request.rerun_trace_id, endpoint="testgen",
        key=f"{request.test_index}:{request.test_module_path}", counts_toward_quota=False,
        response_type=TestgenResponse, live=live,
    )  # fmt: skip


def _rotated(route: Route, messages: list[dict[str, Any]], turn: int) -> ModelCall:
    """The call for the `turn`-th file: the route's models take turns as the primary, so the client's two files
    come from two models where the route has two (more diverse tests than two samples of one model)."""
    return spread(route, [messages] * (turn + 1))[turn]


def _generate(scope: Scope, route: Route, call_type: str, trace_id: str, call: ModelCall,
              tests: _Tests) -> TestgenResponse:  # fmt: skip
    """One call, and one retry round when its reply holds no usable file. The retry's conversation holds the
    first reply: at most the first call's worst case again plus its output read back as input."""
    with reserved(scope, route, call_type, trace_id, 3 * call.worst_case_usd, counts_toward_quota=False) as context:
        reply = call_within(call, context)
        try:
            return tests.finish(reply.content)[1]
        except _Unusable as problem:
            record_run_errors(trace_id, call_type, [("tests_unusable", str(problem)[:500])])
            retry = replace(
                call,
                messages=(
                    *call.messages,
                    {"role": "assistant", "content": reply.content},
                    {"role": "user", "content": render("testgen_retry", problem=str(problem))},
                ),
            )
            reply = call_within(retry, context)
        try:
            return tests.finish(reply.content)[1]
        except _Unusable as problem:
            record_run_errors(trace_id, call_type, [("tests_unusable", str(problem)[:500])])
            raise NoValidCandidate(f"the model's tests are unusable after a retry: {problem}") from None


# ------------------------------------------------------------------------------------------ /ai/testgen_review


def testgen_review(request: TestgenReviewRequest, scope: Scope) -> TestgenReviewResponse:
    language = _supported(request.language)

    def live() -> TestgenReviewResponse:
        route = route_for("testgen_review", scope.principal)
        system = render(
            "testgen_review_system",
            language=language.name,
            function_name=request.function_name or "the function under test",
            function_source_code=_clip(request.function_source_code) or "(not given)",
            coverage_section=_coverage_section(request.coverage_summary, request.coverage_details),
            tests="\n\n".join(_describe_test_file(test.test_index, test.test_source, test.failed_test_functions,
                                                  test.failure_messages, language) for test in request.tests),
        )  # fmt: skip
        messages = [{"role": "system", "content": system}, {"role": "user", "content": render("testgen_review_user")}]
        (call,) = spread(route, [messages])
        estimate = worst_case_usd(call.messages, model=call.model, options=call.options, fallbacks=call.fallbacks,
                                  schema=TestgenReviewResponse)  # fmt: skip
        with reserved(scope, route, "testgen_review", request.trace_id, estimate, counts_toward_quota=False) as context:
            result = _structured(call, context)
        reviews, dropped = valid_reviews(request, result.parsed)
        record_run_errors(request.trace_id, "testgen_review", [("review_dropped", reason) for reason in dropped])
        return TestgenReviewResponse(reviews=reviews)

    digest = hashlib.sha256("\0".join(test.test_source for test in request.tests).encode()).hexdigest()[:16]
    return stored_or_live(
        scope, trace_id=request.trace_id, rerun_trace_id=request.rerun_trace_id, endpoint="testgen_review",
        key=digest, counts_toward_quota=False, response_type=TestgenReviewResponse, live=live,
    )  # fmt: skip


def _structured(call: ModelCall, context: CallContext) -> LLMResult:
    """One call whose reply is validated against the review schema (call_llm's one repair round included)."""
    assert context.deadline is not None
    (result,) = run(fan_out([call_llm(call.messages, model=call.model, context=context, options=call.options,
                                      fallbacks=call.fallbacks, schema=TestgenReviewResponse)],
                            context.deadline))  # fmt: skip
    if isinstance(result, BaseException):
        raise result
    return result


def valid_reviews(request: TestgenReviewRequest, parsed: Any) -> tuple[list[TestFileReview], list[str]]:
    """The model's reviews the client can use: each for a test file of the request (the client subscripts its
    files with test_index), naming test functions defined in that file, at most one entry per file and name.
    Returns them with what was dropped and why."""
    files = {test.test_index: test.test_source for test in request.tests}
    reviews: dict[int, dict[str, FunctionToRepair]] = {}
    dropped: list[str] = []
    proposed = parsed.reviews if isinstance(parsed, TestgenReviewResponse) else []
    for review in proposed:
        if review.test_index not in files:
            dropped.append(f"test_index {review.test_index} is not one of the request's {sorted(files)}")
            continue
        kept = reviews.setdefault(review.test_index, {})
        for function in review.functions:
            name = function.function_name.strip()
            if name == request.function_name or not _defines_test(files[review.test_index], name):
                dropped.append(f"test file {review.test_index} defines no test {name!r}")
                continue
            reason = (function.reason or "flagged by the review").strip()[:_MAX_REASON_CHARS]
            kept.setdefault(name, FunctionToRepair(function_name=name, reason=reason))
    return [TestFileReview(test_index=index, functions=list(functions.values()))
            for index, functions in reviews.items() if functions], dropped  # fmt: skip


def _defines_test(source: str, name: str) -> bool:
    """Whether the file defines a test of that name: a function or method (`def name`, `function name`) or a
    named test case (`test('name', ...)`)."""
    if not name or "\n" in name:
        return False
    quoted = re.escape(name)
    return bool(re.search(rf"(?:\bdef|\bfunction)\s+{quoted}\s*\(|\b(?:test|it)\s*\(\s*['\"`]{quoted}['\"`]", source))


def _describe_test_file(index: int, source: str, failed: Sequence[str], messages: dict[str, str],
                        language: LanguageSupport) -> str:  # fmt: skip
    parts = [f"### Test file {index}", f"```{language.tags[0]}\n{_clip(source)}\n```"]
    if failed:
        parts.append("Failed on the original code: " + ", ".join(f"`{name}`" for name in failed))
    for name, message in list(messages.items())[:10]:
        parts.append(f"Failure of `{name}`:\n```\n{_clip(message, 1500)}\n```")
    if not failed and not messages:
        parts.append("Every test in it passed on the original code.")
    return "\n\n".join(parts)


def _coverage_section(summary: str | None, details: dict[str, object] | None) -> str:
    lines = []
    if summary:
        lines.append(f"Line coverage of the function by these tests: {summary}.")
    main = details.get("main_function") if isinstance(details, dict) else None
    if isinstance(main, dict):
        missed = main.get("unexecuted_lines") or []
        branches = main.get("unexecuted_branches") or []
        if missed:
            lines.append(f"Lines never executed (numbered in the file): {', '.join(map(str, missed))}.")
        if branches:
            lines.append(f"Branches never taken (from line, to line): {', '.join(map(str, branches))}.")
    return section("Coverage", "\n".join(lines))


def _clip(text: str | None, limit: int = _MAX_SOURCE_CHARS) -> str:
    text = (text or "").strip().replace("```", "'''")
    return text if len(text) <= limit else text[:limit] + "\n... (cut)"


# ------------------------------------------------------------------------------------------ /ai/testgen_repair


def testgen_repair(request: TestgenRepairRequest, scope: Scope) -> TestgenResponse:
    tests = _Tests.of(request)

    def live() -> TestgenResponse:
        route = route_for("testgen_repair", scope.principal)
        values = tests.prompt_values()
        previous = "\n".join(f"- `{name}`: {_clip(error, 1500)}"
                             for name, error in (request.previous_repair_errors or {}).items())  # fmt: skip
        system = render(
            "testgen_repair_system", **values,
            function_source_code=_clip(request.function_source_code) or "(not given)",
            module_section=section(f"The whole module `{request.module_path}` (read-only)",
                                   _clip(request.module_source_code), fence=""),
            coverage_section=_coverage_section(None, request.coverage_details),
            test_source=_clip(request.test_source, 4 * _MAX_SOURCE_CHARS),
            functions_to_repair="\n".join(f"- `{function.function_name}`: {function.reason or 'flagged'}"
                                          for function in request.functions_to_repair),
            previous_errors_section=section("Errors of the previous repair attempt (do not repeat them)", previous),
        )  # fmt: skip
        messages = [{"role": "system", "content": system}, {"role": "user", "content": render("testgen_repair_user")}]
        (call,) = spread(route, [messages])
        return _generate(scope, route, "testgen_repair", request.trace_id, call, tests)

    names = ",".join(sorted(function.function_name for function in request.functions_to_repair))
    digest = hashlib.sha256(f"{request.test_module_path}\0{names}\0{request.test_source}".encode()).hexdigest()[:16]
    return stored_or_live(
        scope, trace_id=request.trace_id, rerun_trace_id=request.rerun_trace_id, endpoint="testgen_repair",
        key=digest, counts_toward_quota=False, response_type=TestgenResponse, live=live,
    )  # fmt: skip
