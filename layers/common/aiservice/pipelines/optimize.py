"""POST /ai/optimize, /ai/optimize-line-profiler and /ai/rewrite_jit: first-pass candidates for the request's
code, one model call per candidate, each with its own angle of attack (prompting.md §1: diverse ideas and mixed
models beat more samples of one idea)."""

from __future__ import annotations

from dataclasses import dataclass

from aiservice.code.languages import language_support
from aiservice.code.markdown import CodeStringsMarkdown
from aiservice.config import get_settings
from aiservice.errors import InvalidRequest
from aiservice.llm.routing import route_for
from aiservice.pipelines.generation import candidates_from, replies_or_raise, run_calls, spread
from aiservice.pipelines.prompts import render, section
from aiservice.pipelines.rerun import stored_or_live
from aiservice.pipelines.schemas import OptimizationsResponse, OptimizeRequest
from aiservice.pipelines.scope import Scope
from aiservice.store.features import FeaturesStore

DEFAULT_CANDIDATES = 5
_STANDARD_LIBRARY_ONLY = "Use only the standard library and the modules the code already imports."

# One angle per candidate, in this order; `numerical` ones only for numerical code.
_STRATEGIES = (
    (
        "algorithm",
        "a better algorithm or data structure: lower the complexity class of the hot path (a set or "
        "dict instead of repeated scans, sorting once instead of searching many times, a heap, a "
        "two-pointer pass).",
    ),
    (
        "repeated_work",
        "avoid repeated work: hoist invariant computations out of loops, compute once what is "
        "computed many times, exit early, make fewer passes over the data.",
    ),
    (
        "builtins",
        "move work from interpreted loops into built-ins and the standard library (sorted, sum, min/max "
        "with key, any/all, str.join, itertools, collections, bisect, math), which run in C.",
    ),
    (
        "vectorise",
        "vectorise: express the loops as whole-array operations of the numerical library the code "
        "already uses, keeping dtypes and exact float results.",
    ),
    (
        "allocation",
        "cut allocation and copying: no temporary lists where an iterator does, preallocate, build "
        "strings with join, avoid copying inputs, reuse buffers.",
    ),
    (
        "hot_loop",
        "tighten the hottest loop itself: bind attribute and global lookups to locals, move checks out "
        "of the loop, replace exceptions used for control flow, specialise the common case.",
    ),
)
# The same angles in JavaScript and TypeScript terms (V8: built-ins, Set/Map, typed arrays, monomorphic loops).
_SCRIPT_STRATEGIES = (
    (
        "algorithm",
        "a better algorithm or data structure: lower the complexity class of the hot path (a Set or "
        "Map instead of repeated array scans with includes/indexOf/find, sorting once instead of "
        "searching many times, a heap, a two-pointer pass).",
    ),
    (
        "repeated_work",
        "avoid repeated work: hoist invariant computations out of loops, compute once what is "
        "computed many times, exit early, make one pass instead of chained map/filter/reduce.",
    ),
    (
        "builtins",
        "let the engine's built-ins do the work of hand-written loops: Array.prototype.sort with a "
        "numeric comparator, Set and Map, Array.prototype.join instead of string += in a loop, "
        "Math.min/max over a loop (never spread over a large array), typed arrays for numeric data.",
    ),
    (
        "vectorise",
        "numeric arrays: store them in typed arrays (Float64Array, Int32Array) and run plain indexed "
        "loops over them, keeping exact float results and the return type the callers get.",
    ),
    (
        "allocation",
        "cut allocation and copying: no intermediate arrays from chained map/filter/slice/concat or "
        "spread where one loop does, preallocate, avoid copying inputs, create no closures or "
        "objects inside the hot loop.",
    ),
    (
        "hot_loop",
        "tighten the hottest loop for the JIT: an indexed `for` loop instead of forEach or for...of "
        "there, locals for repeated property lookups and `.length`, checks and try/catch moved out of "
        "the loop, values of one type and one object shape (monomorphic), the common case first.",
    ),
)
_STRATEGIES_BY_LANGUAGE = {"javascript": _SCRIPT_STRATEGIES, "typescript": _SCRIPT_STRATEGIES}
_NUMERICAL_ONLY = {"vectorise"}

_JIT_STRATEGIES = (
    "numba: decorate the hot numerical function with `numba.njit(cache=True)` and make its body nopython-"
    "compatible (typed loops over arrays, no Python objects inside).",
    "torch.compile: where the code already works on torch tensors, wrap the hot function with `torch.compile`.",
    "jax.jit: where the code already uses jax.numpy, wrap the pure hot function with `jax.jit`.",
)


@dataclass(frozen=True)
class _Kind:
    endpoint: str  # as stored for reruns
    call_type: str  # routing and billing
    counts_toward_quota: bool


