"""Who is calling and what they may spend: the principal the authorizer resolves, and the metering every
authenticated call goes through (rate limit, plan quota, allowance reservation, settlement)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from aiservice.config import PLANS, Plan, Settings
from aiservice.errors import AllowanceExhausted, Unauthenticated
from aiservice.observability import logger, metrics
from aiservice.store.keys import AccountLimits, KeyRecord
from aiservice.store.usage import Admission, UsageLine, UsageStore

_MICRO_USD = Decimal("0.000001")
_UNLIMITED = ""  # how "no limit" travels in the authorizer context, whose values must be strings


@dataclass(frozen=True)
class Principal:
    """An authenticated caller with the limits that apply to it. Never holds the key itself."""

    user_id: str
    org_id: str | None
    plan: Plan
    privacy_mode: bool
    key_id: str
    monthly_quota: int | None
    user_allowance_usd: Decimal | None
    org_allowance_usd: Decimal | None
    llm_profile: str | None = None  # the org's routing profile; None: the service's
    byok_secret: str | None = None  # the secret holding the org's own LLM key; None: the service's keys

    def to_authorizer_context(self) -> dict[str, str]:
        def limit(value: object) -> str:
            return _UNLIMITED if value is None else str(value)

        return {
            "user_id": self.user_id,
            "org_id": self.org_id or "",
            "plan": self.plan,
            "privacy_mode": "true" if self.privacy_mode else "false",
            "key_id": self.key_id,
            "monthly_quota": limit(self.monthly_quota),
            "user_allowance_usd": limit(self.user_allowance_usd),
            "org_allowance_usd": limit(self.org_allowance_usd),
            "llm_profile": self.llm_profile or "",
            "byok_secret": self.byok_secret or "",
        }

    @classmethod
    def from_authorizer_context(cls, context: Mapping[str, object] | None) -> Principal:
        """The principal API Gateway hands the handler in requestContext.authorizer."""
        if not context or not context.get("user_id"):
            raise Unauthenticated("request was not authenticated")
        plan = str(context.get("plan"))
        if plan not in PLANS:
            raise Unauthenticated("request carries an unknown plan")

        def limit(name: str, kind: type) -> object:
            raw = str(context.get(name, _UNLIMITED))
            return None if raw == _UNLIMITED else kind(raw)

        return cls(
            user_id=str(context["user_id"]),
            org_id=str(context.get("org_id") or "") or None,
            plan=plan,
            privacy_mode=str(context.get("privacy_mode")).lower() == "true",
            key_id=str(context.get("key_id", "")),
            monthly_quota=limit("monthly_quota", int),  # type: ignore[arg-type]
            user_allowance_usd=limit("user_allowance_usd", Decimal),  # type: ignore[arg-type]
            org_allowance_usd=limit("org_allowance_usd", Decimal),  # type: ignore[arg-type]
            llm_profile=str(context.get("llm_profile") or "") or None,
            byok_secret=str(context.get("byok_secret") or "") or None,
        )


def resolve_principal(key: KeyRecord, user: AccountLimits, org: AccountLimits, settings: Settings) -> Principal:
    """Plan defaults, overridden by what is set on the user and the org."""
    return Principal(
        user_id=key.user_id,
        org_id=key.org_id,
        plan=key.plan,
        privacy_mode=key.privacy_mode,
        key_id=key.key_id,
        monthly_quota=user.quota_or(settings.plan_quota(key.plan)),
        user_allowance_usd=user.allowance_or(settings.plan_allowance_usd(key.plan)),
        org_allowance_usd=org.allowance_or(None),
        llm_profile=org.llm_profile,
        byok_secret=org.byok_secret,
    )


@dataclass
class Ledger:
    """What a metered request may spend (its reservation) and what it has spent.

    Each model call holds its worst-case cost before it goes out and settles to its real cost after, so the
    calls of one request, concurrent or not, can never spend more than the request reserved, and the
    reservation can never pass the allowance. Whatever is in `lines` when the request ends is billed.
    """

    budget_usd: Decimal
    lines: list[UsageLine] = field(default_factory=list)
    committed_usd: Decimal = Decimal(0)  # settled costs plus the holds of calls in flight

    def hold(self, amount_usd: Decimal) -> None:
        if self.committed_usd + amount_usd > self.budget_usd:
            raise AllowanceExhausted(
                f"this request reserved ${self.budget_usd} and has committed ${self.committed_usd}; "
                f"another model call (up to ${amount_usd}) would pass the reservation"
            )
        self.committed_usd += amount_usd

    def settle(self, held_usd: Decimal, line: UsageLine | None) -> None:
        """Replace a hold with what the call really cost (nothing, for a call that billed nothing)."""
        self.committed_usd -= held_usd
        if line is not None:
            self.record(line)

    def record(self, line: UsageLine) -> None:
        self.committed_usd += line.cost_usd
        self.lines.append(line)


@contextmanager
def metered(
    principal: Principal,
    *,
    trace_id: str | None,
    estimate_usd: Decimal,
    counts_toward_quota: bool,
    store: UsageStore | None = None,
) -> Iterator[Ledger]:
    """Admit the request (rate limit, quota, reservation of `estimate_usd`), then settle what it recorded.

    Raises RateLimited, QuotaExceeded or AllowanceExhausted before the body runs. Settlement happens on
    success and on failure alike (billed attempts of a failed request still cost money); with nothing
    recorded it is a pure release. A failure to settle is logged, never raised over the request's outcome.
    """
    store = store or UsageStore()
    # Reserve whole micro-dollars, rounded up: a reservation released in full then nets to a plain 0.000000, where
    # a worst case with 10 decimals would leave a zero whose exponent moto (and readers of the item) trip over.
    estimate_usd = estimate_usd.quantize(_MICRO_USD, rounding=ROUND_CEILING)
    reservation = store.admit(
        Admission(
            user_id=principal.user_id,
            org_id=principal.org_id,
            trace_id=trace_id,
            estimate_usd=estimate_usd,
            counts_toward_quota=counts_toward_quota,
            monthly_quota=principal.monthly_quota,
            user_allowance_usd=principal.user_allowance_usd,
            org_allowance_usd=principal.org_allowance_usd,
        )
    )
    ledger = Ledger(budget_usd=estimate_usd)
    try:
        yield ledger
    finally:
        try:
            store.settle(reservation, ledger.lines)
        except Exception:
            logger.exception(
                "settlement failed; the reservation stays held",
                extra={"reservation_id": reservation.reservation_id, "amount_usd": str(reservation.amount_usd)},
            )
            metrics.add_metric(name="SettlementFailed", unit="Count", value=1)
