"""Routing: which model (and fallbacks, and options) serves each call type, from named profiles.

The profiles are data (routing.json beside this file). A deployment can replace or add profiles with a JSON
document in the SSM parameter named by LLM_ROUTING_PARAMETER (read at most every five minutes); LLM_PROFILE
picks the service's profile, and an org may have its own (`aiservice.admin set-org-llm`), with its own key
from Secrets Manager (bring your own key).

    python -m aiservice.llm.routing [--profile NAME]     # prints the resolved table
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiservice.access import Principal
from aiservice.config import get_settings
from aiservice.llm.models import get_model
from aiservice.llm.providers.factory import Credentials, secret_string
from aiservice.llm.types import CallOptions

DEFAULT_CALL_TYPE = "*"  # the entry a profile falls back to for call types it does not name


class RouteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    fallbacks: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    profile: str
    call_type: str
    model: str
    fallbacks: tuple[str, ...]
    options: CallOptions
    credentials: Credentials | None = None


class RoutingError(ValueError):
    """The routing table is wrong: an unknown profile, model or option."""


def _bundled() -> dict[str, Any]:
    table: dict[str, Any] = json.loads((Path(__file__).with_name("routing.json")).read_text())  # _validated checks it
    return table


def _overrides() -> dict[str, Any]:
    name = get_settings().llm_routing_parameter
    if not name:
        return {}
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_parameter(name, transform="json", max_age=300)


def profiles() -> dict[str, dict[str, RouteEntry]]:
    """Every profile, validated: the bundled table with the deployment's profiles over it."""
    return _validated(json.dumps({**_bundled(), **_overrides()}, sort_keys=True))


@lru_cache(maxsize=4)
def _validated(document: str) -> dict[str, dict[str, RouteEntry]]:
    table: dict[str, dict[str, RouteEntry]] = {}
    for profile, entries in json.loads(document).items():
        if DEFAULT_CALL_TYPE not in entries:
            raise RoutingError(f"profile {profile!r} has no {DEFAULT_CALL_TYPE!r} entry")
        table[profile] = {}
        for call_type, entry in entries.items():
            try:
                route = RouteEntry.model_validate(entry)
                CallOptions(**route.options)
            except (ValidationError, TypeError) as error:
                raise RoutingError(f"{profile}.{call_type}: {error}") from None
            for model in (route.model, *route.fallbacks):
                get_model(model)  # an unknown model is a configuration error, found at load
            table[profile][call_type] = route
    return table


def route_for(call_type: str, principal: Principal | None = None) -> Route:
    profile = (principal and principal.llm_profile) or get_settings().llm_profile
    table = profiles()
    if profile not in table:
        raise RoutingError(f"no routing profile {profile!r}; profiles: {', '.join(sorted(table))}")
    entry = table[profile].get(call_type) or table[profile][DEFAULT_CALL_TYPE]
    return Route(
        profile=profile,
        call_type=call_type,
        model=entry.model,
        fallbacks=tuple(entry.fallbacks),
        options=CallOptions(**entry.options),
        credentials=_byok(principal.byok_secret) if principal and principal.byok_secret else None,
    )


def _byok(secret_id: str) -> Credentials:
    """The org's key: a JSON secret {"provider": "azure" | "openai_compatible", "endpoint", "api_key",
    "api_version"?}."""
    try:
        values = json.loads(secret_string(secret_id))
        return Credentials(
            provider=values["provider"],
            endpoint=values["endpoint"],
            api_key=values["api_key"],
            api_version=values.get("api_version"),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise RoutingError(f"the org's key secret is not the expected JSON ({type(error).__name__})") from None


def resolved_table(profile: str | None = None) -> list[dict[str, Any]]:
    """Every (profile, call type) with its model chain, providers and options, for people to read."""
    rows = []
    for name, entries in sorted(profiles().items()):
        if profile and name != profile:
            continue
        for call_type, entry in sorted(entries.items()):
            chain = [get_model(model) for model in (entry.model, *entry.fallbacks)]
            rows.append(
                {
                    "profile": name,
                    "call_type": call_type,
                    "chain": [f"{model.id} ({model.provider}: {model.provider_model_id})" for model in chain],
                    "options": entry.options,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiservice.llm.routing", description="the resolved routing table")
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    try:
        rows = resolved_table(args.profile)
    except (RoutingError, LookupError) as error:
        print(f"routing table error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
