"""What every candidate endpoint shares: the request's scope, its model calls (spread over the routing profile's
models, run concurrently within the deadline, billed against one reservation), and the replies turned into
candidates the client accepts (through aiservice.code.candidates)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from aiservice.access import metered
from aiservice.code.candidates import Candidate, Target, postprocess
from aiservice.code.markdown import CodeString, CodeStringsMarkdown
from aiservice.config import get_settings
from aiservice.llm.client import CallContext, call_llm, stream_llm, worst_case_usd
from aiservice.llm.errors import LLMCallFailed
from aiservice.llm.models import estimate_tokens, get_model
from aiservice.llm.routing import Route
from aiservice.llm.runtime import Deadline, DeadlineExceeded, fan_out, run
from aiservice.llm.types import CallOptions, LLMResult
from aiservice.observability import logger
from aiservice.pipelines.errors import record_run_errors
from aiservice.pipelines.schemas import CandidateOut
from aiservice.pipelines.scope import Scope

# Anthropic caches a prefix only from 1,024 tokens on (Sonnet); below that a cache mark costs nothing and saves
# nothing, and waiting for the first candidate to write the cache would only add latency.
MIN_CACHED_PROMPT_TOKENS = 1024


@dataclass(frozen=True)
class ModelCall:
    messages: tuple[dict[str, Any], ...]
    model: str
    fallbacks: tuple[str, ...]
    options: CallOptions

    @property
    def worst_case_usd(self) -> Decimal:
        return worst_case_usd(self.messages, model=self.model, options=self.options, fallbacks=self.fallbacks)


def spread(route: Route, conversations: Sequence[Sequence[dict[str, Any]]]) -> list[ModelCall]:
    """One call per conversation, the profile's models taking turns as the primary (the others stay its
    fallbacks): mixing models diversifies candidates more than sampling one model again. Claude's system prompt
    is marked for caching, so that calls sharing it read it from the cache."""
    chain = (route.model, *route.fallbacks)
    calls = []
    for index, messages in enumerate(conversations):
        primary = chain[index % len(chain)]
        fallbacks = tuple(model for model in chain if model != primary)
        options = route.options
        if "caching" in get_model(primary).capabilities and get_model(primary).family == "anthropic":
            options = replace(options, cache_system="5m")
        calls.append(ModelCall(tuple(messages), primary, fallbacks, options))
    return calls


@contextmanager
def reserved(
    scope: Scope, route: Route, call_type: str, trace_id: str, reserve_usd: Decimal, *, counts_toward_quota: bool
) -> Iterator[CallContext]:
    """The request admitted with `reserve_usd` held against its allowances, and the context its model calls bill
    to; what they cost is settled when the block ends, however it ends."""
    with metered(
        scope.principal, trace_id=trace_id, estimate_usd=reserve_usd, counts_toward_quota=counts_toward_quota
    ) as ledger:
        yield CallContext(
            call_type=call_type,
            trace_id=trace_id,
            principal=scope.principal,
            ledger=ledger,
            deadline=scope.deadline,
            credentials=route.credentials,
        )


def run_calls(
    scope: Scope, route: Route, call_type: str, trace_id: str, calls: Sequence[ModelCall], *, counts_toward_quota: bool
) -> list[LLMResult | BaseException]:
    """Reserve the worst case of every call, run them concurrently until the deadline, settle what they cost.
    Each result is the call's LLMResult or its failure (DeadlineExceeded for a call cut off at the deadline)."""
    estimate = sum((call.worst_case_usd for call in calls), Decimal(0))
    with reserved(scope, route, call_type, trace_id, estimate, counts_toward_quota=counts_toward_quota) as context:
        return run(_concurrently(calls, context, scope.deadline))


def call_within(call: ModelCall, context: CallContext) -> LLMResult:
    """One call, cut off at the context's deadline (DeadlineExceeded, 504); its failure is raised."""
    assert context.deadline is not None
    (result,) = run(fan_out([_call(call, context)], context.deadline))
    if isinstance(result, BaseException):
        raise result
    return result


async def _concurrently(
    calls: Sequence[ModelCall], context: CallContext, deadline: Deadline
) -> list[LLMResult | BaseException]:
    """All calls at once, except that the Claude calls sharing a cacheable system prompt wait until the first of
    them has begun to answer (its prompt is then in the cache), so that they read it at a tenth of the price."""
    caching = _caching(calls)
    primer = next((index for index, caches in enumerate(caching) if caches), None)
    if primer is None or sum(caching) < 2 or not get_settings().prompt_cache_priming:
        return await fan_out([_call(call, context) for call in calls], deadline)
    cached = asyncio.Event()

    async def first(call: ModelCall) -> LLMResult:
        result: LLMResult | None = None
        try:
            async for item in stream_llm(
                call.messages, model=call.model, context=context, options=call.options, fallbacks=call.fallbacks
            ):
                if isinstance(item, str):
                    cached.set()
                else:
                    result = item
        finally:
            cached.set()  # a failed primer must not hold the others back
        if result is None:
            raise LLMCallFailed("the stream ended without a result", ())
        return result

    async def after_primer(call: ModelCall) -> LLMResult:
        await cached.wait()
        return await _call(call, context)

    return await fan_out(
        [
            first(call) if index == primer else after_primer(call) if caching[index] else _call(call, context)
            for index, call in enumerate(calls)
        ],
        deadline,
    )


