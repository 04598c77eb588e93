"""The shapes that cross the LLM client: what a caller asks, what a provider answers, what an attempt cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aiservice.llm.cost import CostBreakdown
    from aiservice.llm.models import ModelSpec

ReasoningEffort = Literal["minimal", "low", "medium", "high"]
CacheTtl = Literal["5m", "1h"]
JsonObject = dict[str, Any]  # a decoded JSON object: a usage object, a JSON Schema, an OpenAI tool
Message = dict[str, Any]  # an OpenAI-format chat message: {"role": ..., "content": ...}, checked by call_llm


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for, the same whichever provider answered."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class CallOptions:
    """Everything about one call except the model and the messages (OpenAI-format)."""

    max_tokens: int = 4096
    temperature: float | None = None
    tools: tuple[JsonObject, ...] = ()  # OpenAI "function" tools
    tool_choice: str | JsonObject | None = None  # "auto", "required", "none" or {"type": "function", ...}
    json_schema: JsonObject | None = None  # structured output: the reply must be JSON valid against it
    reasoning_effort: ReasoningEffort | None = None  # OpenAI reasoning models
    thinking_budget: int | None = None  # Claude extended thinking, in tokens
    cache_system: CacheTtl | None = None  # Claude: cache the system prompt for 5 min or 1 h
    timeout_s: float = 120.0  # one attempt


@dataclass(frozen=True)
class ProviderRequest:
    model: ModelSpec
    messages: tuple[Message, ...]
    options: CallOptions


@dataclass(frozen=True)
class StreamUsage:
    """What a stream's provider has reported it bills so far (Anthropic's message_start: the input, one output
    token), yielded as soon as it is known, so that a stream cut off later is billed at least that."""

    raw_usage: dict[str, Any]


@dataclass(frozen=True)
class ProviderReply:
    """One successful attempt, normalised. `raw_usage` is the provider's own usage object, for cost_of."""

    content: str
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    raw_usage: dict[str, Any]
    stop_reason: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    """One request to a provider, successful or not; billed tokens are recorded even for failures."""

    number: int
    model_id: str
    provider: str
    latency_ms: float
    error: str | None = None  # the error class and message; None on success
    status_code: int | None = None
    raw_usage: dict[str, Any] | None = None
    cost: CostBreakdown | None = None

    @property
    def cost_usd(self) -> Decimal:
        return self.cost.total_usd if self.cost else Decimal(0)


@dataclass(frozen=True)
class LLMResult:
    content: str
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    parsed: Any  # the structured reply, validated against the schema; None without one
    model_id: str  # the model that answered (a fallback's, if it came to that)
    raw_usage: dict[str, Any]
    cost: CostBreakdown  # of the answering attempt
    attempts: tuple[Attempt, ...] = field(default=())
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def total_cost_usd(self) -> Decimal:
        """What the call cost in all, every attempt included."""
        return sum((attempt.cost_usd for attempt in self.attempts), Decimal(0))
