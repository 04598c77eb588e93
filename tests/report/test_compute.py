"""The report's arithmetic on plain rows: exact money, malformed rows, anomalies, cache savings."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from aiservice.llm.models import get_model
from aiservice.report.compute import ReportParameters, build_report, fold_day, fold_traces, parse_row

DAY = date(2026, 11, 20)


def row(
    user: str = "u1",
    org: str = "o1",
    model: str = "claude-sonnet-4-5",
    call_type: str = "optimize",
    cost: object = Decimal("0.1234567"),
    **extra: object,
) -> dict:
    base = {
        "user_id": user,
        "org_id": org,
        "model": model,
        "call_type": call_type,
        "calls": 1,
        "cost_usd": cost,
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
    }
    base.update(extra)
    return base


def report_of(usage: dict, traces: dict | None = None, **parameters: object) -> dict:
    return build_report(DAY, usage, traces or {}, {}, ReportParameters(**parameters))  # type: ignore[arg-type]


def test_malformed_rows_are_skipped_and_counted_by_reason() -> None:
    rows = [
        row(cost=Decimal("0.5")),
        row(cost="abc"),  # a string where money belongs
        row(cost=Decimal("-1")),
        row(user=""),
        {"pk": "DAY#...", "sk": "x"},  # nothing at all
        row(calls=Decimal("1.5")),
        row(input_tokens=-3),
        row(cost=True),
        row(cost=Decimal("NaN")),
        row(cost=Decimal("0.25")),
    ]
    usage = fold_day(DAY, rows)
    assert usage.rows_read == 10
    assert usage.malformed_rows == 8
    assert usage.malformed == {"bad cost_usd": 4, "bad user_id": 2, "bad calls": 1, "bad input_tokens": 1}
    assert usage.total.cost_usd == Decimal("0.75")
    report = report_of({DAY: usage})
    assert report["data_quality"]["malformed_rows"] == 8
    assert report["totals"]["day"]["cost_usd"] == "0.75"


def test_money_is_summed_exactly_not_as_floats() -> None:
    rows = [row(cost=Decimal("0.1")) for _ in range(10)] + [row(cost=Decimal("0.0000001"))]
    usage = fold_day(DAY, rows)
    assert usage.total.cost_usd == Decimal("1.0000001")  # float would give 0.9999999999999999 + 1e-07
    assert report_of({DAY: usage})["totals"]["day"]["cost_usd"] == "1.0000001"


def test_cache_savings_use_the_models_uncached_input_and_cache_read_rates() -> None:
    usage = fold_day(
        DAY,
        [
            row(model="claude-sonnet-4-5@us", cache_read_tokens=1_000_000),
            row(model="azure/gpt-5", cache_read_tokens=2_000_000),
            row(model="no-such-model", cache_read_tokens=5),
        ],
    )
    sonnet_us, gpt5 = get_model("claude-sonnet-4-5@us").rates(), get_model("azure/gpt-5").rates()
    assert sonnet_us.cache_read is not None and gpt5.cache_read is not None
    expected = (sonnet_us.input - sonnet_us.cache_read) + 2 * (gpt5.input - gpt5.cache_read)
    assert usage.total.cache_savings_usd == expected == Decimal("2.97") + Decimal("2.25")
    assert usage.unpriced_models == {"no-such-model"}


def test_anomaly_is_a_day_above_k_times_the_trailing_mean() -> None:
    usage = {
        DAY - timedelta(days=i): fold_day(
            DAY - timedelta(days=i),
            [row(user="steady", org="o", cost=Decimal(2)), row(user="spiky", org="o2", cost=Decimal(1))],
        )
        for i in range(1, 8)
    }
    usage[DAY] = fold_day(
        DAY,
        [
            row(user="steady", org="o", cost=Decimal("5.9")),  # below 3 x 2
            row(user="spiky", org="o2", cost=Decimal("3.01")),  # above 3 x 1
            row(user="newcomer", org="o3", cost=Decimal("0.5")),
        ],
    )  # under the $1 floor
    report = report_of(usage)
    flagged = {(a["level"], a["owner"]) for a in report["anomalies"]}
    assert flagged == {("user", "spiky"), ("org", "o2")}
    assert report_of(usage, anomaly_factor=Decimal("2.5"))["anomalies"][0]["owner"] in {"steady", "o"}


def test_day_over_day_and_month_to_date() -> None:
    usage = {
        DAY - timedelta(days=1): fold_day(DAY - timedelta(days=1), [row(cost=Decimal(4))]),
        DAY: fold_day(DAY, [row(cost=Decimal(5))]),
        date(2026, 10, 31): fold_day(date(2026, 10, 31), [row(cost=Decimal(100))]),
    }  # last month: not in MTD
    report = report_of(usage)
    assert report["day_over_day"]["total"] == {
        "previous_usd": "4",
        "current_usd": "5",
        "change_usd": "1",
        "change_pct": "25.0",
    }
    assert report["totals"]["month_to_date"]["cost_usd"] == "9"
    assert report["series"]["days"][0] == "2026-10-22" and len(report["series"]["days"]) == 30
    assert sum(Decimal(v) for v in report["series"]["spend_by_model"]["claude-sonnet-4-5"]) == 109


def test_cost_per_successful_optimization_uses_the_traces_exact_costs() -> None:
    traces = [
        {
            "user_id": "a",
            "org_id": "o",
            "cost_usd": Decimal("0.30"),
            "optimize_requests": 1,
            "optimization_found": True,
        },
        {"user_id": "a", "org_id": "o", "cost_usd": Decimal("0.10"), "optimize_requests": 2},
        {"user_id": "b", "org_id": "", "cost_usd": Decimal("0.50"), "optimize_requests": 1, "optimization_found": True},
        {"user_id": "b", "cost_usd": Decimal("9"), "optimize_requests": 0},  # testgen-only trace: not a run
        {"user_id": "b", "cost_usd": "lots", "optimize_requests": 1},  # malformed
    ]
    stats = fold_traces(traces)
    assert (stats.total.runs, stats.total.successes, stats.malformed) == (3, 2, 1)
    summary = stats.total.as_dict()
    assert summary["cost_per_successful_optimization_usd"] == "0.400000"  # (0.30 + 0.50) / 2
    assert summary["spend_per_successful_optimization_usd"] == "0.450000"  # 0.90 / 2
    assert summary["cost_per_run_usd"] == "0.300000"


def test_parse_row_accepts_what_settle_writes() -> None:
    parsed = parse_row(row(org=""))
    assert not isinstance(parsed, str)
    assert parsed[0] == ("u1", "", "claude-sonnet-4-5", "optimize")


def test_an_empty_day_reports_zeros() -> None:
    report = report_of({})
    assert report["totals"]["day"]["cost_usd"] == "0"
    assert report["totals"]["day"]["calls"] == 0
    assert report["anomalies"] == [] and report["top_spenders"]["day"] == []
    assert report["optimizations"]["day"]["cost_per_successful_optimization_usd"] is None
