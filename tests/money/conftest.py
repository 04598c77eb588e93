"""Fixtures of the money tests: the in-process API (authorizer -> handler), a fresh key per test, the fake
providers."""

from tests.pipelines.harness import api, key, llm

__all__ = ["api", "key", "llm"]
