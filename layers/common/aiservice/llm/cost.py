"""What a model call cost, exactly, from the provider's own usage object; and the most a call can cost.

Decimal only, never float; nothing is rounded (cost = tokens x USD per 1M tokens / 1,000,000, computed in a
context that raises rather than round). Anything we cannot price is a loud error, never $0: an unknown model
(UnknownModelError), a usage object of the wrong family or without its counts, a negative or non-integer
count, a token kind the model has no price for, or a usage key we do not know that carries a token count
(UsageShapeError).

Usage shapes, by model family:

- anthropic, Bedrock InvokeModel / Messages API: `input_tokens` excludes cache tokens; `cache_read_input_tokens`
  and `cache_creation_input_tokens` are ADDITIVE to it. `cache_creation.ephemeral_5m_input_tokens` /
  `ephemeral_1h_input_tokens` split the writes by TTL and must sum to cache_creation_input_tokens; without
  the split every write is a 5-minute write. Thinking tokens are inside `output_tokens`
  (`output_tokens_details.thinking_tokens`, when reported, is shown as reasoning, never added).
- anthropic, Bedrock Converse: `inputTokens` + `cacheReadInputTokens` + `cacheWriteInputTokens` (additive, as
  above), `cacheDetails` [{ttl: 5m|1h, inputTokens}] splits the writes, `outputTokens`, `totalTokens`.
- openai, Chat Completions (Azure, OpenAI-compatible): `prompt_tokens` INCLUDES
  `prompt_tokens_details.cached_tokens` and `.cache_write_tokens` (uncached input = prompt - cached - write;
  writes at the model's cache_write_5m price, 1.25 x input); `completion_tokens` includes
  `completion_tokens_details.reasoning_tokens` (billed at the output rate, shown apart, not added twice).

Long context: when input + cache reads + cache writes exceed the model's threshold (Sonnet 4.5: 200,000),
every token of the request is billed at the long-context rates.

Accepted keys that price nothing (the allowlist):
- anthropic: `service_tier` ("standard" or null; "priority"/"batch" are priced differently: error),
  `speed` ("standard" or null; "fast": error), `inference_geo` (any string: on Bedrock the geography is
  priced from the inference profile), `server_tool_use` (request counts, all zero or null: nonzero is an
  error, we do not price server tools), `output_tokens_details.thinking_tokens` (inside output_tokens).
- Converse: `totalTokens` (must equal inputTokens + outputTokens + cacheRead + cacheWrite, or
  inputTokens + outputTokens).
- openai: `total_tokens` (must equal prompt + completion), `prompt_tokens_details.text_tokens` / `image_tokens`
  (inside prompt_tokens, at the input rate), `completion_tokens_details.text_tokens` /
  `accepted_prediction_tokens` / `rejected_prediction_tokens` (inside completion_tokens, at the output rate).
  `audio_tokens` (either side) must be zero or null: audio is priced differently.
- any family: null for an optional count (SDKs dump unset fields as null).
- any other key is accepted only if it carries no nonzero number under a name containing "token" (e.g.
  OpenRouter's `cost`, `is_byok`); such keys are listed in CostBreakdown.unrecognized_keys for the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from typing import Literal

from aiservice.llm.models import EXACT, ModelSpec, PriceKind, Tier, get_model

CacheTtl = Literal["5m", "1h"]
UsageShape = Literal["anthropic", "bedrock_converse", "openai_chat"]

_PER_MILLION = Decimal(1_000_000)


class UsageShapeError(ValueError):
    """A usage object we cannot price exactly: wrong family, missing or malformed counts, unpriceable tokens."""


@dataclass(frozen=True)
class CostBreakdown:
    """One call's tokens and USD by kind. `output_tokens` includes `reasoning_tokens`, and `output_usd` includes
    `reasoning_usd` (shown apart, never added twice); `total_usd` = input + cache read + both cache writes +
    output. `input_tokens` are the uncached input tokens."""

    model_id: str
    tier: Tier
    usage_shape: UsageShape
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    input_usd: Decimal
    cache_read_usd: Decimal
    cache_write_5m_usd: Decimal
    cache_write_1h_usd: Decimal
    output_usd: Decimal
    reasoning_usd: Decimal
    total_usd: Decimal
    unrecognized_keys: tuple[str, ...] = ()

    @property
    def total_input_tokens(self) -> int:
        """Every input token of the request: uncached, cache reads and cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def as_dict(self) -> dict[str, object]:
        """For logging: Decimals as strings, exact."""
        result: dict[str, object] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            result[field.name] = value
        return result


