"""The LLM client of the service: every model call goes through here.

    from aiservice.llm import CallContext, call_llm, cost_of

The names load on first use (PEP 562), so importing the package costs nothing; the provider SDKs load only
when a call needs one.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "cost_of": "aiservice.llm.cost",
    "worst_case_cost": "aiservice.llm.cost",
    "CostBreakdown": "aiservice.llm.cost",
    "get_model": "aiservice.llm.models",
    "list_models": "aiservice.llm.models",
    "ModelSpec": "aiservice.llm.models",
    "call_llm": "aiservice.llm.client",
    "stream_llm": "aiservice.llm.client",
    "CallContext": "aiservice.llm.client",
    "CallOptions": "aiservice.llm.types",
    "LLMResult": "aiservice.llm.types",
    "route_for": "aiservice.llm.routing",
    "Deadline": "aiservice.llm.runtime",
    "fan_out": "aiservice.llm.runtime",
    "run": "aiservice.llm.runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aiservice.llm' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
