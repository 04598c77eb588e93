"""The follow-ups on a candidate the client has measured: POST /ai/refinement (make a winner simpler and faster),
/ai/code_repair (fix one that changed behaviour, as SEARCH/REPLACE edits) and /ai/adaptive_optimize (learn from
the root-to-node path of attempts). Each edits a candidate, not the original: replies are merged into the
candidate's version of the files, and what comes back says which candidate it derives from (`parent_id`)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from aiservice.code.markdown import CodeString, CodeStringsMarkdown
from aiservice.code.xml_sections import section as xml_section
from aiservice.diff import PatchError, apply_patch
from aiservice.errors import InvalidRequest, NoValidCandidate
from aiservice.llm.routing import route_for
from aiservice.llm.types import LLMResult
from aiservice.pipelines.errors import record_run_errors
from aiservice.pipelines.generation import (
    call_within,
    candidates_from,
    overlay,
    replies_or_raise,
    reserved,
    run_calls,
    spread,
)
from aiservice.pipelines.optimize import parse_source, strategies
from aiservice.pipelines.prompts import render, section
from aiservice.pipelines.rerun import stored_or_live
from aiservice.pipelines.schemas import (
    AdaptiveRequest,
    CandidateOut,
    CodeRepairRequest,
    PathCandidate,
    RefinementItem,
    RefinementsResponse,
    TestDiff,
)
from aiservice.pipelines.scope import Scope

_MAX_DIFFS_SHOWN = 8
_MAX_FIELD_CHARS = 3_000  # of one test's source or error in the repair prompt


# ------------------------------------------------------------------------------------------ refinement


def refine(items: Sequence[RefinementItem], scope: Scope) -> RefinementsResponse:
    if not items:
        raise InvalidRequest("the body is an empty list: send the candidates to refine")
    trace_id = items[0].trace_id

    def live() -> RefinementsResponse:
        originals = [parse_source(item.original_source_code, item.language) for item in items]
        bases = [overlay(original, item.optimized_source_code) for original, item in zip(originals, items, strict=True)]
        route = route_for("refinement", scope.principal)
        conversations = [
            [
                {"role": "system", "content": _refinement_prompt(item, original)},
                {"role": "user", "content": render("refinement_user")},
            ]
            for item, original in zip(items, originals, strict=True)
        ]
        results = run_calls(
            scope, route, "refinement", trace_id, spread(route, conversations), counts_toward_quota=False
        )
        replies_or_raise(results, trace_id, "refinement")
        refinements: list[CandidateOut] = []
        for item, original, base, result in zip(items, originals, bases, results, strict=True):
            if isinstance(result, LLMResult):  # a refinement that changes nothing (or reverts) is dropped
                refinements += candidates_from(
                    original,
                    [result],
                    trace_id=trace_id,
                    call_type="refinement",
                    base=base,
                    previous=[item.original_source_code],
                    parent_id=item.optimization_id,
                )
        return RefinementsResponse(refinements=refinements)

    return stored_or_live(
        scope,
        trace_id=trace_id,
        rerun_trace_id=items[0].rerun_trace_id,
        endpoint="refinement",
        key=",".join(item.optimization_id for item in items),
        counts_toward_quota=False,
        response_type=RefinementsResponse,
        live=live,
    )


def _refinement_prompt(item: RefinementItem, original: CodeStringsMarkdown) -> str:
    return render(
        "refinement_system",
        language=item.language,
        first_path=original.blocks[0].path or "path/to/file",
        original_source_code=item.original_source_code.strip(),
        optimized_source_code=item.optimized_source_code.strip(),
        optimized_explanation=(item.optimized_explanation or "(none given)").strip(),
        original_runtime=item.original_code_runtime or "unknown",
        optimized_runtime=item.optimized_code_runtime or "unknown",
        speedup=item.speedup or "unknown",
        context_section=section("Read-only context (do not edit)", item.read_only_dependency_code),
        original_profile_section=section("Line profile of the original", item.original_line_profiler_results, fence=""),
        optimized_profile_section=section(
            "Line profile of their optimized version", item.optimized_line_profiler_results, fence=""
        ),
        references_section=section("Where the function is called from", item.function_references, fence=""),
    )


# ------------------------------------------------------------------------------------------ repair


def code_repair(request: CodeRepairRequest, scope: Scope) -> CandidateOut:
    def live() -> CandidateOut:
        original = parse_source(request.original_source_code, request.language)
        base = overlay(original, request.modified_source_code)
        route = route_for("code_repair", scope.principal)
        messages = [
            {"role": "system", "content": _repair_prompt(request, original)},
            {"role": "user", "content": render("repair_user")},
        ]
        (call,) = spread(route, [messages])
        # The call, and one retry round for edits that do not apply, whose conversation holds the first reply:
        # at most the first call's worst case again, plus its output read back as input (input is cheaper).
        with reserved(
            scope, route, "code_repair", request.trace_id, 3 * call.worst_case_usd, counts_toward_quota=False
        ) as context:
            reply = call_within(call, context)
            files, problem = _apply_edits(base, reply.content)
            if problem is not None:
                record_run_errors(request.trace_id, "code_repair", [("patch_failed", problem)])
                retry = replace(
                    call,
                    messages=(
                        *call.messages,
                        {"role": "assistant", "content": reply.content},
                        {"role": "user", "content": render("repair_retry", error=problem)},
                    ),
                )
                reply = call_within(retry, context)
                files, problem = _apply_edits(base, reply.content)
            if problem is not None:
                raise NoValidCandidate(f"the model's edits did not apply after a retry: {problem}")
        explanation = xml_section(reply.content, "explanation") or "Repaired to match the original's behaviour."
        patched = CodeStringsMarkdown(
            tuple(CodeString(block.path, files[_name(block, i)], block.language) for i, block in enumerate(base.blocks))
        )
        as_reply = replace(reply, content=f"<explanation>{explanation}</explanation>\n{patched.emit()}")
        kept = candidates_from(
            original,
            [as_reply],
            trace_id=request.trace_id,
            call_type="code_repair",
            base=base,
            previous=[request.original_source_code, request.modified_source_code],
            parent_id=request.optimization_id,
        )
        return _first_or_raise(kept, "code_repair")

    return stored_or_live(
        scope,
        trace_id=request.trace_id,
        rerun_trace_id=request.rerun_trace_id,
        endpoint="code_repair",
        key=request.optimization_id,
        counts_toward_quota=False,
        response_type=CandidateOut,
        live=live,
    )


def _apply_edits(base: CodeStringsMarkdown, reply: str) -> tuple[dict[str, str], str | None]:
    """The files with the reply's SEARCH/REPLACE blocks applied, or the reason they do not apply."""
    files = {_name(block, index): block.code for index, block in enumerate(base.blocks)}
    try:
        state = apply_patch(files, reply, "search_replace")
    except PatchError as error:
        return files, str(error)
    return {name: text or "" for name, text in state.items() if name in files}, None


