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
from typing import Any

from aiservice.access import Ledger, Principal, metered
from aiservice.config import get_settings
from aiservice.llm import records
from aiservice.llm.cost import cost_of, worst_case_cost
from aiservice.llm.errors import InvalidLLMRequest, LLMCallFailed, ProviderError
from aiservice.llm.models import ModelSpec, check_context, estimate_tokens, get_model
from aiservice.llm.providers import Provider
from aiservice.llm.providers.factory import Credentials, provider_for
from aiservice.llm.runtime import Deadline
from aiservice.llm.schema import StructuredOutput
from aiservice.llm.types import Attempt, CallOptions, LLMResult, ProviderReply, ProviderRequest
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
    messages: tuple[dict, ...]
    options: CallOptions
    schema: StructuredOutput | None
    input_tokens: int


async def call_llm(
    messages: Sequence[dict],
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
        rounds = 2 if plan.schema is not None else 1  # the repair round may bill a second reply
        estimate = rounds * max(_worst_case(model_spec, plan) for model_spec in plan.chain)
        with metered(context.principal, trace_id=context.trace_id, estimate_usd=estimate, counts_toward_quota=False) as ledger:
            return await _call(plan, replace(context, ledger=ledger))
    return await _call(plan, context)


async def _call(plan: _Plan, context: CallContext) -> LLMResult:
    attempts: list[Attempt] = []
    try:
        reply, answering = await _first_success(plan, plan.messages, context, attempts)
        parsed = None
        if plan.schema is not None:
            parsed, problem = plan.schema.parse(reply)
            if problem is not None:  # one repair round, on the model that answered
                repair = (*plan.messages, *plan.schema.repair_messages(reply, _REPAIR_PROMPT.format(error=problem)))
                reply, answering = await _first_success(replace(plan, chain=(answering,)), repair, context, attempts)
                parsed, problem = plan.schema.parse(reply)
                if problem is not None:
                    raise LLMCallFailed(f"the reply does not match the schema after a repair round: {problem}", tuple(attempts))
        return _result(reply, answering, attempts, parsed)
    finally:
        records.record_llm_call(attempts, context, plan.messages)


async def stream_llm(
    messages: Sequence[dict],
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
                held = _hold(context, model_spec, plan)
                started = time.perf_counter()
                try:
                    async for item in _provider(model_spec, context).stream(request):
                        if isinstance(item, str):
                            streamed = True
                            yield item
                        else:
                            attempts.append(_bill(context, model_spec, item.raw_usage, held, started, len(attempts) + 1))
                            yield _result(item, model_spec, attempts)
                            return
                except ProviderError as failure:
                    attempts.append(_failed(context, model_spec, failure, held, started, len(attempts) + 1))
                    if streamed:
                        raise LLMCallFailed(f"the stream broke after it began: {failure}", tuple(attempts)) from failure
                    if not failure.retryable or number == max_attempts or not await _backoff(number, failure, context.deadline):
                        break  # to the next model of the chain
        raise LLMCallFailed(_failure_summary(attempts), tuple(attempts))
    finally:
        records.record_llm_call(attempts, context, plan.messages)


# ------------------------------------------------------------------------------------------ planning


def _plan(
    messages: Sequence[dict], model: str, fallbacks: Sequence[str], options: CallOptions, schema: Any
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
    prompt_tokens = estimate_tokens(json.dumps([messages, options.tools, options.json_schema], default=str))
    _check_model(primary, options, prompt_tokens, messages)
    chain = [primary]
    for fallback in others:
        try:
            _check_model(fallback, options, prompt_tokens, messages)
        except (InvalidLLMRequest, ValueError):
            continue  # a fallback that cannot take this call is no fallback for it
        chain.append(fallback)
    return _Plan(tuple(chain), tuple(messages), options, structured, prompt_tokens)


def _check_model(model: ModelSpec, options: CallOptions, prompt_tokens: int, messages: Sequence[dict]) -> None:
    if options.max_tokens > model.max_output_tokens:
        raise InvalidLLMRequest(f"max_tokens {options.max_tokens} is over {model.id}'s {model.max_output_tokens}")
    if options.tools and "tools" not in model.capabilities:
        raise InvalidLLMRequest(f"{model.id} does not take tools")
    if options.thinking_budget and "reasoning" not in model.capabilities:
        raise InvalidLLMRequest(f"{model.id} has no extended thinking")
    if any(_has_image(message) for message in messages) and "vision" not in model.capabilities:
        raise InvalidLLMRequest(f"{model.id} does not take images")
    check_context(model, prompt_tokens, options.max_tokens)


def _has_image(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(part.get("type") == "image_url" for part in content)


# ------------------------------------------------------------------------------------------ attempts


async def _first_success(
    plan: _Plan, messages: tuple[dict, ...], context: CallContext, attempts: list[Attempt]
) -> tuple[ProviderReply, ModelSpec]:
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
                if not failure.retryable or number == max_attempts or not await _backoff(number, failure, context.deadline):
                    break  # to the next model of the chain
                continue
            attempts.append(_bill(context, model, reply.raw_usage, held, started, len(attempts) + 1))
            return reply, model
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


def _bill(
    context: CallContext, model: ModelSpec, raw_usage: dict | None, held: Decimal, started: float, number: int,
    error: ProviderError | None = None,
) -> Attempt:
    """Price an attempt from the provider's own usage and put it on the request's bill."""
    cost = cost_of(model.id, raw_usage) if raw_usage else None
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
        line = records.usage_line(attempt, context.call_type) if cost else None
        context.ledger.settle(held, line)
    return attempt


def _failed(
    context: CallContext, model: ModelSpec, failure: ProviderError, held: Decimal, started: float, number: int
) -> Attempt:
    try:
        return _bill(context, model, failure.raw_usage, held, started, number, error=failure)
    except ValueError:  # a broken stream's partial usage we cannot price: keep the failure, say so
        logger.warning("unpriceable usage of a failed attempt", extra={"model": model.id, "usage": failure.raw_usage})
        return _bill(context, model, None, held, started, number, error=failure)


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


def _result(reply: ProviderReply, model: ModelSpec, attempts: list[Attempt], parsed: Any = None) -> LLMResult:
    return LLMResult(
        content=reply.content,
        reasoning=reply.reasoning,
        tool_calls=reply.tool_calls,
        parsed=parsed,
        model_id=model.id,
        raw_usage=reply.raw_usage,
        cost=attempts[-1].cost,
        attempts=tuple(attempts),
        raw=reply.raw,
    )


def _failure_summary(attempts: list[Attempt]) -> str:
    tried = ", ".join(f"{a.model_id}#{a.number}: {a.error}" for a in attempts[-5:])
    return f"every attempt failed ({len(attempts)}): {tried}"

