"""The scope of one request: who asks, and by when the answer is due. Light: the HTTP layer builds it."""

from __future__ import annotations

from dataclasses import dataclass

from aiservice.access import Principal
from aiservice.llm.runtime import Deadline


@dataclass(frozen=True)
class Scope:
    principal: Principal
    deadline: Deadline