def _name(block: CodeString, index: int) -> str:
    return block.path or f"file{index}"


def _repair_prompt(request: CodeRepairRequest, original: CodeStringsMarkdown) -> str:
    return render(
        "repair_system",
        language=request.language,
        first_path=original.blocks[0].path or "path/to/file",
        original_source_code=request.original_source_code.strip(),
        modified_source_code=request.modified_source_code.strip(),
        test_diffs=_describe_diffs(request.test_diffs),
    )


def _describe_diffs(diffs: Sequence[TestDiff]) -> str:
    if not diffs:
        return "The client reported a behaviour difference without details."
    parts = []
    for number, diff in enumerate(diffs[:_MAX_DIFFS_SHOWN], start=1):
        lines = [f"### Difference {number} ({diff.scope or 'unknown scope'})"]
        lines.append(
            f"- original: {'passed' if diff.original_pass else 'failed'}"
            f"{_value(diff.original_value)}; their version: "
            f"{'passed' if diff.candidate_pass else 'failed'}{_value(diff.candidate_value)}"
        )
        for title, text in (
            ("Test", diff.test_src_code),
            ("Error with their version", diff.candidate_pytest_error),
            ("Error with the original", diff.original_pytest_error),
        ):
            if text and text.strip():
                lines.append(f"{title}:\n```\n{_clip(text)}\n```")
        parts.append("\n".join(lines))
    if len(diffs) > _MAX_DIFFS_SHOWN:
        parts.append(f"... and {len(diffs) - _MAX_DIFFS_SHOWN} more differences of the same kinds.")
    return "\n\n".join(parts)


