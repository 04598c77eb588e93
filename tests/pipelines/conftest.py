"""Fixtures of the endpoint tests: the in-process API, a fresh key per test, the fake providers."""

from tests.pipelines.harness import api, key, llm

__all__ = ["api", "key", "llm"]
