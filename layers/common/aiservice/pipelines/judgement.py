"""POST /ai/rank, /ai/explain and /ai/optimization_review: judgements about verified candidates
(shared/reference/prompting.md §6-§8). The measurements decide what they can; the model judges only what they
cannot, and its answer is checked before it reaches the client:

- rank: the measured speedups order the candidates; the model only breaks ties among those within measurement
  noise of the fastest, asked in two orders (position bias), and only an answer both orders agree on counts.
  The answer is always a permutation of the request's indices.
- explain: the model describes the diff from the measurements; every figure it writes must come from the
  request, a sentence with an invented one is dropped.
- optimization_review: a rubric through structured output; an unusable answer is `""` (the client's own
  "no review"), never an error.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, Field

from aiservice.access import metered
from aiservice.code.markdown import CodeStringsMarkdown
from aiservice.errors import InvalidRequest
from aiservice.llm.client import CallContext, call_llm, worst_case_usd
from aiservice.llm.errors import LLMCallFailed
from aiservice.llm.routing import Route, route_for
from aiservice.llm.runtime import DeadlineExceeded, fan_out, run
from aiservice.llm.types import LLMResult
from aiservice.observability import logger
from aiservice.pipelines.errors import record_run_errors
from aiservice.pipelines.generation import ModelCall, replies_or_raise, run_calls, spread
from aiservice.pipelines.prompts import render, section
from aiservice.pipelines.schemas import (
    ExplainRequest,
    ExplainResponse,
    RankRequest,
    RankResponse,
    Review,
    ReviewRequest,
    ReviewResponse,
)
from aiservice.pipelines.scope import Scope

# Benchmarks of the same code vary by about this much (codeflash's own noise floor, prompting.md §6): candidates
# this close to the fastest are ties that measurement cannot break.
NOISE = 0.05
MAX_CONTENDERS = 5  # the model compares at most this many; the rest stay in speed order
MAX_DIFF_CHARS = 12_000
MAX_SECTION_CHARS = 16_000


# ---------------------------------------------------------------- structured calls


def run_structured(
    scope: Scope,
    route: Route,
    call_type: str,
    trace_id: str | None,
    calls: Sequence[ModelCall],
    schema: type[BaseModel],
) -> list[LLMResult | BaseException]:
    """Like generation.run_calls, for calls with a structured reply: the reservation covers the repair round.
    `trace_id` None: a request outside any optimization run (its cost is billed, not added to a trace)."""
    estimate = sum(
        (worst_case_usd(call.messages, model=call.model, options=call.options, fallbacks=call.fallbacks,
                        schema=schema) for call in calls),
        Decimal(0),
    )  # fmt: skip
    with metered(scope.principal, trace_id=trace_id, estimate_usd=estimate, counts_toward_quota=False) as ledger:
        context = CallContext(
            call_type=call_type, trace_id=trace_id, principal=scope.principal, ledger=ledger,
            deadline=scope.deadline, credentials=route.credentials,
        )  # fmt: skip
        return run(
            fan_out(
                [call_llm(call.messages, model=call.model, context=context, options=call.options,
                          fallbacks=call.fallbacks, schema=schema) for call in calls],
                scope.deadline,
            )
        )  # fmt: skip


def _conversation(system: str, user: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _describe(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}"[:500]


def _clip(text: str | None, limit: int = MAX_SECTION_CHARS) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + "\n[... cut ...]"


# ---------------------------------------------------------------- rank


class RankVerdict(BaseModel):
    best: int = Field(description="the number of the candidate to propose")
    reason: str = Field(description="the deciding difference, in one or two sentences")


def speed_order(speedups: Sequence[float | None], diffs: Sequence[str]) -> list[int]:
    """Fastest first; unmeasured candidates last; ties by the smaller diff, then by index."""

    def key(index: int) -> tuple[float, int, int]:
        speedup = speedups[index]
        measured = speedup is not None and math.isfinite(speedup)
        return (-speedup if measured and speedup is not None else math.inf, len(diffs[index]), index)

    return sorted(range(len(speedups)), key=key)


def contenders(speedups: Sequence[float | None], order: Sequence[int]) -> list[int]:
    """The candidates within measurement noise of the fastest (speed order), at most MAX_CONTENDERS."""
    best = speedups[order[0]] if order else None
    if best is None or not math.isfinite(best) or best <= 0:
        return []
    close = [i for i in order if (s := speedups[i]) is not None and math.isfinite(s) and s * (1 + NOISE) >= best]
    return close[:MAX_CONTENDERS]


def as_permutation(ranking: Sequence[Any], size: int, fallback: Sequence[int]) -> list[int]:
    """`ranking` if it is a permutation of range(size), else `fallback` (logged): the client indexes its lists
    with ranking[0], and an index out of range crashes it."""
    if sorted(x for x in ranking if type(x) is int) == list(range(size)) and len(ranking) == size:
        return list(ranking)
    logger.warning("rank: not a permutation of the candidates; answering the speed order",
                   extra={"ranking": list(ranking)[:20], "size": size})  # fmt: skip
    return list(fallback)


def rank(request: RankRequest, scope: Scope) -> RankResponse:
    size = len(request.diffs)
    if len(request.speedups) != size or (request.optimization_ids and len(request.optimization_ids) != size):
        raise InvalidRequest(
            f"fields 'diffs' ({size}), 'speedups' ({len(request.speedups)}) and 'optimization_ids' "
            f"({len(request.optimization_ids)}) must have one entry per candidate"
        )
    order = speed_order(request.speedups, request.diffs)
    close = contenders(request.speedups, order)
    if len(close) < 2:  # the measurements decide
        return RankResponse(ranking=as_permutation(order, size, order))
    winner = _tie_break(request, scope, close)
    ranking = [winner, *(index for index in order if index != winner)] if winner is not None else order
    return RankResponse(ranking=as_permutation(ranking, size, order))


def _tie_break(request: RankRequest, scope: Scope, close: list[int]) -> int | None:
    """The candidate the model picks in both orders of presentation, or None (the fastest stays first). The
    second order is the first rotated by one, so that every candidate changes position (a reversal would leave
    the middle one of three in place, where a judge biased towards the middle would agree with itself)."""
    orders = [close, close[1:] + close[:1]]
    system = render("rank_system", noise_percent=f"{NOISE * 100:g}")
    references = section("Where the function is called", _clip(request.function_references, 4_000), fence="")
    conversations = [
        _conversation(
            system,
            render(
                "rank_user",
                references_section=references,
                candidates="\n\n".join(
                    f"### Candidate {number}\n\n```diff\n{_clip(request.diffs[index], MAX_DIFF_CHARS)}\n```"
                    for number, index in enumerate(shown, start=1)
                ),
            ),
        )
        for shown in orders
    ]
    route = route_for("rank", scope.principal)
    # spread() gives each order a different primary model: no single model's self-preference decides alone.
    results = run_structured(scope, route, "rank", request.trace_id, spread(route, conversations), RankVerdict)
    picks: list[int | None] = []
    problems: list[tuple[str, str]] = []
    for shown, result in zip(orders, results, strict=True):
        if not isinstance(result, LLMResult):
            problems.append(("model_call_failed", _describe(result)))
            picks.append(None)
            continue
        verdict: RankVerdict = result.parsed
        if 1 <= verdict.best <= len(shown):
            picks.append(shown[verdict.best - 1])
        else:
            problems.append(("rank_out_of_range", f"best={verdict.best} of {len(shown)} candidates"))
            picks.append(None)
    record_run_errors(request.trace_id, "rank", problems)
    agreed = picks[0] if picks[0] is not None and picks[0] == picks[1] else None
    logger.info("rank: tie-break", extra={"contenders": close, "picks": picks, "agreed": agreed})
    return agreed


# ---------------------------------------------------------------- explain

# A figure: digits, optionally with thousands separators and decimals, not part of an identifier or a version
# ("arr2", "x86_64"), and the unit that makes it a measurement claim, if one follows ("3.6μs", "12x", "45%").
_FIGURE = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?![\d,]*\.?\d)"
    r"(\s?(?:%|x\b|×|times\b|(?:[nμµum]s|s|ms|sec|seconds?|(?:nano|micro|milli)seconds?)\b))?"
)
_LIST_MARKER = re.compile(r"^(\s*(?:[-*+]|\d{1,2}[.)])\s+)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*_(\[\"'])")
# Where measurements are: any figure of these is a measured one. Elsewhere (the code, the tests' code) only
# figures written with a unit are.
_MEASURED_FIELDS = (
    "original_code_runtime", "optimized_code_runtime", "speedup", "original_line_profiler_results",
    "optimized_line_profiler_results", "original_throughput", "optimized_throughput", "throughput_improvement",
    "original_concurrency_ratio", "optimized_concurrency_ratio", "concurrency_improvement",
)  # fmt: skip
# The author's note is a model's claim, not a measurement: it grounds nothing.
_NOT_EVIDENCE = {"trace_id", "optimization_id", "call_sequence", "original_explanation", "codeflash_version"}


def normalize_figure(token: str) -> str | None:
    """'91,103' -> '91103', '10.90' -> '10.9', '012' -> '12'; None when it is not a number."""
    try:
        value = Decimal(token.replace(",", "").rstrip(","))
    except InvalidOperation:
        return None
    return format(value.normalize(), "f")


def figures(text: str, *, claims_only: bool = False) -> set[str]:
    """The figures in `text`, normalized; with claims_only, only those written with a unit."""
    return {
        figure
        for number, unit in _FIGURE.findall(text)
        if (unit or not claims_only) and (figure := normalize_figure(number)) is not None
    }


@dataclass(frozen=True)
class Grounds:
    measured: set[str]  # what a figure with a unit (a claim about speed or time) may be
    mentioned: set[str]  # what a bare figure (a line number, a constant in the code) may be


def allowed_figures(request: ExplainRequest) -> Grounds:
    """The request's figures: measured ones (the measurement fields, the figures with units in the annotated
    tests, the speed-up as a factor: 91103% -> 911, 911.03, 912.03...) and merely mentioned ones (any field)."""
    values = request.model_dump(exclude=_NOT_EVIDENCE)
    mentioned: set[str] = set()
    measured: set[str] = set()
    for name, value in values.items():
        if isinstance(value, str):
            mentioned |= figures(value)
            measured |= figures(value, claims_only=name not in _MEASURED_FIELDS)
    percent = re.search(r"\d[\d,]*(?:\.\d+)?", request.speedup or "")
    if percent:
        gain = Decimal(percent.group(0).replace(",", "")) / 100
        for factor in (gain, gain + 1):
            for places in (0, 1, 2):
                measured.add(format(round(factor, places).normalize(), "f"))
    return Grounds(measured, mentioned | measured)


def ungrounded(sentence: str, grounds: Grounds) -> bool:
    for number, unit in _FIGURE.findall(sentence):
        figure = normalize_figure(number)
        if figure is not None and figure not in (grounds.measured if unit else grounds.mentioned):
            return True
    return False


def grounded(explanation: str, grounds: Grounds) -> tuple[str, list[str]]:
    """The explanation without the sentences whose figures the request does not carry; and those sentences."""
    kept_lines: list[str] = []
    dropped: list[str] = []
    for line in explanation.splitlines():
        marker_match = _LIST_MARKER.match(line)
        marker = marker_match.group(1) if marker_match else ""
        body = line[len(marker) :]
        kept = []
        for sentence in _SENTENCE_END.split(body):
            if ungrounded(sentence, grounds):
                dropped.append(sentence.strip())
            else:
                kept.append(sentence)
        text = " ".join(part.strip() for part in kept if part.strip())
        if text or not line.strip():
            kept_lines.append(marker + text if text else "")
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(kept_lines)).strip()
    return result, dropped


def measured_summary(request: ExplainRequest) -> str:
    """A description made of the request's own figures only, for when nothing the model wrote survives."""
    if request.original_code_runtime and request.optimized_code_runtime:
        speedup = f" ({request.speedup} faster)" if request.speedup else ""
        return (f"The optimized code runs in {request.optimized_code_runtime} instead of "
                f"{request.original_code_runtime}{speedup} on the measured tests.")  # fmt: skip
    if request.speedup:
        return f"The optimized code is {request.speedup} faster on the measured tests."
    return ""


