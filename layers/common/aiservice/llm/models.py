"""The model registry: which models the service can call, how, and at what price.

The registry is data (models.json beside this module, plus LLM_EXTRA_MODELS), validated on first use and
cached; nothing is read at import time. Pure stdlib + pydantic: importing it loads no provider SDK.

Model ids (ours, what routing tables, usage records and logs name):

    claude-sonnet-4-5            Bedrock `global.` inference profile (global price)
    claude-sonnet-4-5@us         Bedrock geographic profile `us.` (also @eu, @apac, @jp, @au): regional price
    claude-sonnet-4-5@in-region  the bare Bedrock model id `anthropic.claude-...-v1:0`: in-region, regional price
    azure/gpt-5                  Azure OpenAI Global Standard deployment
    azure-dz/gpt-5               Azure OpenAI Data Zone (US/EU) deployment

and whatever LLM_EXTRA_MODELS adds (e.g. `gemini/gemini-2.5-pro` on an OpenAI-compatible endpoint).

`get_model(name)` takes our id, or a Bedrock provider model id with or without its geography prefix
(`global.`/`us.`/... or bare), or a Bedrock ARN: a system inference profile or foundation model ARN resolves
through the id it ends with; an application inference profile ARN through BEDROCK_APPLICATION_PROFILES (a JSON
object, ARN -> our model id), and comes back with provider_model_id set to the ARN (what to send to Bedrock).
Lookups ignore case.

Prices are USD per 1M tokens, exact Decimals, stored before `price_multiplier` (1 for Bedrock global and Azure
Global Standard, 1.1 for Bedrock regional profiles and Azure Data Zone), which applies to every price of the
row: `ModelSpec.rates()` gives the multiplied rates that cost math uses. Every price table carries its
effective date and source, and lists the prices we inferred rather than read (`inferred`, with a `note`).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError, model_validator

EXTRA_MODELS_ENV = "LLM_EXTRA_MODELS"
APPLICATION_PROFILES_ENV = "BEDROCK_APPLICATION_PROFILES"
_MODELS_FILE = Path(__file__).with_name("models.json")

Provider = Literal["bedrock", "azure", "openai_compatible"]
Family = Literal["anthropic", "openai"]
Capability = Literal["tools", "vision", "reasoning", "caching"]
TokenParam = Literal["max_tokens", "max_completion_tokens"]
PriceKind = Literal["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"]
Tier = Literal["standard", "long_context"]

# Money arithmetic raises rather than rounds: prices have a few significant digits and counts ~10, so 50 digits
# hold every product exactly.
EXACT = Context(prec=50, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])

_PROVIDER_FAMILY: dict[str, str] = {"bedrock": "anthropic", "azure": "openai", "openai_compatible": "openai"}


class UnknownModelError(LookupError):
    """A model name the registry does not know: never priced at $0, never guessed."""


class ContextLengthError(ValueError):
    """A request that cannot fit the model's context window (or its input or output limit)."""


class ModelConfigError(ValueError):
    """The registry data or its configuration (LLM_EXTRA_MODELS, BEDROCK_APPLICATION_PROFILES) is malformed."""


def _exact_decimal(value: object) -> object:
    """Money is a Decimal from a string or an integer (JSON numbers are parsed as Decimal); never a float."""
    if isinstance(value, float):
        raise ValueError("a price must be a string or a Decimal, not a float")
    if isinstance(value, bool):
        raise ValueError("a price must be a number")
    return value


