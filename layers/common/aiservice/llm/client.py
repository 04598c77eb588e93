"""call_llm and stream_llm: every model call of the service goes through here.

One call: validate everything that can be validated before the network (model, messages, schema, context
window); hold its worst-case cost in the request's ledger (the allowance reservation); try the model, retrying
what is worth retrying with exponential backoff and full jitter (honouring retry-after), then each fallback;
price every attempt from the provider's own usage; record every attempt (log line, EMF metrics) and bill it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from aiservice.access import Ledger, Principal, metered
from aiservice.config import get_settings
from aiservice.llm import records
from aiservice.llm.cost import CostBreakdown, cost_of, worst_case_cost
from aiservice.llm.errors import InvalidLLMRequest, LLMCallFailed, ProviderError
from aiservice.llm.models import ModelSpec, check_context, estimate_tokens, get_model
from aiservice.llm.providers import Provider
from aiservice.llm.providers.factory import Credentials, provider_for
from aiservice.llm.runtime import Deadline
from aiservice.llm.schema import StructuredOutput
from aiservice.llm.types import (
    Attempt,
    CallOptions,
    JsonObject,
    LLMResult,
    Message,
    ProviderReply,
    ProviderRequest,
    StreamUsage,
)
from aiservice.observability import logger

_ROLES = {"system", "user", "assistant", "tool"}
_REPAIR_PROMPT = "Your reply did not match the required JSON schema: {error}. Reply again, with valid JSON only."


@dataclass(frozen=True)
class CallContext:
    """Who and what a call is for: carried into records and bills, never into the request."""

    call_type: str
    trace_id: str | None = None
    principal: Principal | None = None
    ledger: Ledger | None = None
    deadline: Deadline | None = None
    credentials: Credentials | None = None  # an org's own key (bring your own key)


@dataclass(frozen=True)
class _Plan:
    chain: tuple[ModelSpec, ...]
    messages: tuple[Message, ...]
    options: CallOptions
    schema: StructuredOutput | None
    input_tokens: int


class _Answer(NamedTuple):
    reply: ProviderReply
    model: ModelSpec
    cost: CostBreakdown  # priced from the reply's own usage


async def call_llm(
    messages: Sequence[Message],
    *,
    model: str,
    context: CallContext,
    options: CallOptions | None = None,
    fallbacks: Sequence[str] = (),
    schema: Any = None,
) -> LLMResult:
    """One model call, with retries, fallbacks, billing and records. `schema`: a pydantic model class or a
    JSON Schema dict; the reply is validated against it (one repair round) and returned as `parsed`.

    A request that meters itself (aiservice.access.metered) passes its ledger in the context. A call with a
    principal and no ledger meters itself: it reserves its own worst case in the store and settles after
    (two DynamoDB requests, so a request making several calls should meter once instead)."""
    plan = _plan(messages, model, fallbacks, options or CallOptions(), schema)
    if context.ledger is None and context.principal is not None:
        estimate = worst_case_usd(messages, model=model, options=options, fallbacks=fallbacks, schema=schema)
        with metered(
            context.principal, trace_id=context.trace_id, estimate_usd=estimate, counts_toward_quota=False
        ) as ledger:
            return await _call(plan, replace(context, ledger=ledger))
    return await _call(plan, context)


def worst_case_usd(
    messages: Sequence[Message],
    *,
    model: str,
    options: CallOptions | None = None,
    fallbacks: Sequence[str] = (),
    schema: Any = None,
) -> Decimal:
    """The most one call_llm with these arguments can hold at once: its dearest model's worst case, twice with
    a schema (the repair round). What a request reserves, per call, before it makes its calls. Raises what
    call_llm would raise before the network (an unknown model, a prompt over the window)."""
    plan = _plan(messages, model, fallbacks, options or CallOptions(), schema)
    rounds = 2 if plan.schema is not None else 1
    return rounds * max(_worst_case(model_spec, plan) for model_spec in plan.chain)


async def _call(plan: _Plan, context: CallContext) -> LLMResult:
    attempts: list[Attempt] = []
    try:
        answer = await _first_success(plan, plan.messages, context, attempts)
        parsed = None
        if plan.schema is not None:
            parsed, problem = plan.schema.parse(answer.reply)
            if problem is not None:  # one repair round, on the model that answered
                instruction = _REPAIR_PROMPT.format(error=problem)
                repair = (*plan.messages, *plan.schema.repair_messages(answer.reply, instruction))
                answer = await _first_success(replace(plan, chain=(answer.model,)), repair, context, attempts)
                parsed, problem = plan.schema.parse(answer.reply)
                if problem is not None:
                    raise LLMCallFailed(
                        f"the reply does not match the schema after a repair round: {problem}", tuple(attempts)
                    )
        return _result(answer, attempts, parsed)
    finally:
        records.record_llm_call(attempts, context, plan.messages)


async def stream_llm(
    messages: Sequence[Message],
    *,
    model: str,
    context: CallContext,
    options: CallOptions | None = None,
    fallbacks: Sequence[str] = (),
) -> AsyncIterator[str | LLMResult]:
    """Text deltas as the model writes them, then an LLMResult with the usage and cost: a streamed call is
    billed like any other. Retries and fallbacks apply until the first delta; after it, a failure is final."""
    plan = _plan(messages, model, fallbacks, options or CallOptions(), None)
    attempts: list[Attempt] = []
    try:
        max_attempts = get_settings().llm_max_attempts
        for model_spec in plan.chain:
            for number in range(1, max_attempts + 1):
                request = ProviderRequest(model_spec, plan.messages, plan.options)
                streamed = False
                reported: JsonObject | None = None  # the usage the provider has said it bills so far
                held = _hold(context, model_spec, plan)
                started = time.perf_counter()
                try:
                    async for item in _provider(model_spec, context).stream(request):
                        if isinstance(item, StreamUsage):
                            reported = item.raw_usage
                        elif isinstance(item, str):
                            streamed = True
                            yield item
                        else:
                            yield _result(_answered(context, model_spec, item, held, started, attempts), attempts)
                            return
                except asyncio.CancelledError:
                    # Cut off (the deadline): the provider bills what it began, so the attempt is billed what it
                    # reported, like a stream that broke; then the cancellation goes on.
                    if reported:
                        cut_off = ProviderError("cancelled at the deadline", retryable=False, raw_usage=reported)
                        attempts.append(_failed(context, model_spec, cut_off, held, started, len(attempts) + 1))
                    raise
                except ProviderError as failure:
                    attempts.append(_failed(context, model_spec, failure, held, started, len(attempts) + 1))
                    if streamed:
                        raise LLMCallFailed(f"the stream broke after it began: {failure}", tuple(attempts)) from failure
                    if (
                        not failure.retryable
                        or number == max_attempts
                        or not await _backoff(number, failure, context.deadline)
                    ):
                        break  # to the next model of the chain
        raise LLMCallFailed(_failure_summary(attempts), tuple(attempts))
    finally:
        records.record_llm_call(attempts, context, plan.messages)


# ------------------------------------------------------------------------------------------ planning


def _plan(
    messages: Sequence[Message], model: str, fallbacks: Sequence[str], options: CallOptions, schema: Any
) -> _Plan:
    """Everything that can be wrong before the network, checked: an unknown model, empty or malformed
    messages, an invalid schema, a prompt over the context window."""
    if not messages:
        raise InvalidLLMRequest("messages is empty")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidLLMRequest(f"messages[{index}] needs a role among {sorted(_ROLES)}")
        if message["role"] != "assistant" and message.get("content") in (None, "", []):
            raise InvalidLLMRequest(f"messages[{index}] has no content")
    if options.max_tokens <= 0:
        raise InvalidLLMRequest("max_tokens must be positive")
    structured = StructuredOutput.of(schema) if schema is not None else None
    if structured is not None:
        options = replace(options, json_schema=structured.json_schema)
    primary, *others = [get_model(name) for name in (model, *fallbacks)]
    prompt_tokens = _prompt_tokens(json.dumps([messages, options.tools, options.json_schema], default=str))
    _check_model(primary, options, prompt_tokens, messages)
    chain = [primary]
    for fallback in others:
        try:
            _check_model(fallback, options, prompt_tokens, messages)
        except (InvalidLLMRequest, ValueError):
            continue  # a fallback that cannot take this call is no fallback for it
        chain.append(fallback)
    return _Plan(tuple(chain), tuple(messages), options, structured, prompt_tokens)


@lru_cache(maxsize=16)
def _prompt_tokens(prompt: str) -> int:
    """estimate_tokens, remembered for the last prompts: a call is planned twice (its reservation, worst_case_usd,
    then call_llm), and the estimate walks the whole prompt (~2.5 ms for one holding a 300-line module)."""
    return estimate_tokens(prompt)


def _check_model(model: ModelSpec, options: CallOptions, prompt_tokens: int, messages: Sequence[Message]) -> None:
    if options.max_tokens > model.max_output_tokens:
        raise InvalidLLMRequest(f"max_tokens {options.max_tokens} is over {model.id}'s {model.max_output_tokens}")
    if options.tools and "tools" not in model.capabilities:
        raise InvalidLLMRequest(f"{model.id} does not take tools")
    if options.thinking_budget and "reasoning" not in model.capabilities:
        raise InvalidLLMRequest(f"{model.id} has no extended thinking")
    if any(_has_image(message) for message in messages) and "vision" not in model.capabilities:
        raise InvalidLLMRequest(f"{model.id} does not take images")
    check_context(model, prompt_tokens, options.max_tokens)


def _has_image(message: Message) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(part.get("type") == "image_url" for part in content)


# ------------------------------------------------------------------------------------------ attempts


async def _first_success(
    plan: _Plan, messages: tuple[Message, ...], context: CallContext, attempts: list[Attempt]
) -> _Answer:
    max_attempts = get_settings().llm_max_attempts
    for model in plan.chain:
        request = ProviderRequest(model, messages, plan.options)
        for number in range(1, max_attempts + 1):
            held = _hold(context, model, plan)
            started = time.perf_counter()
            try:
                reply = await _provider(model, context).complete(request)
            except ProviderError as failure:
                attempts.append(_failed(context, model, failure, held, started, len(attempts) + 1))
                if (
                    not failure.retryable
                    or number == max_attempts
                    or not await _backoff(number, failure, context.deadline)
                ):
                    break  # to the next model of the chain
                continue
            return _answered(context, model, reply, held, started, attempts)
    raise LLMCallFailed(_failure_summary(attempts), tuple(attempts))


def _provider(model: ModelSpec, context: CallContext) -> Provider:
    return provider_for(model, context.credentials)


def _worst_case(model: ModelSpec, plan: _Plan) -> Decimal:
    return worst_case_cost(model, plan.input_tokens, plan.options.max_tokens, cache_write_ttl=plan.options.cache_system)


def _hold(context: CallContext, model: ModelSpec, plan: _Plan) -> Decimal:
    """Hold this attempt's worst case in the request's reservation, before it goes out."""
    if context.ledger is None:
        return Decimal(0)
    worst = _worst_case(model, plan)
    context.ledger.hold(worst)
    return worst


def _answered(
    context: CallContext, model: ModelSpec, reply: ProviderReply, held: Decimal, started: float, attempts: list[Attempt]
) -> _Answer:
    """A reply, priced from the provider's own usage and billed. A reply is never free: a usage that is missing,
    empty or that we cannot price raises (UsageShapeError)."""
    cost = cost_of(model.id, reply.raw_usage)
    attempts.append(_bill(context, model, reply.raw_usage, cost, held, started, len(attempts) + 1))
    return _Answer(reply, model, cost)


def _failed(
    context: CallContext, model: ModelSpec, failure: ProviderError, held: Decimal, started: float, number: int
) -> Attempt:
    """A failed attempt, billed what the provider says it used, if anything."""
    raw_usage, cost = failure.raw_usage, None
    if raw_usage:
        try:
            cost = cost_of(model.id, raw_usage)
        except ValueError:  # a broken stream's partial usage we cannot price: keep the failure, say so
            logger.warning("unpriceable usage of a failed attempt", extra={"model": model.id, "usage": raw_usage})
            raw_usage = None
    return _bill(context, model, raw_usage, cost, held, started, number, error=failure)


def _bill(
    context: CallContext,
    model: ModelSpec,
    raw_usage: JsonObject | None,
    cost: CostBreakdown | None,
    held: Decimal,
    started: float,
    number: int,
    error: ProviderError | None = None,
) -> Attempt:
    """Record an attempt and settle its hold: its cost goes on the request's bill (None: nothing to bill)."""
    attempt = Attempt(
        number=number,
        model_id=model.id,
        provider=model.provider,
        latency_ms=(time.perf_counter() - started) * 1000,
        error=f"{type(error).__name__}: {error}" if error else None,
        status_code=error.status_code if error else None,
        raw_usage=raw_usage,
        cost=cost,
    )
    if context.ledger is not None:
        line = records.usage_line(model.id, cost, context.call_type) if cost is not None else None
        context.ledger.settle(held, line)
    return attempt