@dataclass(frozen=True)
class _Counts:
    shape: UsageShape
    input: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    output: int
    reasoning: int
    unrecognized: tuple[str, ...]


# ------------------------------------------------------------------------------------------ public


def cost_of(model_id: str | ModelSpec, raw_usage: Mapping[str, object] | None) -> CostBreakdown:
    """The exact cost of one call of `model_id` (any name get_model takes) from the provider's usage object."""
    spec = get_model(model_id)
    counts = _parse(spec, raw_usage)
    return _price(spec, counts)


def worst_case_cost(
    model: str | ModelSpec, input_tokens: int, max_output_tokens: int, *, cache_write_ttl: CacheTtl | None = None
) -> Decimal:
    """The most a call can cost, for allowance reservations.

    Every input token at the highest rate it can be billed at, every possible output token at the output rate,
    in the tier the input puts the call in (long context when input_tokens crosses the threshold), times the
    price multiplier. A cache write costs more than plain input (1.25x for 5 min, 2x for 1 h), so when the
    caller marks prompt caching (cache_write_ttl) the input is priced at the highest write rate that TTL can
    produce. OpenAI-family models cache on their own and may report cache_write_tokens unasked, so their input
    is always priced at their write rate when they have one.
    """
    spec = get_model(model)
    input_tokens = _argument("input_tokens", input_tokens)
    max_output_tokens = _argument("max_output_tokens", max_output_tokens)
    if cache_write_ttl not in (None, "5m", "1h"):
        raise ValueError(f"cache_write_ttl must be None, '5m' or '1h', not {cache_write_ttl!r}")
    rates = spec.rates(spec.tier_for(input_tokens))
    input_rate = rates.input
    if cache_write_ttl is not None or spec.family == "openai":
        if rates.cache_write_5m is not None:
            input_rate = max(input_rate, rates.cache_write_5m)
        elif cache_write_ttl == "5m":
            raise ValueError(f"{spec.id} has no 5-minute cache-write price")
    if cache_write_ttl == "1h":
        if rates.cache_write_1h is None:
            raise ValueError(f"{spec.id} has no 1-hour cache-write price")
        input_rate = max(input_rate, rates.cache_write_1h)
    with localcontext(EXACT):
        return (input_tokens * input_rate + max_output_tokens * rates.output) / _PER_MILLION


# ------------------------------------------------------------------------------------------ pricing


def _price(spec: ModelSpec, counts: _Counts) -> CostBreakdown:
    total_input = counts.input + counts.cache_read + counts.cache_write_5m + counts.cache_write_1h
    tier = spec.tier_for(total_input)  # the threshold counts cache tokens
    rates = spec.rates(tier)
    with localcontext(EXACT):

        def usd(kind: PriceKind, tokens: int) -> Decimal:
            if tokens == 0:
                return Decimal(0)
            rate = rates.price(kind)
            if rate is None:
                raise UsageShapeError(
                    f"{spec.id} has no {kind} price ({tier} tier) but the usage reports {tokens} {kind} tokens"
                )
            return tokens * rate / _PER_MILLION

        input_usd = usd("input", counts.input)
        cache_read_usd = usd("cache_read", counts.cache_read)
        cache_write_5m_usd = usd("cache_write_5m", counts.cache_write_5m)
        cache_write_1h_usd = usd("cache_write_1h", counts.cache_write_1h)
        output_usd = usd("output", counts.output)
        reasoning_usd = usd("output", counts.reasoning)  # a part of output_usd
        total_usd = input_usd + cache_read_usd + cache_write_5m_usd + cache_write_1h_usd + output_usd
    return CostBreakdown(
        model_id=spec.id,
        tier=tier,
        usage_shape=counts.shape,
        input_tokens=counts.input,
        cache_read_tokens=counts.cache_read,
        cache_write_5m_tokens=counts.cache_write_5m,
        cache_write_1h_tokens=counts.cache_write_1h,
        output_tokens=counts.output,
        reasoning_tokens=counts.reasoning,
        input_usd=input_usd,
        cache_read_usd=cache_read_usd,
        cache_write_5m_usd=cache_write_5m_usd,
        cache_write_1h_usd=cache_write_1h_usd,
        output_usd=output_usd,
        reasoning_usd=reasoning_usd,
        total_usd=total_usd,
        unrecognized_keys=counts.unrecognized,
    )