Usd = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(ge=0, allow_inf_nan=False)]
Multiplier = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(gt=0, allow_inf_nan=False)]
Tokens = Annotated[int, Field(strict=True, gt=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # schemas built on first use


class PriceTable(_Frozen):
    """USD per 1M tokens before the model's price_multiplier; None where the model has no such price."""

    input: Usd
    output: Usd
    cache_read: Usd | None = None
    cache_write_5m: Usd | None = None
    cache_write_1h: Usd | None = None
    effective_date: date
    source: str = Field(min_length=1)
    inferred: tuple[PriceKind, ...] = ()  # prices derived (e.g. Bedrock 1 h write = 2 x input), not read
    note: str | None = None

    @model_validator(mode="after")
    def _inferred_prices_are_explained(self) -> PriceTable:
        for kind in self.inferred:
            if getattr(self, kind) is None:
                raise ValueError(f"{kind} is marked inferred but has no price")
        if self.inferred and not self.note:
            raise ValueError("inferred prices need a note saying how they were inferred")
        return self

    def price(self, kind: PriceKind) -> Decimal | None:
        price: Decimal | None = getattr(self, kind)
        return price


class LongContextTier(_Frozen):
    """Above the threshold (input + cache reads + cache writes), every token of the request is at these prices."""

    threshold_input_tokens: Tokens
    prices: PriceTable


@dataclass(frozen=True)
class Rates:
    """Effective USD per 1M tokens (price_multiplier applied) of one tier of one model."""

    tier: Tier
    input: Decimal
    output: Decimal
    cache_read: Decimal | None
    cache_write_5m: Decimal | None
    cache_write_1h: Decimal | None

    def price(self, kind: PriceKind) -> Decimal | None:
        price: Decimal | None = getattr(self, kind)
        return price


class ModelSpec(_Frozen):
    """One callable model: where it lives, how to ask it, what it costs."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$", max_length=200)
    provider: Provider
    family: Family  # request shape and usage semantics
    provider_model_id: str = Field(pattern=r"^\S+$")  # Bedrock profile id / Azure deployment / model name
    context_window: Tokens
    max_input_tokens: Tokens | None = None  # a separate input limit (GPT-5: 272K of its 400K window)
    max_output_tokens: Tokens
    capabilities: frozenset[Capability]
    token_param: TokenParam
    reasoning_effort: StrictBool  # accepts reasoning_effort
    prices: PriceTable
    long_context: LongContextTier | None = None
    price_multiplier: Multiplier = Decimal(1)
    base_url: str | None = Field(None, pattern=r"^https?://\S+$")  # openai_compatible only
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # the variable holding the key
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if _PROVIDER_FAMILY[self.provider] != self.family:
            raise ValueError(
                f"provider {self.provider} serves the {_PROVIDER_FAMILY[self.provider]} family, not {self.family}"
            )
        if self.provider == "openai_compatible":
            if not self.base_url or not self.api_key_env:
                raise ValueError("an openai_compatible model needs base_url and api_key_env")
        elif self.base_url is not None or self.api_key_env is not None:
            raise ValueError(f"base_url and api_key_env are for openai_compatible models, not {self.provider}")
        if self.provider == "bedrock" and not _BEDROCK_ID.fullmatch(self.provider_model_id.lower()):
            raise ValueError(f"provider_model_id {self.provider_model_id!r} is not a Bedrock Anthropic model id")
        if self.max_output_tokens > self.context_window:
            raise ValueError("max_output_tokens exceeds context_window")
        if self.max_input_tokens is not None and self.max_input_tokens > self.context_window:
            raise ValueError("max_input_tokens exceeds context_window")
        if self.family == "anthropic" and self.token_param != "max_tokens":
            raise ValueError("anthropic models take max_tokens")
        if self.reasoning_effort and (self.family != "openai" or "reasoning" not in self.capabilities):
            raise ValueError("reasoning_effort is for openai-family models with the reasoning capability")
        if "caching" in self.capabilities:
            needed: tuple[PriceKind, ...] = (
                ("cache_read", "cache_write_5m") if self.family == "anthropic" else ("cache_read",)
            )
            for kind in needed:
                for label, table in self._price_tables():
                    if table.price(kind) is None:
                        raise ValueError(f"a model with the caching capability needs {label}.{kind}")
        return self

    def _price_tables(self) -> list[tuple[str, PriceTable]]:
        tables = [("prices", self.prices)]
        if self.long_context is not None:
            tables.append(("long_context.prices", self.long_context.prices))
        return tables

    def rates(self, tier: Tier = "standard") -> Rates:
        """The effective rates of a tier: the stored prices times price_multiplier, exact."""
        if tier == "standard":
            table = self.prices
        elif self.long_context is not None:
            table = self.long_context.prices
        else:
            raise ValueError(f"{self.id} has no long-context tier")
        multiplier = self.price_multiplier

        def scaled(price: Decimal | None) -> Decimal | None:
            return None if price is None else price * multiplier

        with localcontext(EXACT):
            return Rates(
                tier=tier,
                input=table.input * multiplier,
                output=table.output * multiplier,
                cache_read=scaled(table.cache_read),
                cache_write_5m=scaled(table.cache_write_5m),
                cache_write_1h=scaled(table.cache_write_1h),
            )

    def tier_for(self, total_input_tokens: int) -> Tier:
        """The tier a request with this many input tokens (cache reads and writes included) is billed at."""
        if self.long_context is not None and total_input_tokens > self.long_context.threshold_input_tokens:
            return "long_context"
        return "standard"


# Bedrock Anthropic model ids, with an optional geography (inference profile) prefix.
_BEDROCK_ID = re.compile(r"(?:[a-z][a-z-]*\.)?anthropic\.[a-z0-9][a-z0-9.:-]*")
_ARN = re.compile(
    r"arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:"
    r"(?P<kind>application-inference-profile|inference-profile|foundation-model)/(?P<resource>\S+)"
)


# ------------------------------------------------------------------------------------------ loading


@dataclass(frozen=True)
class _Registry:
    models: tuple[ModelSpec, ...]
    by_id: dict[str, ModelSpec]  # casefolded id -> spec
    by_bedrock_id: dict[str, ModelSpec]  # casefolded Bedrock provider model id -> spec


def _validate_entries(entries: object, origin: str) -> list[ModelSpec]:
    if not isinstance(entries, list):
        raise ModelConfigError(f"{origin}: expected a JSON list of models, got {type(entries).__name__}")
    specs = []
    for index, entry in enumerate(entries):
        name = entry.get("id") if isinstance(entry, dict) else None
        label = f"{origin} entry {index}" + (f" (model {name!r})" if name else "")
        if not isinstance(entry, dict):
            raise ModelConfigError(f"{label}: expected a JSON object, got {type(entry).__name__}")
        try:
            specs.append(ModelSpec.model_validate(entry))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or '(model)'}: {problem['msg']}"
                for problem in error.errors()
            )
            raise ModelConfigError(f"{label}: {problems}") from None
    return specs


def _builtin_entries() -> object:
    document = json.loads(_MODELS_FILE.read_text(encoding="utf-8"), parse_float=Decimal)
    return document.get("models") if isinstance(document, dict) else document


def _extra_entries() -> object:
    text = os.environ.get(EXTRA_MODELS_ENV, "").strip()
    if not text:
        return []
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as error:
        raise ModelConfigError(f"{EXTRA_MODELS_ENV} is not valid JSON: {error}") from None


@lru_cache(maxsize=1)
def _registry() -> _Registry:
    models = _validate_entries(_builtin_entries(), "models.json") + _validate_entries(
        _extra_entries(), EXTRA_MODELS_ENV
    )
    by_id: dict[str, ModelSpec] = {}
    by_bedrock_id: dict[str, ModelSpec] = {}
    for spec in models:
        key = spec.id.casefold()
        if key in by_id:
            raise ModelConfigError(
                f"model {spec.id!r} is defined twice (models.json and {EXTRA_MODELS_ENV} share one namespace)"
            )
        by_id[key] = spec
        if spec.provider == "bedrock":
            bedrock_key = spec.provider_model_id.casefold()
            if bedrock_key in by_bedrock_id:
                raise ModelConfigError(
                    f"models {by_bedrock_id[bedrock_key].id!r} and {spec.id!r} share the Bedrock id "
                    f"{spec.provider_model_id!r}"
                )
            by_bedrock_id[bedrock_key] = spec
    for spec in models:
        if spec.id.casefold() in by_bedrock_id and by_bedrock_id[spec.id.casefold()] is not spec:
            raise ModelConfigError(f"model id {spec.id!r} is another model's Bedrock id")
    return _Registry(tuple(models), by_id, by_bedrock_id)


@lru_cache(maxsize=1)
def _application_profiles() -> dict[str, str]:
    """BEDROCK_APPLICATION_PROFILES: ARN -> our model id, validated against the registry when first needed."""
    text = os.environ.get(APPLICATION_PROFILES_ENV, "").strip()
    if not text:
        return {}
    try:
        mapping = json.loads(text)
    except ValueError as error:
        raise ModelConfigError(f"{APPLICATION_PROFILES_ENV} is not valid JSON: {error}") from None
    if not isinstance(mapping, dict):
        raise ModelConfigError(f"{APPLICATION_PROFILES_ENV} must be a JSON object of ARN -> model id")
    registry = _registry()
    profiles = {}
    for arn, model_id in mapping.items():
        if not _ARN.fullmatch(arn):
            raise ModelConfigError(f"{APPLICATION_PROFILES_ENV}: {arn!r} is not a Bedrock inference profile ARN")
        spec = registry.by_id.get(model_id.casefold()) if isinstance(model_id, str) else None
        if spec is None:
            raise ModelConfigError(
                f"{APPLICATION_PROFILES_ENV}: {arn} maps to {model_id!r}, which is no model id ({_known_ids()})"
            )
        if spec.provider != "bedrock":
            raise ModelConfigError(f"{APPLICATION_PROFILES_ENV}: {arn} maps to {spec.id}, which is not a Bedrock model")
        profiles[arn] = spec.id
    return profiles


def reset_registry() -> None:
    """Forget the registry and the ARN mapping; the next use reads models.json and the environment again (tests)."""
    _registry.cache_clear()
    _application_profiles.cache_clear()


# ------------------------------------------------------------------------------------------ lookups


def list_models() -> list[ModelSpec]:
    """Every model: models.json's, then LLM_EXTRA_MODELS'."""
    return list(_registry().models)


def get_model(name: str | ModelSpec) -> ModelSpec:
    """A model by our id, its Bedrock provider model id (with or without geography prefix), or a Bedrock ARN."""
    if isinstance(name, ModelSpec):
        return name
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"no model named {name!r} ({_known_ids()})")
    name = name.strip()
    registry = _registry()
    key = name.casefold()
    spec = registry.by_id.get(key) or registry.by_bedrock_id.get(key)
    if spec is not None:
        return spec
    if key.startswith("arn:"):
        return _from_arn(name)
    raise UnknownModelError(f"unknown model {name!r} ({_known_ids()})")


def _from_arn(arn: str) -> ModelSpec:
    profiles = _application_profiles()
    if arn in profiles:
        return get_model(profiles[arn]).model_copy(update={"provider_model_id": arn})
    match = _ARN.fullmatch(arn)
    if match is None:
        raise UnknownModelError(f"{arn!r} is not a Bedrock model or inference profile ARN ({_known_ids()})")
    if match["kind"] == "application-inference-profile":
        raise UnknownModelError(
            f"application inference profile {arn} is not mapped to a model: add it to {APPLICATION_PROFILES_ENV}"
        )
    spec = _registry().by_bedrock_id.get(match["resource"].casefold())
    if spec is None:
        raise UnknownModelError(f"unknown Bedrock model {match['resource']!r} in {arn} ({_known_ids()})")
    return spec


def _known_ids(limit: int = 8) -> str:
    ids = sorted(spec.id for spec in _registry().models)
    shown = ", ".join(ids[:limit])
    return f"known: {shown}" + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# ------------------------------------------------------------------------------------------ sizes


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def check_context(model: ModelSpec | str, input_tokens: int, max_output_tokens: int) -> None:
    """Raise ContextLengthError unless input_tokens + max_output_tokens fit the model's window (and its limits)."""
    spec = get_model(model)
    input_tokens = _count("input_tokens", input_tokens)
    max_output_tokens = _count("max_output_tokens", max_output_tokens)
    if max_output_tokens > spec.max_output_tokens:
        raise ContextLengthError(
            f"{spec.id}: max output tokens {max_output_tokens} exceed the model's maximum output of "
            f"{spec.max_output_tokens}"
        )
    if spec.max_input_tokens is not None and input_tokens > spec.max_input_tokens:
        raise ContextLengthError(
            f"{spec.id}: {input_tokens} input tokens exceed the model's input limit of {spec.max_input_tokens}"
        )
    if input_tokens + max_output_tokens > spec.context_window:
        raise ContextLengthError(
            f"{spec.id}: {input_tokens} input tokens + {max_output_tokens} max output tokens = "
            f"{input_tokens + max_output_tokens}, over the context window of {spec.context_window} tokens"
        )


# Token estimates. Byte-level BPE tokenizers first split text into pieces, then merge bytes within a piece; we
# count the pieces and guess the merges from each piece's shape. The pieces: a run of letters and digits with at
# most one leading space, a run of spaces or tabs, a line break with the indentation after it, one non-ASCII
# character, one other ASCII character (punctuation).
_PIECE = re.compile(r" ?[A-Za-z0-9]+|[ \t]+|\r?\n[ \t]*|[^\x00-\x7f]|.", re.DOTALL)
# Within a run of letters and digits: a (capitalised) word, an upper-case run, at most 3 digits.
_SUBWORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d{1,3}")
_CONSONANTS = re.compile(r"[^aeiouy0-9]{4,}")


@lru_cache(maxsize=8192)
def _subword_tokens(subword: str) -> int:
    length = len(subword)
    if length <= 2 or subword.isdigit():
        return 1
    lower = subword.lower()
    vowels = sum(lower.count(vowel) for vowel in "aeiouy")
    if 0.25 <= vowels / length <= 0.6 and not _CONSONANTS.search(lower):  # looks like a word
        return 1 + (length - 1) // 5 if length <= 10 else -(-length * 2 // 7)
    return -(-length * 2 // 3)  # random letters, acronyms, long compounds: 1.5 letters a token


def estimate_tokens(text: str) -> int:
    """A deliberately conservative estimate of the tokens `text` costs on any of our models.

    Conservative because it sizes the pre-flight context check and the allowance reservation: an over-estimate
    holds a little too much allowance for the length of a call, an under-estimate lets a call overspend its
    allowance or overflow the window. The popular ceil(utf8 bytes / 3) undercounts exactly what this service
    sees besides prose (dense code, minified JSON, hashes, base64, CJK, emoji run at 1.2-2.4 bytes a token),
    so this counts BPE-like pieces instead: a word-like run of letters a token per 5 letters (2 per 7 past 10
    letters), letters that do not look like a word a token per 1.5, digits a token per 2, a run that switches
    between case and digits every couple of characters (hex, base64, uuids) a token per 1.3 characters,
    every punctuation mark, line break and space before a number a token, a non-ASCII character a token per
    UTF-8 byte beyond the first (at least one); then 10 % on top for tokenizers we could not measure.
    Calibrated against cl100k_base and a Claude BPE on prose (English, German, French), Python, dense code,
    JSON, CJK, Arabic/Cyrillic/Greek, emoji, hex, base64, uuids, numbers and random letters: never under
    (1.08x at the least), about 1.65x on typical Python and JSON, 1.3-1.6x on prose.
    """
    if not isinstance(text, str):
        raise TypeError(f"estimate_tokens takes a str, got {type(text).__name__}")
    tokens = 0
    for piece in _PIECE.findall(text):
        last = piece[-1]
        if last.isascii() and last.isalnum():
            run = piece.lstrip(" ")
            if run.isdigit():
                tokens += (len(run) + 1) // 2 + (run != piece)  # the space before a number stays apart
                continue
            subwords = _SUBWORD.findall(run)
            if len(subwords) >= 3 and len(run) < 2.5 * len(subwords):
                tokens += math.ceil(len(run) / 1.3)  # random-looking: hex, base64, generated ids
            else:
                tokens += sum(_subword_tokens(subword) for subword in subwords)
        elif last in " \t\n":
            tokens += 1 + (len(piece) - 1) // 8
        elif not last.isascii():
            tokens += max(1, len(last.encode("utf-8")) - 1)
        else:
            tokens += 1
    return tokens + (tokens + 9) // 10
