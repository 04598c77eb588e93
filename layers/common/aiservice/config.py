"""Service configuration: one pydantic model, read from the environment once per execution environment.

Plain pydantic (not pydantic-settings) keeps the authorizer's cold start small; every field names its
environment variable through its alias.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Plan = Literal["free", "pro", "enterprise"]
PLANS: tuple[Plan, ...] = ("free", "pro", "enterprise")


def _unlimited_as_none(value: object) -> object:
    """`unlimited` (or empty) in the environment means no limit."""
    if isinstance(value, str) and value.strip().lower() in ("", "unlimited", "none"):
        return None
    return value


Limit = Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(_unlimited_as_none)]
UsdLimit = Annotated[Annotated[Decimal, Field(ge=0)] | None, BeforeValidator(_unlimited_as_none)]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    aws_region: str = Field("us-east-1", alias="AWS_REGION")
    api_keys_table: str = Field("ApiKeysTable", alias="API_KEYS_TABLE")
    usage_table: str = Field("UsageTable", alias="USAGE_TABLE")
    features_table: str = Field("OptimizationFeaturesTable", alias="FEATURES_TABLE")

    api_timeout_ms: int = Field(29_000, alias="API_TIMEOUT_MS", gt=0)
    max_body_bytes: int = Field(5 * 1024 * 1024, alias="MAX_BODY_BYTES", gt=0)

    rate_limit_max: int = Field(40, alias="RATE_LIMIT_MAX", gt=0)
    rate_limit_window_ms: int = Field(60_000, alias="RATE_LIMIT_WINDOW_MS", gt=0)

    quota_free: Limit = Field(100, alias="PLAN_MONTHLY_QUOTA_FREE")
    quota_pro: Limit = Field(2_000, alias="PLAN_MONTHLY_QUOTA_PRO")
    quota_enterprise: Limit = Field(None, alias="PLAN_MONTHLY_QUOTA_ENTERPRISE")

    allowance_usd_free: UsdLimit = Field(Decimal("5"), alias="PLAN_MONTHLY_ALLOWANCE_USD_FREE")
    allowance_usd_pro: UsdLimit = Field(Decimal("200"), alias="PLAN_MONTHLY_ALLOWANCE_USD_PRO")
    allowance_usd_enterprise: UsdLimit = Field(None, alias="PLAN_MONTHLY_ALLOWANCE_USD_ENTERPRISE")

    # Claude candidates sharing a cached prompt wait for the first to begin answering, so that they read the cache
    # (a tenth of the input price) at the cost of that first answer's time to first token. False: all at once.
    prompt_cache_priming: bool = Field(True, alias="PROMPT_CACHE_PRIMING")

    # Candidates per /ai/optimize request: the client asks for 3-7; more multiplies cost, not quality.
    max_candidates: int = Field(8, alias="MAX_CANDIDATES", ge=1, le=20)

    # Daily usage aggregates are spread over this many partitions per day (see store.usage).
    usage_shards: int = Field(16, alias="USAGE_SHARDS", ge=1, le=256)

    # The reservation sweeper releases reservations older than the longest timeout of a metered function plus a
    # margin: their Lambda was killed between admit and settle. Unset: Lambda's maximum (900 s), always safe.
    metered_function_timeout_s: int = Field(900, alias="METERED_FUNCTION_TIMEOUT_S", ge=1, le=900)
    reservation_sweep_margin_s: int = Field(300, alias="RESERVATION_SWEEP_MARGIN_S", ge=0)

    # LLM providers. Any of them can point at a compatible server (the offline demo model, a proxy).
    bedrock_region: str | None = Field(None, alias="BEDROCK_REGION")  # default: AWS_REGION
    bedrock_base_url: str | None = Field(None, alias="BEDROCK_BASE_URL")
    azure_openai_endpoint: str | None = Field(None, alias="AZURE_OPENAI_ENDPOINT")
    azure_openai_api_key: str | None = Field(None, alias="AZURE_OPENAI_API_KEY", repr=False)
    azure_openai_api_key_secret: str | None = Field(None, alias="AZURE_OPENAI_API_KEY_SECRET")  # name or ARN
    openai_api_version: str = Field("2024-10-21", alias="OPENAI_API_VERSION")

    # LLM calls: routing profile, retries, what the call records may hold.
    llm_profile: str = Field("default", alias="LLM_PROFILE")
    llm_routing_parameter: str | None = Field(None, alias="LLM_ROUTING_PARAMETER")  # SSM name of a JSON table
    llm_max_attempts: int = Field(3, alias="LLM_MAX_ATTEMPTS", ge=1, le=10)  # per model of the chain
    llm_backoff_base_s: float = Field(0.5, alias="LLM_BACKOFF_BASE_S", ge=0)
    llm_backoff_cap_s: float = Field(8.0, alias="LLM_BACKOFF_CAP_S", ge=0)
    log_llm_content: bool = Field(False, alias="LOG_LLM_CONTENT")  # never for orgs in privacy mode

    def plan_quota(self, plan: Plan) -> int | None:
        """Optimizations per month on a plan; None is unlimited."""
        return {"free": self.quota_free, "pro": self.quota_pro, "enterprise": self.quota_enterprise}[plan]

    def plan_allowance_usd(self, plan: Plan) -> Decimal | None:
        """Default monthly spend allowance of a user on a plan; None is unlimited."""
        allowances = {
            "free": self.allowance_usd_free,
            "pro": self.allowance_usd_pro,
            "enterprise": self.allowance_usd_enterprise,
        }
        return allowances[plan]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment, read on first use (never at import time)."""
    environ = dict(os.environ)
    environ.setdefault("AWS_REGION", environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return Settings.model_validate(environ)