def _caching(calls: Sequence[ModelCall]) -> list[bool]:
    """Which calls mark a system prompt long enough to be cached. Each distinct prompt is estimated once: the
    estimate walks the whole text (~2.5 ms for a prompt holding a 300-line module) and the calls share it."""
    tokens: dict[str, int] = {}
    caching = []
    for call in calls:
        if call.options.cache_system is None:
            caching.append(False)
            continue
        system = "".join(str(message.get("content")) for message in call.messages if message.get("role") == "system")
        if system not in tokens:
            tokens[system] = estimate_tokens(system)
        caching.append(tokens[system] >= MIN_CACHED_PROMPT_TOKENS)
    return caching


async def _call(call: ModelCall, context: CallContext) -> LLMResult:
    return await call_llm(
        call.messages, model=call.model, context=context, options=call.options, fallbacks=call.fallbacks
    )


def replies_or_raise(results: Sequence[LLMResult | BaseException], trace_id: str, call_type: str) -> list[LLMResult]:
    """The calls that answered. When none did: DeadlineExceeded (504) if the deadline cut any off, else the
    first failure (LLMCallFailed, 502)."""
    answered = [result for result in results if isinstance(result, LLMResult)]
    failures = [result for result in results if not isinstance(result, LLMResult)]
    record_run_errors(trace_id, call_type, [("model_call_failed", _describe(failure)) for failure in failures])
    if answered:
        return answered
    if any(isinstance(failure, DeadlineExceeded) for failure in failures):
        raise DeadlineExceeded("no model call finished before the deadline")
    first = failures[0] if failures else LLMCallFailed("no model call was made", ())
    if isinstance(first, Exception):
        raise first
    raise LLMCallFailed(f"a model call ended with {type(first).__name__}", ())


def _describe(failure: BaseException) -> str:
    return f"{type(failure).__name__}: {failure}"[:500]


def candidates_from(
    original: CodeStringsMarkdown,
    results: Sequence[LLMResult],
    *,
    trace_id: str,
    call_type: str,
    base: CodeStringsMarkdown | None = None,
    previous: Sequence[str] = (),
    target: Target | None = None,
    parent_id: str | None = None,
) -> list[CandidateOut]:
    """The valid, distinct candidates in the replies, as the client reads them.

    `base` is the version the replies edit when it is not the original (a candidate being refined); replies are
    merged into it, and each candidate carries every file that differs from the original, so that the client,
    which applies a candidate to the original files, gets the whole change."""
    base = base or original
    outcome = postprocess(base, [result.content for result in results], target, previous)
    record_run_errors(trace_id, call_type, [("candidate_dropped", drop.reason) for drop in outcome.dropped])
    for drop in outcome.dropped:
        logger.info("candidate dropped", extra={"call_type": call_type, "reply": drop.index, "reason": drop.reason})
    kept = []
    for candidate in outcome.kept:
        markdown = _against_original(original, base, candidate)
        if markdown is None:
            continue
        kept.append(
            CandidateOut(
                source_code=markdown,
                explanation=candidate.explanation or "An optimized version of the code.",
                optimization_id=str(uuid.uuid4()),
                parent_id=parent_id,
                model=results[candidate.index].model_id,
            )
        )
    return kept


def _against_original(original: CodeStringsMarkdown, base: CodeStringsMarkdown, candidate: Candidate) -> str | None:
    if base is original:
        return candidate.markdown
    before = original.by_path()
    current = {**base.by_path(), **candidate.files}
    blocks = tuple(
        CodeString(block.path, current[block.path].strip(), block.language)
        for block in base.blocks
        if current[block.path].strip() != (before.get(block.path) or "").strip()
    )
    return CodeStringsMarkdown(blocks).emit() if blocks else None


def overlay(original: CodeStringsMarkdown, changed: str) -> CodeStringsMarkdown:
    """The request's files with a candidate's versions of the files it holds: the code a follow-up edits."""
    versions = CodeStringsMarkdown.parse(changed).by_path()
    if None in versions and len(original.blocks) == 1:  # a lone block without a path is the only file's
        versions[original.blocks[0].path] = versions.pop(None)
    return CodeStringsMarkdown(
        tuple(replace(block, code=versions.get(block.path, block.code)) for block in original.blocks)
    )