def unified_diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "original", "optimized", lineterm="", n=2)
    return "\n".join(lines)


def _measurements(pairs: Sequence[tuple[str, str | int | None]]) -> str:
    return "\n".join(f"- {label}: {value}" for label, value in pairs if value not in (None, "")) or "- (none given)"


def explain(request: ExplainRequest, scope: Scope) -> ExplainResponse:
    diff = unified_diff(request.source_code, request.optimized_code)
    if not diff:
        raise InvalidRequest("fields 'source_code' and 'optimized_code' are identical: there is nothing to explain")
    profiles = ""
    if (request.original_line_profiler_results or "").strip() or (request.optimized_line_profiler_results or ""):
        profiles = section("Line profile of the original", _clip(request.original_line_profiler_results)) + section(
            "Line profile of the optimized code", _clip(request.optimized_line_profiler_results)
        )
    user = render(
        "explain_user",
        diff=_clip(diff, MAX_DIFF_CHARS),
        measurements=_measurements(
            [
                ("runtime of the original", request.original_code_runtime),
                ("runtime of the optimized code", request.optimized_code_runtime),
                ("speed-up", request.speedup),
                ("accepted for", request.acceptance_reason),
                ("throughput before", request.original_throughput),
                ("throughput after", request.optimized_throughput),
                ("throughput improvement", request.throughput_improvement),
                ("concurrency ratio before", request.original_concurrency_ratio),
                ("concurrency ratio after", request.optimized_concurrency_ratio),
                ("concurrency improvement", request.concurrency_improvement),
            ]
        ),
        profiles_section=profiles,
        tests_section=section("Tests, annotated with runtimes before -> after", _clip(request.annotated_tests)),
        note_section=section("The author's note (a hint, not evidence)", _clip(request.original_explanation, 4_000)),
        references_section=section("Where the function is called", _clip(request.function_references, 4_000)),
    )
    route = route_for("explain", scope.principal)
    # No `language` field here (contract §2.11): the flat code's file headers say it.
    language = next((block.language for block in CodeStringsMarkdown.parse_flat(request.source_code).blocks), None)
    calls = spread(route, [_conversation(render("explain_system", language=language), user)])
    results = run_calls(scope, route, "explain", request.trace_id, calls, counts_toward_quota=False)
    (reply,) = replies_or_raise(results, request.trace_id, "explain")
    text, dropped = grounded(_unwrap(reply.content), allowed_figures(request))
    if dropped:
        record_run_errors(request.trace_id, "explain", [("ungrounded_figure", sentence[:300]) for sentence in dropped])
    if not re.search(r"\w{3,}", text):
        text = measured_summary(request)
    return ExplainResponse(explanation=text)


