"""SnapStart: the work a new execution environment would do on its first request, done before the snapshot.

Lambda runs the hook when it publishes a version and snapshots the environment after it, so that every cold
start restored from the snapshot finds the provider SDKs imported, the clients built, the toolkit loaded and the
prompts read. Outside Lambda (no `snapshot_restore_py`) nothing is registered and the first request does it.
Nothing here opens a connection or reads a secret: a snapshot is shared by many environments and may be old.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiservice.llm.errors import InvalidLLMRequest
from aiservice.llm.models import get_model
from aiservice.llm.providers.factory import provider_for
from aiservice.llm.routing import route_for
from aiservice.observability import logger
from aiservice.pipelines import prompts


def warm_up(call_types: Iterable[str]) -> list[str]:
    """Build the clients of every model the call types route to; returns the models made ready."""
    import aiservice.code.candidates  # noqa: F401 - the toolkit the replies go through
    import aiservice.llm.client  # noqa: F401

    ready = []
    for call_type in call_types:
        route = route_for(call_type)
        for name in (route.model, *route.fallbacks):
            model = get_model(name)
            if model.provider == "azure":  # its key is a secret: read on the first call, never into a snapshot
                from aiservice.llm.providers import openai_chat

                openai_chat.load_sdk()
                continue
            try:
                provider_for(model)
            except InvalidLLMRequest:  # a provider this deployment has not configured
                continue
            ready.append(model.id)
    for path in prompts.FOLDER.glob("*.md"):
        prompts.template(path.stem)
    for path in prompts.FOLDER.glob("*/*.md"):  # the languages' own versions
        prompts.template(path.stem, path.parent.name)
    return ready


def register_snapshot_warm_up(*call_types: str) -> None:
    try:
        from snapshot_restore_py import register_before_snapshot  # type: ignore[import-not-found]
    except ImportError:  # not on a Lambda runtime with SnapStart
        return

    def before_snapshot() -> None:
        logger.info("warmed up before the snapshot", extra={"models": warm_up(call_types)})

    register_before_snapshot(before_snapshot)
