"""Fixtures of the JavaScript/TypeScript endpoint tests: the pipelines' in-process API, keys and fake providers."""

from tests.pipelines.harness import api, key, llm

__all__ = ["api", "key", "llm"]
