"""The cost report's arithmetic: pure functions of rows and traces, no I/O.

Inputs are what the stores return: the daily aggregates of UsageStore (`DAY#...` rows with user_id, org_id,
model, call_type, calls, token kinds and cost_usd) folded day by day into `DayUsage`, the features items of
the traces first seen on each day, and the month's allowance items. Money is Decimal, summed in a context that
raises rather than rounds (aiservice.llm.models.EXACT); only ratios (averages, percentages) are rounded, and
say so by their quantum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, TypeVar

from aiservice.llm.models import EXACT, UnknownModelError, get_model

TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
SCHEMA = "codeflash.cost-report/1"
HISTORY_DAYS = 30  # the spend chart's window; the month to date fits in it plus the 1st
TRAILING_DAYS = 7  # the anomaly baseline
_PER_MILLION = Decimal(1_000_000)
_ROUNDING = Context(prec=50, rounding=ROUND_HALF_EVEN)
USD_QUANTUM = Decimal("0.000001")  # averages of money: to the micro-dollar
PCT_QUANTUM = Decimal("0.1")


@dataclass(frozen=True)
class ReportParameters:
    anomaly_factor: Decimal = Decimal(3)  # a day above k x its trailing 7-day mean is an anomaly
    anomaly_min_usd: Decimal = Decimal(1)  # ... when it is at least this much (a cent over zero is no alarm)
    top_n: int = 10


@dataclass
class Totals:
    """Calls, tokens by kind, cost and cache savings of some set of aggregate rows."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    cache_savings_usd: Decimal = Decimal(0)

    def add(self, other: Totals) -> None:
        with localcontext(EXACT):
            self.calls += other.calls
            self.input_tokens += other.input_tokens
            self.output_tokens += other.output_tokens
            self.cache_read_tokens += other.cache_read_tokens
            self.cache_write_tokens += other.cache_write_tokens
            self.reasoning_tokens += other.reasoning_tokens
            self.cost_usd += other.cost_usd
            self.cache_savings_usd += other.cache_savings_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            **{kind: getattr(self, kind) for kind in TOKEN_KINDS},
            "cost_usd": usd(self.cost_usd),
            "cache_savings_usd": usd(self.cache_savings_usd),
        }


Key = tuple[str, str, str, str]  # user, org, model, call type
_K = TypeVar("_K", str, Key)


@dataclass
class DayUsage:
    """One day's aggregates folded: totals by dimension, and (with detail) by (user, org, model, call type)."""

    day: date
    detail: bool = False
    total: Totals = field(default_factory=Totals)
    by_key: dict[Key, Totals] = field(default_factory=dict)
    by_user: dict[str, Totals] = field(default_factory=dict)
    by_org: dict[str, Totals] = field(default_factory=dict)
    by_model: dict[str, Totals] = field(default_factory=dict)
    by_call_type: dict[str, Totals] = field(default_factory=dict)
    rows_read: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    unpriced_models: set[str] = field(default_factory=set)

    @property
    def malformed_rows(self) -> int:
        return sum(self.malformed.values())