async def _backoff(number: int, failure: ProviderError, deadline: Deadline | None) -> bool:
    """Exponential backoff with full jitter; a provider's retry-after wins when it asks for longer.
    False, without waiting, when the wait would run past the deadline."""
    settings = get_settings()
    delay = random.uniform(0, min(settings.llm_backoff_cap_s, settings.llm_backoff_base_s * 2 ** (number - 1)))
    if failure.retry_after_s is not None:
        delay = max(delay, failure.retry_after_s)
    if deadline is not None and delay >= deadline.remaining_s():
        return False
    await asyncio.sleep(delay)
    return True


def _result(answer: _Answer, attempts: list[Attempt], parsed: Any = None) -> LLMResult:
    reply = answer.reply
    return LLMResult(
        content=reply.content,
        reasoning=reply.reasoning,
        tool_calls=reply.tool_calls,
        parsed=parsed,
        model_id=answer.model.id,
        raw_usage=reply.raw_usage,
        cost=answer.cost,
        attempts=tuple(attempts),
        raw=reply.raw,
    )


def _failure_summary(attempts: list[Attempt]) -> str:
    tried = ", ".join(f"{a.model_id}#{a.number}: {a.error}" for a in attempts[-5:])
    return f"every attempt failed ({len(attempts)}): {tried}"