def _unwrap(text: str) -> str:
    """A reply without the wrappers models add: a fenced block around everything, a "Here is" preamble."""
    text = text.strip()
    fenced = re.fullmatch(r"```\w*\n(.*)\n```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    return re.sub(r"^(here is|here's)[^\n]*:\s*\n+", "", text, flags=re.IGNORECASE).strip()


# ---------------------------------------------------------------- optimization_review


class ReviewFindings(BaseModel):
    speedup: str = Field(description="is the gain real and worth a review, given the noise and the loop count")
    semantics: str = Field(description="could behaviour differ from the original for some input")
    test_evidence: str = Field(description="how strong the evidence of unchanged behaviour is")
    readability: str = Field(description="is the new code clear and the diff proportionate")


class ReviewVerdict(BaseModel):
    findings: ReviewFindings
    risks: list[str] = Field(default_factory=list, description="each concrete, named risk in one sentence")
    review: Review
    explanation: str = Field(description="two or three sentences for the developer, the main reason first")


NO_REVIEW = ReviewResponse(review="", review_explanation="")


def review(request: ReviewRequest, scope: Scope) -> ReviewResponse:
    language = request.language or "python"
    user = render(
        "review_user",
        language=language,
        original_code=_clip(request.original_code, 24_000),
        optimized_code=_clip(request.optimized_code, 24_000),
        measurements=_measurements(
            [
                ("runtime of the original", request.original_runtime),
                ("runtime of the optimized code", request.optimized_runtime),
                ("speed-up", request.speedup),
                ("benchmark loops", request.loop_count),
                ("coverage of the function by the tests", request.coverage_message),
                ("benchmarks", str(request.benchmark_details)[:2_000] if request.benchmark_details else None),
            ]
        ),
        explanation_section=section("The author's explanation", _clip(request.explanation, 4_000)),
        existing_tests_section=section("Existing tests of the project", _clip(request.existing_tests)),
        replay_tests_section=section("Replay tests (recorded real calls)", _clip(request.replay_tests)),
        generated_tests_section=section("Generated tests", _clip(request.generated_tests)),
        callers_section=section("Callers of the function", _clip(request.calling_fn_details, 8_000)),
    )
    route = route_for("optimization_review", scope.principal)
    calls = spread(route, [_conversation(render("review_system", language=language), user)])[:1]
    (result,) = run_structured(scope, route, "optimization_review", request.trace_id, calls, ReviewVerdict)
    if not isinstance(result, LLMResult):
        if not isinstance(result, (LLMCallFailed, DeadlineExceeded)):
            raise result
        record_run_errors(request.trace_id, "optimization_review", [("review_unusable", _describe(result))])
        return NO_REVIEW
    return review_response(result.parsed)


def review_response(verdict: Any) -> ReviewResponse:
    """What the client gets for a verdict: its rating, except that "low" (which stops the pull request) needs a
    named risk; anything that is not a verdict is "no review"."""
    if not isinstance(verdict, ReviewVerdict) or verdict.review not in ("high", "medium", "low"):
        return NO_REVIEW
    rating: Review = verdict.review
    if rating == "low" and not any(risk.strip() for risk in verdict.risks):
        rating = "medium"
    explanation = verdict.explanation.strip()
    risks = [risk.strip() for risk in verdict.risks if risk.strip()]
    if risks:
        explanation += "\n\nRisks:\n" + "\n".join(f"- {risk}" for risk in risks)
    return ReviewResponse(review=rating, review_explanation=explanation)