class _SavingsRates:
    """USD saved per cache-read token, by model: (uncached input rate - cache-read rate) / 1M."""

    def __init__(self) -> None:
        self._rates: dict[str, Decimal | None] = {}

    def of(self, model: str) -> Decimal | None:
        if model not in self._rates:
            try:
                rates = get_model(model).rates()
            except (UnknownModelError, ValueError):
                self._rates[model] = None
            else:
                read = rates.cache_read if rates.cache_read is not None else rates.input
                with localcontext(EXACT):
                    self._rates[model] = (rates.input - read) / _PER_MILLION
        return self._rates[model]


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _money(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        return None
    return value


def parse_row(row: Mapping[str, Any]) -> tuple[Key, Totals] | str:
    """An aggregate row as (key, totals), or the reason it is malformed."""
    key_parts = []
    for name in ("user_id", "org_id", "model", "call_type"):
        value = row.get(name)
        if not isinstance(value, str) or (name != "org_id" and not value):
            return f"bad {name}"
        key_parts.append(value)
    calls = _count(row.get("calls"))
    if calls is None:
        return "bad calls"
    cost = _money(row.get("cost_usd"))
    if cost is None:
        return "bad cost_usd"
    tokens = {}
    for kind in TOKEN_KINDS:
        count = _count(row.get(kind, 0))
        if count is None:
            return f"bad {kind}"
        tokens[kind] = count
    user, org, model, call_type = key_parts
    totals = Totals(calls=calls, cost_usd=cost)
    for kind, count in tokens.items():
        setattr(totals, kind, count)
    return (user, org, model, call_type), totals


def _bucket(table: dict[_K, Totals], name: _K) -> Totals:
    totals = table.get(name)
    if totals is None:
        totals = table[name] = Totals()
    return totals


def fold_day(day: date, rows: Iterable[Mapping[str, Any]], detail: bool = False, rates: Any = None) -> DayUsage:
    """Fold a day's aggregate rows (any iterable, read once) into a DayUsage; malformed rows are counted."""
    savings = rates or _SavingsRates()
    usage = DayUsage(day=day, detail=detail)
    for row in rows:
        usage.rows_read += 1
        parsed = parse_row(row)
        if isinstance(parsed, str):
            usage.malformed[parsed] = usage.malformed.get(parsed, 0) + 1
            continue
        key, totals = parsed
        user, org, model, call_type = key
        per_token = savings.of(model)
        if per_token is None:
            usage.unpriced_models.add(model)
        elif totals.cache_read_tokens:
            with localcontext(EXACT):
                totals.cache_savings_usd = totals.cache_read_tokens * per_token
        usage.total.add(totals)
        if detail:
            _bucket(usage.by_key, key).add(totals)
        _bucket(usage.by_user, user).add(totals)
        _bucket(usage.by_org, org or "-").add(totals)
        _bucket(usage.by_model, model).add(totals)
        _bucket(usage.by_call_type, call_type).add(totals)
    return usage


# ------------------------------------------------------------------------------------------ helpers


def usd(value: Decimal) -> str:
    """Money as an exact decimal string (no exponent)."""
    return format(value, "f")


def ratio(numerator: Decimal, denominator: Decimal | int, quantum: Decimal = USD_QUANTUM) -> Decimal | None:
    if not denominator:
        return None
    with localcontext(_ROUNDING):
        return (Decimal(numerator) / Decimal(denominator)).quantize(quantum)


def pct(part: Decimal, whole: Decimal) -> str | None:
    value = ratio(part * 100, whole, PCT_QUANTUM)
    return None if value is None else format(value, "f")


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else usd(value)


def days_back(day: date, count: int) -> list[date]:
    """`count` days ending with `day`, oldest first."""
    return [day - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def window_for(day: date) -> list[date]:
    """Every day the report of `day` reads: the 30-day chart window and the month to date."""
    start = min(day.replace(day=1), day - timedelta(days=HISTORY_DAYS - 1))
    return [start + timedelta(days=offset) for offset in range((day - start).days + 1)]


def _sum_tables(days: Iterable[DayUsage], attribute: str) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for usage in days:
        for name, totals in getattr(usage, attribute).items():
            _bucket(out, name).add(totals)
    return out


def _ranked(table: Mapping[str, Totals], label: str, limit: int | None = None) -> list[dict[str, Any]]:
    rows = sorted(table.items(), key=lambda item: (-item[1].cost_usd, item[0]))
    if limit is not None:
        rows = rows[:limit]
    return [{label: name, **totals.as_dict()} for name, totals in rows]


def _change(previous: Decimal, current: Decimal) -> dict[str, Any]:
    with localcontext(EXACT):
        delta = current - previous
    return {
        "previous_usd": usd(previous),
        "current_usd": usd(current),
        "change_usd": usd(delta),
        "change_pct": pct(delta, previous),
    }


def _changes(previous: Mapping[str, Totals], current: Mapping[str, Totals], label: str) -> list[dict[str, Any]]:
    names = set(previous) | set(current)
    zero = Totals()
    rows = [
        {label: name, **_change(previous.get(name, zero).cost_usd, current.get(name, zero).cost_usd)} for name in names
    ]
    return sorted(rows, key=lambda row: (-abs(Decimal(row["change_usd"])), row[label]))


# ------------------------------------------------------------------------------------------ optimizations


@dataclass
class _Runs:
    runs: int = 0
    successes: int = 0
    run_cost: Decimal = Decimal(0)
    success_cost: Decimal = Decimal(0)

    def add(self, cost: Decimal, success: bool) -> None:
        with localcontext(EXACT):
            self.runs += 1
            self.run_cost += cost
            if success:
                self.successes += 1
                self.success_cost += cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "successful": self.successes,
            "success_rate_pct": pct(Decimal(self.successes), Decimal(self.runs)),
            "run_cost_usd": usd(self.run_cost),
            "cost_per_run_usd": _opt(ratio(self.run_cost, self.runs)),
            # what a successful trace itself cost (its own exact cost_usd)
            "cost_per_successful_optimization_usd": _opt(ratio(self.success_cost, self.successes)),
            # what the spend on all runs bought per success (failed runs included)
            "spend_per_successful_optimization_usd": _opt(ratio(self.run_cost, self.successes)),
        }


@dataclass
class TraceStats:
    total: _Runs = field(default_factory=_Runs)
    by_user: dict[str, _Runs] = field(default_factory=dict)
    by_org: dict[str, _Runs] = field(default_factory=dict)
    traces_read: int = 0
    malformed: int = 0


def fold_traces(items: Iterable[Mapping[str, Any]], stats: TraceStats | None = None) -> TraceStats:
    """Optimization runs (traces with optimize_requests) and successes (optimization_found), with exact costs."""
    stats = stats or TraceStats()
    for item in items:
        stats.traces_read += 1
        cost = _money(item.get("cost_usd", 0))
        requests = item.get("optimize_requests", 0)
        user = item.get("user_id")
        if cost is None or _count(requests) is None or not isinstance(user, str):
            stats.malformed += 1
            continue
        if not requests:
            continue  # a trace of other calls only (testgen, explanations): not an optimization run
        success = item.get("optimization_found") is True
        org = item.get("org_id") or "-"
        stats.total.add(cost, success)
        stats.by_user.setdefault(user, _Runs()).add(cost, success)
        stats.by_org.setdefault(str(org), _Runs()).add(cost, success)
    return stats


def _runs_table(table: Mapping[str, _Runs], label: str, limit: int) -> list[dict[str, Any]]:
    rows = sorted(table.items(), key=lambda item: (-item[1].run_cost, item[0]))[:limit]
    return [{label: name, **runs.as_dict()} for name, runs in rows]


# ------------------------------------------------------------------------------------------ the report


def owners_of_month(day: date, usage: Mapping[date, DayUsage]) -> list[tuple[str, str]]:
    """The (level, owner) pairs whose allowance items the report reads: who spent this month."""
    month = [usage[d] for d in sorted(usage) if d.month == day.month and d.year == day.year and d <= day]
    users = sorted({user for u in month for user in u.by_user})
    orgs = sorted({org for u in month for org in u.by_org if org != "-"})
    return [("USER", user) for user in users] + [("ORG", org) for org in orgs]


def build_report(
    day: date,
    usage: Mapping[date, DayUsage],
    traces: Mapping[date, Iterable[Mapping[str, Any]]],
    allowances: Mapping[tuple[str, str], Mapping[str, Any]],
    parameters: ReportParameters | None = None,
    generated_at: str | None = None,
) -> dict[str, Any]:
    """The report of `day` as a JSON-ready dict (money as exact decimal strings)."""
    parameters = parameters or ReportParameters()
    empty = {d: DayUsage(day=d) for d in window_for(day)}
    days = {**empty, **{d: u for d, u in usage.items() if d in empty}}
    today = days[day]
    yesterday = usage.get(day - timedelta(days=1)) or DayUsage(day=day - timedelta(days=1))
    month_days = [days[d] for d in sorted(days) if (d.year, d.month) == (day.year, day.month)]
    top = parameters.top_n

    mtd_total = Totals()
    for u in month_days:
        mtd_total.add(u.total)
    mtd = {name: _sum_tables(month_days, f"by_{name}") for name in ("user", "org", "model", "call_type")}

    # optimizations: the day's traces, and the month's
    day_runs = fold_traces(traces.get(day, []))
    month_runs = TraceStats()
    for d in sorted(traces):
        if (d.year, d.month) == (day.year, day.month) and d <= day:
            fold_traces(traces[d], month_runs)

    # allowances: month to date vs each limit
    allowance_rows = []
    for (level, owner), item in sorted(allowances.items()):
        table = mtd["user"] if level == "USER" else mtd["org"]
        spent_mtd = table.get(owner, Totals()).cost_usd
        limit = _money(item.get("limit_usd"))
        allowance_rows.append(
            {
                "level": level.lower(),
                "owner": owner,
                "month_to_date_usd": usd(spent_mtd),
                "limit_usd": _opt(limit),
                "settled_spent_usd": _opt(_money(item.get("spent_usd"))),
                "used_pct": pct(spent_mtd, limit) if limit else None,
                "over_limit": bool(limit is not None and spent_mtd > limit),
            }
        )
    allowance_rows.sort(key=lambda row: (-(Decimal(row["used_pct"]) if row["used_pct"] else Decimal(-1)), row["owner"]))

    # anomalies: the day against the trailing 7-day mean, per user and per org
    trailing = [days.get(d) or DayUsage(day=d) for d in days_back(day - timedelta(days=1), TRAILING_DAYS)]
    anomalies = []
    for level, attribute in (("user", "by_user"), ("org", "by_org")):
        for owner, totals in getattr(today, attribute).items():
            if level == "org" and owner == "-":
                continue
            with localcontext(EXACT):
                history = sum((getattr(u, attribute).get(owner, Totals()).cost_usd for u in trailing), Decimal(0))
            mean = ratio(history, TRAILING_DAYS) or Decimal(0)
            threshold = parameters.anomaly_factor * mean
            if totals.cost_usd >= parameters.anomaly_min_usd and totals.cost_usd > threshold:
                anomalies.append(
                    {
                        "level": level,
                        "owner": owner,
                        "day_usd": usd(totals.cost_usd),
                        "trailing_7d_mean_usd": usd(mean),
                        "times_mean": format(ratio(totals.cost_usd, mean, PCT_QUANTUM), "f") if mean else None,
                    }
                )
    anomalies.sort(key=lambda row: (-Decimal(row["day_usd"]), row["level"], row["owner"]))

    # series for the charts: the last 30 days
    chart_days = days_back(day, HISTORY_DAYS)
    models = sorted({m for d in chart_days for m in days[d].by_model})
    spend_by_model = {m: [usd(days[d].by_model.get(m, Totals()).cost_usd) for d in chart_days] for m in models}
    per_success = []
    for d in chart_days:
        stats = fold_traces(traces.get(d, []))
        per_success.append(_opt(ratio(stats.total.success_cost, stats.total.successes)))

    malformed: dict[str, int] = {}
    for u in days.values():
        for reason, count in u.malformed.items():
            malformed[reason] = malformed.get(reason, 0) + count

    return {
        "schema": SCHEMA,
        "day": day.isoformat(),
        "month": day.strftime("%Y-%m"),
        "generated_at": generated_at,
        "parameters": {
            "anomaly_factor": format(parameters.anomaly_factor, "f"),
            "anomaly_min_usd": usd(parameters.anomaly_min_usd),
            "top_n": top,
        },
        "totals": {
            "day": today.total.as_dict(),
            "previous_day": yesterday.total.as_dict(),
            "month_to_date": mtd_total.as_dict(),
        },
        "day_over_day": {
            "total": _change(yesterday.total.cost_usd, today.total.cost_usd),
            "by_user": _changes(yesterday.by_user, today.by_user, "user_id")[:top],
            "by_org": _changes(yesterday.by_org, today.by_org, "org_id")[:top],
            "by_model": _changes(yesterday.by_model, today.by_model, "model"),
        },
        "by_user": {"day": _ranked(today.by_user, "user_id"), "month_to_date": _ranked(mtd["user"], "user_id")},
        "by_org": {"day": _ranked(today.by_org, "org_id"), "month_to_date": _ranked(mtd["org"], "org_id")},
        "by_model": {"day": _ranked(today.by_model, "model"), "month_to_date": _ranked(mtd["model"], "model")},
        "by_call_type": {
            "day": _ranked(today.by_call_type, "call_type"),
            "month_to_date": _ranked(mtd["call_type"], "call_type"),
        },
        "top_spenders": {
            "day": _ranked(today.by_user, "user_id", top),
            "month_to_date": _ranked(mtd["user"], "user_id", top),
        },
        "allowances": allowance_rows,
        "optimizations": {
            "day": day_runs.total.as_dict(),
            "month_to_date": month_runs.total.as_dict(),
            "by_user_month_to_date": _runs_table(month_runs.by_user, "user_id", top),
            "by_org_month_to_date": _runs_table(month_runs.by_org, "org_id", top),
        },
        "cache_savings": {
            "day_usd": usd(today.total.cache_savings_usd),
            "month_to_date_usd": usd(mtd_total.cache_savings_usd),
            "by_model_day": [
                {"model": m, "cache_read_tokens": t.cache_read_tokens, "saved_usd": usd(t.cache_savings_usd)}
                for m, t in sorted(today.by_model.items())
                if t.cache_read_tokens
            ],
            "method": "cache-read tokens x (the model's uncached input rate - its cache-read rate), models.json",
        },
        "anomalies": anomalies,
        "series": {
            "days": [d.isoformat() for d in chart_days],
            "spend_by_model": spend_by_model,
            "cache_savings_usd": [usd(days[d].total.cache_savings_usd) for d in chart_days],
            "cost_per_successful_optimization_usd": per_success,
        },
        "data_quality": {
            "rows_read": sum(u.rows_read for u in days.values()),
            "malformed_rows": sum(malformed.values()),
            "malformed_reasons": dict(sorted(malformed.items())),
            "day_rows_read": today.rows_read,
            "day_malformed_rows": today.malformed_rows,
            "month_traces_read": month_runs.traces_read,
            "malformed_traces": month_runs.malformed,
            "unpriced_models": sorted({m for u in days.values() for m in u.unpriced_models}),
        },
    }


def detail_rows(usage: DayUsage) -> list[dict[str, Any]]:
    """The day's rows by (user, org, model, call type), for the CSV (needs a DayUsage folded with detail)."""
    return [
        {"day": usage.day.isoformat(), "user_id": u, "org_id": o, "model": m, "call_type": c, **t.as_dict()}
        for (u, o, m, c), t in sorted(usage.by_key.items())
    ]