def _argument(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


# ------------------------------------------------------------------------------------------ usage shapes


_ANTHROPIC_MARKERS = ("input_tokens", "output_tokens")
_CONVERSE_MARKERS = ("inputTokens", "outputTokens")
_OPENAI_MARKERS = ("prompt_tokens", "completion_tokens")


def _parse(spec: ModelSpec, raw_usage: object) -> _Counts:
    if raw_usage is None:
        raise UsageShapeError(
            f"no usage for a {spec.id} call: a call without usage is not free (streamed without usage?)"
        )
    if not isinstance(raw_usage, Mapping):
        raise UsageShapeError(f"usage must be a JSON object, got {type(raw_usage).__name__}")
    keys = set(raw_usage)
    if spec.family == "anthropic":
        if keys & set(_ANTHROPIC_MARKERS):
            return _Reader(raw_usage, spec).anthropic()
        if keys & set(_CONVERSE_MARKERS):
            return _Reader(raw_usage, spec).converse()
        if keys & set(_OPENAI_MARKERS):
            raise UsageShapeError(f"prompt_tokens: a Chat Completions usage for {spec.id}, an anthropic-family model")
        raise UsageShapeError(f"input_tokens: missing from the usage of {spec.id} (keys: {sorted(keys)})")
    if keys & set(_OPENAI_MARKERS):
        return _Reader(raw_usage, spec).openai_chat()
    if keys & set(_ANTHROPIC_MARKERS + _CONVERSE_MARKERS):
        found = sorted(keys & set(_ANTHROPIC_MARKERS + _CONVERSE_MARKERS))[0]
        raise UsageShapeError(
            f"{found}: an Anthropic/Bedrock (or Responses API) usage for {spec.id}, an openai-family model "
            "priced from Chat Completions usage"
        )
    raise UsageShapeError(f"prompt_tokens: missing from the usage of {spec.id} (keys: {sorted(keys)})")


class _Reader:
    """Reads one usage object, checking every count and every key it does not use."""

    def __init__(self, usage: Mapping[str, object], spec: ModelSpec) -> None:
        self.usage = usage
        self.spec = spec
        self.unrecognized: list[str] = []

    # ---- primitives

    def error(self, path: str, problem: str) -> UsageShapeError:
        return UsageShapeError(f"{path}: {problem} (usage of {self.spec.id})")

    def count(self, mapping: Mapping[str, object], key: str, path: str, *, required: bool = False) -> int:
        value = mapping.get(key)
        if value is None:
            if required:
                raise self.error(path, "missing")
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"a token count must be an integer, got {value!r}")
        if value < 0:
            raise self.error(path, f"a token count must not be negative, got {value}")
        return value

    def mapping(self, mapping: Mapping[str, object], key: str, path: str) -> Mapping[str, object] | None:
        value = mapping.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected an object, got {type(value).__name__}")
        return value

    def zero(self, mapping: Mapping[str, object], key: str, path: str, why: str) -> None:
        if self.count(mapping, key, path):
            raise self.error(path, f"{mapping[key]} tokens we cannot price: {why}")

    def choice(self, mapping: Mapping[str, object], key: str, path: str, allowed: tuple[str, ...]) -> None:
        value = mapping.get(key)
        if value is not None and value not in allowed:
            raise self.error(
                path, f"{value!r} is priced differently from the rates we have (accepted: {allowed} or null)"
            )

    def rest(self, mapping: Mapping[str, object], known: set[str], prefix: str = "") -> None:
        """Keys we do not know: an error if they carry a token count, else noted for the logs."""
        for key, value in mapping.items():
            if key in known:
                continue
            path = f"{prefix}{key}"
            carried = _token_counts(key, value, path, inherited=False)
            if carried:
                raise self.error(carried[0], "an unknown usage key carrying a token count: we cannot price it")
            self.unrecognized.append(path)

    def subset(self, part: int, part_path: str, whole: int, whole_path: str) -> None:
        if part > whole:
            raise self.error(part_path, f"{part} exceeds {whole_path} ({whole}), of which it is a part")

    def counts(self, shape: UsageShape, **values: int) -> _Counts:
        return _Counts(shape=shape, unrecognized=tuple(self.unrecognized), **values)

    # ---- shapes

    def anthropic(self) -> _Counts:
        usage = self.usage
        input_tokens = self.count(usage, "input_tokens", "input_tokens", required=True)
        output = self.count(usage, "output_tokens", "output_tokens", required=True)
        cache_read = self.count(usage, "cache_read_input_tokens", "cache_read_input_tokens")
        creation = self.count(usage, "cache_creation_input_tokens", "cache_creation_input_tokens")
        write_5m, write_1h = creation, 0  # no TTL split: every write is a 5-minute write
        split = self.mapping(usage, "cache_creation", "cache_creation")
        if split is not None and ("ephemeral_5m_input_tokens" in split or "ephemeral_1h_input_tokens" in split):
            write_5m = self.count(split, "ephemeral_5m_input_tokens", "cache_creation.ephemeral_5m_input_tokens")
            write_1h = self.count(split, "ephemeral_1h_input_tokens", "cache_creation.ephemeral_1h_input_tokens")
            if write_5m + write_1h != creation:
                raise self.error(
                    "cache_creation",
                    f"the TTL split ({write_5m} 5m + {write_1h} 1h) does not sum to "
                    f"cache_creation_input_tokens ({creation})",
                )
        if split is not None:
            self.rest(split, {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}, "cache_creation.")
        reasoning = 0
        details = self.mapping(usage, "output_tokens_details", "output_tokens_details")
        if details is not None:
            reasoning = self.count(details, "thinking_tokens", "output_tokens_details.thinking_tokens")
            self.subset(reasoning, "output_tokens_details.thinking_tokens", output, "output_tokens")
            self.rest(details, {"thinking_tokens"}, "output_tokens_details.")
        tools = self.mapping(usage, "server_tool_use", "server_tool_use")
        for key, value in (tools or {}).items():
            if value is None or value == 0:
                continue
            raise self.error(f"server_tool_use.{key}", f"{value!r} server tool requests: we do not price server tools")
        self.choice(usage, "service_tier", "service_tier", ("standard",))
        self.choice(usage, "speed", "speed", ("standard",))
        geo = usage.get("inference_geo")
        if geo is not None and not isinstance(geo, str):
            raise self.error("inference_geo", f"expected a string, got {geo!r}")
        self.rest(
            usage,
            {
                "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                "cache_creation", "output_tokens_details", "server_tool_use", "service_tier", "speed", "inference_geo",
            },
        )  # fmt: skip
        return self.counts(
            "anthropic",
            input=input_tokens,
            cache_read=cache_read,
            cache_write_5m=write_5m,
            cache_write_1h=write_1h,
            output=output,
            reasoning=reasoning,
        )

    def converse(self) -> _Counts:
        usage = self.usage
        input_tokens = self.count(usage, "inputTokens", "inputTokens", required=True)
        output = self.count(usage, "outputTokens", "outputTokens", required=True)
        cache_read = self.count(usage, "cacheReadInputTokens", "cacheReadInputTokens")
        cache_write = self.count(usage, "cacheWriteInputTokens", "cacheWriteInputTokens")
        write_5m, write_1h = cache_write, 0
        details = usage.get("cacheDetails")
        if details is not None:
            if not isinstance(details, list):
                raise self.error("cacheDetails", f"expected a list, got {type(details).__name__}")
            if details:
                write_5m = write_1h = 0
                for index, detail in enumerate(details):
                    path = f"cacheDetails[{index}]"
                    if not isinstance(detail, Mapping):
                        raise self.error(path, f"expected an object, got {type(detail).__name__}")
                    tokens = self.count(detail, "inputTokens", f"{path}.inputTokens", required=True)
                    ttl = detail.get("ttl")
                    if ttl == "5m":
                        write_5m += tokens
                    elif ttl == "1h":
                        write_1h += tokens
                    else:
                        raise self.error(f"{path}.ttl", f"unknown cache TTL {ttl!r}")
                    self.rest(detail, {"inputTokens", "ttl"}, f"{path}.")
                if write_5m + write_1h != cache_write:
                    raise self.error(
                        "cacheDetails",
                        f"the TTL split ({write_5m} 5m + {write_1h} 1h) does not sum to "
                        f"cacheWriteInputTokens ({cache_write})",
                    )
        if "totalTokens" in usage and usage["totalTokens"] is not None:
            total = self.count(usage, "totalTokens", "totalTokens")
            accepted = {input_tokens + output + cache_read + cache_write, input_tokens + output}
            if total not in accepted:
                raise self.error(
                    "totalTokens",
                    f"{total} is neither inputTokens + outputTokens + cacheRead + cacheWrite "
                    f"({input_tokens + output + cache_read + cache_write}) nor inputTokens + outputTokens",
                )
        self.rest(
            usage,
            {
                "inputTokens",
                "outputTokens",
                "totalTokens",
                "cacheReadInputTokens",
                "cacheWriteInputTokens",
                "cacheDetails",
            },
        )
        return self.counts(
            "bedrock_converse",
            input=input_tokens,
            cache_read=cache_read,
            cache_write_5m=write_5m,
            cache_write_1h=write_1h,
            output=output,
            reasoning=0,
        )

    def openai_chat(self) -> _Counts:
        usage = self.usage
        prompt = self.count(usage, "prompt_tokens", "prompt_tokens", required=True)
        completion = self.count(usage, "completion_tokens", "completion_tokens", required=True)
        if usage.get("total_tokens") is not None:
            total = self.count(usage, "total_tokens", "total_tokens")
            if total != prompt + completion:
                raise self.error(
                    "total_tokens", f"{total} is not prompt_tokens + completion_tokens ({prompt + completion})"
                )
        cached = cache_write = 0
        details = self.mapping(usage, "prompt_tokens_details", "prompt_tokens_details")
        if details is not None:
            cached = self.count(details, "cached_tokens", "prompt_tokens_details.cached_tokens")
            cache_write = self.count(details, "cache_write_tokens", "prompt_tokens_details.cache_write_tokens")
            self.zero(
                details, "audio_tokens", "prompt_tokens_details.audio_tokens", "audio input is priced differently"
            )
            for key in ("text_tokens", "image_tokens"):
                self.subset(
                    self.count(details, key, f"prompt_tokens_details.{key}"),
                    f"prompt_tokens_details.{key}",
                    prompt,
                    "prompt_tokens",
                )
            self.rest(
                details,
                {"cached_tokens", "cache_write_tokens", "audio_tokens", "text_tokens", "image_tokens"},
                "prompt_tokens_details.",
            )
        if cached + cache_write > prompt:
            raise self.error(
                "prompt_tokens_details",
                f"cached_tokens ({cached}) + cache_write_tokens ({cache_write}) exceed prompt_tokens ({prompt}), "
                "which includes them",
            )
        reasoning = 0
        details = self.mapping(usage, "completion_tokens_details", "completion_tokens_details")
        if details is not None:
            reasoning = self.count(details, "reasoning_tokens", "completion_tokens_details.reasoning_tokens")
            self.subset(reasoning, "completion_tokens_details.reasoning_tokens", completion, "completion_tokens")
            self.zero(
                details, "audio_tokens", "completion_tokens_details.audio_tokens", "audio output is priced differently"
            )
            for key in ("text_tokens", "accepted_prediction_tokens", "rejected_prediction_tokens"):
                path = f"completion_tokens_details.{key}"
                self.subset(self.count(details, key, path), path, completion, "completion_tokens")
            self.rest(
                details,
                {
                    "reasoning_tokens",
                    "audio_tokens",
                    "text_tokens",
                    "accepted_prediction_tokens",
                    "rejected_prediction_tokens",
                },
                "completion_tokens_details.",
            )
        self.rest(
            usage,
            {
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "prompt_tokens_details",
                "completion_tokens_details",
            },
        )
        return self.counts(
            "openai_chat",
            input=prompt - cached - cache_write,
            cache_read=cached,
            cache_write_5m=cache_write,
            cache_write_1h=0,
            output=completion,
            reasoning=reasoning,
        )


def _token_counts(key: str, value: object, path: str, *, inherited: bool) -> list[str]:
    """Paths of nonzero numbers under `key` that are token counts: under a name that says "token"."""
    tokenish = inherited or "token" in key.lower()
    if value is None or isinstance(value, (bool, str)):
        return []
    if isinstance(value, (int, float, Decimal)):
        return [path] if tokenish and value != 0 else []
    if isinstance(value, Mapping):
        return [
            found for k, v in value.items() for found in _token_counts(str(k), v, f"{path}.{k}", inherited=tokenish)
        ]
    if isinstance(value, (list, tuple)):
        return [
            found for i, v in enumerate(value) for found in _token_counts(key, v, f"{path}[{i}]", inherited=tokenish)
        ]
    return []
