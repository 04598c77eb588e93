"""Errors of the LLM client. Provider SDK exceptions never leave the provider modules: they become these."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiservice.llm.types import Attempt, JsonObject


class InvalidLLMRequest(ValueError):
    """The call is wrong before any network: empty messages, an invalid schema, a tool the model cannot use."""


class ProviderError(Exception):
    """An attempt failed at the provider. `retryable` says whether the same request may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after_s: float | None = None,
        raw_usage: JsonObject | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.raw_usage = raw_usage  # what a failed attempt was billed, when the provider said (a broken stream)


class LLMCallFailed(Exception):
    """Every attempt on every model of the chain failed, or the deadline came first."""

    def __init__(self, message: str, attempts: tuple[Attempt, ...]) -> None:
        super().__init__(message)
        self.attempts = attempts