def _value(value: str | None) -> str:
    return f" with value `{_clip(value, 300)}`" if value else ""


def _clip(text: str, limit: int = _MAX_FIELD_CHARS) -> str:
    text = text.strip().replace("```", "'''")
    return text if len(text) <= limit else text[:limit] + "\n... (cut)"


# ------------------------------------------------------------------------------------------ adaptive


_GAIN = re.compile(r"(-?\d+(?:\.\d+)?)\s*%")


def adaptive_optimize(request: AdaptiveRequest, scope: Scope) -> CandidateOut:
    def live() -> CandidateOut:
        original = parse_source(request.original_source_code, request.language)
        node = request.candidates[-1]
        base = overlay(original, node.source_code)
        route = route_for("adaptive_optimize", scope.principal)
        language = original.blocks[0].language  # the client sends no `language` here: the code's own
        angles = strategies(is_numerical=False, language=language)
        _, angle = angles[len(request.candidates) % len(angles)]
        messages = [
            {
                "role": "system",
                "content": render(
                    "adaptive_system",
                    language=language,
                    first_path=original.blocks[0].path or "path/to/file",
                    original_source_code=request.original_source_code.strip(),
                    attempts=_attempts(request.candidates),
                ),
            },
            {"role": "user", "content": render("adaptive_user", strategy=angle)},
        ]
        results = run_calls(
            scope, route, "adaptive_optimize", request.trace_id, spread(route, [messages]), counts_toward_quota=False
        )
        replies = replies_or_raise(results, request.trace_id, "adaptive_optimize")
        kept = candidates_from(
            original,
            replies,
            trace_id=request.trace_id,
            call_type="adaptive_optimize",
            base=base,
            previous=[request.original_source_code, *(c.source_code for c in request.candidates)],
            parent_id=node.optimization_id,
        )
        return _first_or_raise(kept, "adaptive_optimize")

    return stored_or_live(
        scope,
        trace_id=request.trace_id,
        rerun_trace_id=request.rerun_trace_id,
        endpoint="adaptive_optimize",
        key=request.candidates[-1].optimization_id,
        counts_toward_quota=False,
        response_type=CandidateOut,
        live=live,
    )


def measured_gain(candidate: PathCandidate) -> float:
    """The percentage in "Performance gain: N%"; minus infinity for a behaviour mismatch or no figure."""
    match = _GAIN.search(candidate.speedup or "")
    return float(match.group(1)) if match else -math.inf


def _attempts(path: Sequence[PathCandidate]) -> str:
    ranked = sorted(path, key=measured_gain, reverse=True)
    parts = []
    for number, candidate in enumerate(ranked, start=1):
        outcome = candidate.speedup or "not measured"
        parts.append(
            f"### Attempt {number} ({candidate.source or 'unknown source'}): {outcome}\n\n"
            f"Idea: {(candidate.explanation or 'not stated').strip()}\n\n{candidate.source_code.strip()}"
        )
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------ shared


def _first_or_raise(kept: list[CandidateOut], call_type: str) -> CandidateOut:
    if not kept:
        raise NoValidCandidate(f"the model's reply held no usable candidate for {call_type} (see the trace's errors)")
    return kept[0]
