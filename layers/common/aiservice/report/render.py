"""The report's files: report.json, report.csv, report.html (self-contained, inline SVG) and a text summary."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from aiservice.report import charts
from aiservice.report.compute import TOKEN_KINDS

CSV_COLUMNS = ("day", "user_id", "org_id", "model", "call_type", "calls", *TOKEN_KINDS, "cost_usd", "cache_savings_usd")


def render_json(report: Mapping[str, Any]) -> bytes:
    return (json.dumps(report, indent=1, sort_keys=False) + "\n").encode()


def render_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The day's spend by (user, org, model, call type); money as exact decimal strings."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def money(value: str | None) -> str:
    if value is None:
        return "–"
    amount = Decimal(value)
    if amount and abs(amount) < Decimal("0.01"):
        return "<$0.01" if amount > 0 else "-<$0.01"
    return f"${amount:,.2f}"


def summary(report: Mapping[str, Any]) -> str:
    """A few lines for SNS and the log."""
    totals = report["totals"]
    change = report["day_over_day"]["total"]
    opt = report["optimizations"]["day"]
    lines = [
        f"codeflash LLM cost report for {report['day']} (UTC)",
        f"Spend: {money(totals['day']['cost_usd'])} over {totals['day']['calls']} calls "
        f"(previous day {money(change['previous_usd'])}, change {money(change['change_usd'])}"
        + (f", {change['change_pct']} %" if change["change_pct"] is not None else "")
        + ")",
        f"Month to date ({report['month']}): {money(totals['month_to_date']['cost_usd'])}",
        f"Optimization runs: {opt['runs']}, successful: {opt['successful']}, "
        f"cost per successful optimization: {money(opt['cost_per_successful_optimization_usd'])}",
        f"Prompt caching saved {money(report['cache_savings']['day_usd'])} today, "
        f"{money(report['cache_savings']['month_to_date_usd'])} this month",
    ]
    top = report["top_spenders"]["day"][:3]
    if top:
        lines.append("Top spenders: " + ", ".join(f"{row['user_id']} {money(row['cost_usd'])}" for row in top))
    anomalies = report["anomalies"]
    if anomalies:
        lines.append(
            f"ANOMALIES ({len(anomalies)}, over {report['parameters']['anomaly_factor']} x trailing 7-day mean):"
        )
        lines += [
            f"  {row['level']} {row['owner']}: {money(row['day_usd'])} vs mean {money(row['trailing_7d_mean_usd'])}"
            for row in anomalies[:10]
        ]
    over = [row for row in report["allowances"] if row["over_limit"]]
    if over:
        lines.append("Over allowance: " + ", ".join(f"{row['level']} {row['owner']}" for row in over[:10]))
    quality = report["data_quality"]
    if quality["malformed_rows"]:
        lines.append(f"Skipped {quality['malformed_rows']} malformed aggregate rows")
    return "\n".join(lines)


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#1d1d1f;background:#fff;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666;fill:#666}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}.grid{stroke:#e5e5e5}.tick{font-size:11px;fill:#444}
table{border-collapse:collapse;margin:6px 0 12px}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:600}
.two{display:grid;grid-template-columns:1fr 1fr;gap:20px}
"""


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], limit: int = 15) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = []
    for row in rows[:limit]:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = money(value) if key.endswith("_usd") else ("–" if value is None else str(value))
            cells.append(f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _card(label: str, value: str, note: str = "") -> str:
    return f'<div class="card"><span class="muted">{escape(label)}</span><b>{escape(value)}</b>{escape(note)}</div>'


def render_html(report: Mapping[str, Any]) -> bytes:
    totals, change = report["totals"], report["day_over_day"]["total"]
    opt_day, opt_month = report["optimizations"]["day"], report["optimizations"]["month_to_date"]
    series = report["series"]
    days = series["days"]

    def dec(values: Sequence[str | None]) -> list[Decimal | None]:
        return [None if v is None else Decimal(v) for v in values]

    spend_chart = charts.stacked_bars(
        "spend_by_model",
        "Spend per day by model",
        days,
        {model: [Decimal(v) for v in values] for model, values in series["spend_by_model"].items()},
    )
    top = report["top_spenders"]["month_to_date"]
    top_chart = charts.hbars(
        "top_users", "Top users, month to date", [r["user_id"] for r in top], [Decimal(r["cost_usd"]) for r in top]
    )
    success_chart = charts.bars(
        "cost_per_success",
        "Cost per successful optimization",
        days,
        dec(series["cost_per_successful_optimization_usd"]),
        charts.PALETTE[4],
    )
    cache_chart = charts.bars("cache_savings", "Prompt-caching savings per day", days, dec(series["cache_savings_usd"]))
    change_note = f" ({change['change_pct']} % vs previous day)" if change["change_pct"] is not None else ""
    quality = report["data_quality"]
    cols_user = [("user_id", "user"), ("calls", "calls"), ("cost_usd", "cost"), ("cache_savings_usd", "cache saved")]
    cols_org = [("org_id", "org"), ("calls", "calls"), ("cost_usd", "cost"), ("cache_savings_usd", "cache saved")]
    cols_model = [
        ("model", "model"),
        ("calls", "calls"),
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("cache_read_tokens", "cache read"),
        ("cost_usd", "cost"),
        ("cache_savings_usd", "cache saved"),
    ]
    cols_call = [("call_type", "call type"), ("calls", "calls"), ("cost_usd", "cost")]
    cols_runs = [
        ("user_id", "user"),
        ("runs", "runs"),
        ("successful", "successful"),
        ("run_cost_usd", "spend"),
        ("cost_per_successful_optimization_usd", "per success"),
    ]
    anomaly_cols = [
        ("level", "level"),
        ("owner", "who"),
        ("day_usd", "day"),
        ("trailing_7d_mean_usd", "7-day mean"),
        ("times_mean", "x mean"),
    ]
    allowance_cols = [
        ("level", "level"),
        ("owner", "who"),
        ("month_to_date_usd", "month to date"),
        ("limit_usd", "limit"),
        ("used_pct", "used %"),
    ]
    anomalies = report["anomalies"]
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>LLM cost report {escape(report["day"])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>LLM cost report: {escape(report["day"])} <span class="muted">(UTC)</span></h1>
<p class="muted">codeflash AI service · month {escape(report["month"])} · generated {
        escape(str(report["generated_at"]))
    }</p>
<div class="cards">
{_card("Spend today", money(totals["day"]["cost_usd"]), change_note)}
{_card("Month to date", money(totals["month_to_date"]["cost_usd"]))}
{_card("Calls today", str(totals["day"]["calls"]))}
{
        _card(
            "Per successful optimization",
            money(opt_day["cost_per_successful_optimization_usd"]),
            f" ({opt_day['successful']} of {opt_day['runs']} runs)",
        )
    }
{_card("Cache saved today", money(report["cache_savings"]["day_usd"]))}
{_card("Anomalies", str(len(anomalies)))}
</div>
<h2>Spend per day by model (30 days)</h2>{spend_chart}
<div class="two"><div><h2>Top users (month to date)</h2>{top_chart}</div></div>
<h2>Cost per successful optimization (per day)</h2>{success_chart}
<p class="muted">Month to date: {opt_month["runs"]} runs, {opt_month["successful"]} successful,
{escape(money(opt_month["cost_per_run_usd"]))} per run,
{escape(money(opt_month["cost_per_successful_optimization_usd"]))} per successful optimization (its own trace),
{escape(money(opt_month["spend_per_successful_optimization_usd"]))} of all run spend per success.</p>
<h2>Prompt-caching savings (per day)</h2>{cache_chart}
<p class="muted">{escape(report["cache_savings"]["method"])}</p>
<h2>Anomalies</h2>
<p class="muted">A user's or org's day above {escape(report["parameters"]["anomaly_factor"])} x its trailing 7-day mean
(and at least {escape(money(report["parameters"]["anomaly_min_usd"]))}).</p>
{_table(anomalies, anomaly_cols)}
<h2>Today by user</h2>{_table(report["by_user"]["day"], cols_user)}
<h2>Today by org</h2>{_table(report["by_org"]["day"], cols_org)}
<h2>Today by model</h2>{_table(report["by_model"]["day"], cols_model)}
<h2>Today by call type</h2>{_table(report["by_call_type"]["day"], cols_call)}
<h2>Month to date vs allowances</h2>{_table(report["allowances"], allowance_cols, 25)}
<h2>Optimizations by user (month to date)</h2>{_table(report["optimizations"]["by_user_month_to_date"], cols_runs)}
<h2>Data quality</h2>
<p class="muted">{quality["rows_read"]} aggregate rows read, {quality["malformed_rows"]} malformed and skipped
{escape(json.dumps(quality["malformed_reasons"]))}; models without prices: {
        escape(", ".join(quality["unpriced_models"]) or "none")
    }.</p>
</body></html>
"""
    return html.encode()