_OPTIMIZE = _Kind("optimize", "optimize", True)
_LINE_PROFILER = _Kind("optimize-line-profiler", "optimize_line_profiler", False)
_JIT = _Kind("rewrite_jit", "rewrite_jit", False)


def optimize(request: OptimizeRequest, scope: Scope) -> OptimizationsResponse:
    return _first_pass(request, scope, _OPTIMIZE)


def optimize_line_profiler(request: OptimizeRequest, scope: Scope) -> OptimizationsResponse:
    if not (request.line_profiler_results or "").strip():
        raise InvalidRequest("field 'line_profiler_results' is empty: there is no profile to guide the candidates")
    return _first_pass(request, scope, _LINE_PROFILER)


def rewrite_jit(request: OptimizeRequest, scope: Scope) -> OptimizationsResponse:
    return _first_pass(request, scope, _JIT)


def _first_pass(request: OptimizeRequest, scope: Scope, kind: _Kind) -> OptimizationsResponse:
    def live() -> OptimizationsResponse:
        original = parse_source(request.source_code, request.language)
        count = candidate_count(request.n_candidates)
        if count == 0:
            return OptimizationsResponse(optimizations=[])
        if kind is _OPTIMIZE:  # a run for the cost report; NotOwner (403) for another user's trace, before any spend
            FeaturesStore().record_run(request.trace_id, scope.principal.user_id, scope.principal.org_id)
        route = route_for(kind.call_type, scope.principal)
        system = _system_prompt(request, original, kind)
        conversations = [
            [{"role": "system", "content": system}, {"role": "user", "content": _user_prompt(request, kind, number)}]
            for number in range(count)
        ]
        calls = spread(route, conversations)
        results = run_calls(
            scope, route, kind.call_type, request.trace_id, calls, counts_toward_quota=kind.counts_toward_quota
        )
        replies = replies_or_raise(results, request.trace_id, kind.call_type)
        return OptimizationsResponse(
            optimizations=candidates_from(original, replies, trace_id=request.trace_id, call_type=kind.call_type)
        )

    return stored_or_live(
        scope,
        trace_id=request.trace_id,
        rerun_trace_id=request.rerun_trace_id,
        endpoint=kind.endpoint,
        key="",
        counts_toward_quota=kind.counts_toward_quota,
        response_type=OptimizationsResponse,
        live=live,
    )


def parse_source(markdown: str, language: str) -> CodeStringsMarkdown:
    """The request's editable code: markdown blocks of a supported language, each of which parses."""
    language_support(language)  # NotSupported (422) for a language we do not handle yet
    parsed = CodeStringsMarkdown.parse(markdown)
    if not parsed.blocks:
        raise InvalidRequest("field 'source_code' holds no fenced code block (```python:path ... ```)")
    for block in parsed.blocks:
        try:
            language_support(block.language).validate(block.code, block.path)
        except ValueError as error:  # CodeSyntaxError: the request's own code does not parse
            raise InvalidRequest(f"field 'source_code': {error}") from None
    return parsed


def candidate_count(requested: int | None) -> int:
    return min(DEFAULT_CANDIDATES if requested is None else requested, get_settings().max_candidates)


def strategies(is_numerical: bool, language: str = "python") -> list[tuple[str, str]]:
    angles = _STRATEGIES_BY_LANGUAGE.get(language.lower(), _STRATEGIES)
    return [(name, text) for name, text in angles if is_numerical or name not in _NUMERICAL_ONLY]


def _system_prompt(request: OptimizeRequest, original: CodeStringsMarkdown, kind: _Kind) -> str:
    profile = ""
    if kind is _LINE_PROFILER:
        profile = render(
            "line_profiler_section", language=request.language, profile=(request.line_profiler_results or "").strip()
        )
    return render(
        "optimize_system",
        language=request.language,
        language_version=request.language_version or "(version not given)",
        first_path=original.blocks[0].path or "path/to/file",
        source_code=request.source_code.strip(),
        context_section=section("Read-only context (do not edit)", request.dependency_code),
        profile_section=profile,
        dependency_rule=(
            "You may import the JIT library the angle names; otherwise use only the standard library and the "
            "modules the code already imports."
            if kind is _JIT
            else _STANDARD_LIBRARY_ONLY
        ),
    )


def _user_prompt(request: OptimizeRequest, kind: _Kind, number: int) -> str:
    if kind is _JIT:
        return render("jit_user", number=str(number + 1), strategy=_JIT_STRATEGIES[number % len(_JIT_STRATEGIES)])
    angles = strategies(bool(request.is_numerical_code), request.language)
    _, text = angles[number % len(angles)]
    return render("optimize_user", number=str(number + 1), strategy=text)
