"""The cost report's I/O: read the stores, compute (aiservice.report.compute), write files to S3 or a folder,
publish a summary to SNS and the log, emit EMF metrics of the totals.

Objects go to `reports/YYYY/MM/DD/{report.json,report.csv,report.html}`: a rerun of the same day overwrites
them (same keys), never adds a copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiservice.report import render
from aiservice.report.compute import (
    DayUsage,
    ReportParameters,
    _SavingsRates,
    build_report,
    detail_rows,
    fold_day,
    owners_of_month,
    window_for,
)
from aiservice.store.features import FeaturesStore
from aiservice.store.usage import UsageStore

CONTENT_TYPES = {
    "report.json": "application/json",
    "report.csv": "text/csv; charset=utf-8",
    "report.html": "text/html; charset=utf-8",
}
_TRACE_FIELDS = ("user_id", "org_id", "cost_usd", "optimize_requests", "optimization_found")


def prefix_of(day: date) -> str:
    return f"reports/{day:%Y/%m/%d}/"


@dataclass
class History:
    """Days of folded usage and slim trace items, read once and shared by the reports of several days."""

    usage: UsageStore
    features: FeaturesStore
    workers: int = 4
    days: dict[date, DayUsage] = field(default_factory=dict)
    traces: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    _rates: _SavingsRates = field(default_factory=_SavingsRates)

    def load(self, days: Iterable[date], detail: set[date]) -> None:
        wanted = [d for d in days if d not in self.days or (d in detail and not self.days[d].detail)]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            folded = pool.map(lambda d: fold_day(d, self.usage.iter_daily_usage(d), d in detail, self._rates), wanted)
            self.days.update((usage.day, usage) for usage in folded)
            missing = [d for d in days if d not in self.traces]
            for d, items in zip(missing, pool.map(self._slim_traces, missing), strict=True):
                self.traces[d] = items

    def _slim_traces(self, day: date) -> list[dict[str, Any]]:
        return [{k: item[k] for k in _TRACE_FIELDS if k in item} for item in self.features.iter_traces_of_day(day)]


@dataclass(frozen=True)
class ReportFiles:
    day: date
    report: dict[str, Any]
    files: dict[str, bytes]
    summary: str


def make_report(
    day: date,
    history: History,
    parameters: ReportParameters | None = None,
    now: datetime | None = None,
) -> ReportFiles:
    window = window_for(day)
    history.load(window, detail={day})
    usage = {d: history.days[d] for d in window}
    allowances = history.usage.allowances(owners_of_month(day, usage), day.strftime("%Y-%m"))
    generated = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    traces = {d: history.traces[d] for d in window}
    report = build_report(day, usage, traces, allowances, parameters or ReportParameters(), generated)
    files = {
        "report.json": render.render_json(report),
        "report.csv": render.render_csv(detail_rows(history.days[day])),
        "report.html": render.render_html(report),
    }
    return ReportFiles(day=day, report=report, files=files, summary=render.summary(report))


def write_folder(result: ReportFiles, out: Path) -> Path:
    """The same layout as in S3: OUT/reports/YYYY/MM/DD/report.*; rewritten in place."""
    folder = out / prefix_of(result.day)
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in result.files.items():
        (folder / name).write_bytes(body)
    return folder


def put_s3(result: ReportFiles, s3: Any, bucket: str) -> list[str]:
    keys = []
    for name, body in result.files.items():
        key = prefix_of(result.day) + name
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPES[name])
        keys.append(key)
    return keys


def publish_sns(result: ReportFiles, sns: Any, topic_arn: str, location: str) -> None:
    subject = f"LLM cost report {result.day.isoformat()}"
    if result.report["anomalies"]:
        subject += f": {len(result.report['anomalies'])} anomalies"
    sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=f"{result.summary}\n\nReport: {location}")


def metric_values(report: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    """The EMF metrics of a report's totals (name -> unit, value)."""
    day, opt = report["totals"]["day"], report["optimizations"]["day"]
    values: dict[str, tuple[str, float]] = {
        "ReportDailyCostUSD": ("None", float(Decimal(day["cost_usd"]))),
        "ReportMonthToDateCostUSD": ("None", float(Decimal(report["totals"]["month_to_date"]["cost_usd"]))),
        "ReportDailyCalls": ("Count", float(day["calls"])),
        "ReportCacheSavingsUSD": ("None", float(Decimal(report["cache_savings"]["day_usd"]))),
        "ReportOptimizationRuns": ("Count", float(opt["runs"])),
        "ReportSuccessfulOptimizations": ("Count", float(opt["successful"])),
        "CostAnomalies": ("Count", float(len(report["anomalies"]))),
        "ReportMalformedRows": ("Count", float(report["data_quality"]["day_malformed_rows"])),
    }
    if opt["cost_per_successful_optimization_usd"] is not None:
        values["ReportCostPerSuccessUSD"] = ("None", float(Decimal(opt["cost_per_successful_optimization_usd"])))
    return values


def emit_metrics(report: Mapping[str, Any]) -> None:
    """EMF to stdout (CloudWatch Logs turns it into metrics), one blob for the whole report."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    metrics = EphemeralMetrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "CodeflashAIService"))
    metrics.add_dimension(name="report", value="daily")
    for name, (unit, value) in metric_values(report).items():
        metrics.add_metric(name=name, unit=unit, value=value)
    metrics.flush_metrics()


def parameters_from_env() -> ReportParameters:
    return ReportParameters(
        anomaly_factor=Decimal(os.environ.get("COST_ANOMALY_FACTOR", "3")),
        anomaly_min_usd=Decimal(os.environ.get("COST_ANOMALY_MIN_USD", "1")),
        top_n=int(os.environ.get("COST_REPORT_TOP_N", "10")),
    )


def day_to_report(event: Mapping[str, Any], now: datetime | None = None) -> date:
    """An explicit {"day": "YYYY-MM-DD"} wins; else the UTC day before the schedule's time (a retry after
    midnight still reports the day it was scheduled for); else the day before now."""
    explicit = event.get("day")
    if explicit:
        return date.fromisoformat(str(explicit))
    moment = now or datetime.now(UTC)
    scheduled = event.get("scheduled_time") or event.get("time")
    if isinstance(scheduled, str) and scheduled[:1].isdigit():
        moment = datetime.fromisoformat(scheduled.replace("Z", "+00:00"))
    return date.fromordinal(moment.astimezone(UTC).date().toordinal() - 1)


def run_scheduled(
    event: Mapping[str, Any], s3: Any = None, sns: Any = None, now: datetime | None = None
) -> dict[str, Any]:
    """The scheduled job: the report of one day to S3, its summary to SNS and the log, its totals as metrics."""
    import boto3

    from aiservice.observability import logger

    day = day_to_report(event, now)
    bucket = os.environ["REPORT_BUCKET"]
    topic = os.environ.get("REPORT_TOPIC_ARN", "")
    history = History(usage=UsageStore(), features=FeaturesStore())
    result = make_report(day, history, parameters_from_env(), now)
    keys = put_s3(result, s3 or boto3.client("s3"), bucket)
    location = f"s3://{bucket}/{prefix_of(day)}report.html"
    if topic:
        publish_sns(result, sns or boto3.client("sns"), topic, location)
    quality = result.report["data_quality"]
    logger.info(
        result.summary,
        extra={
            "report_day": day.isoformat(),
            "keys": keys,
            "cost_usd": result.report["totals"]["day"]["cost_usd"],
            "anomalies": len(result.report["anomalies"]),
            "malformed_rows": quality["malformed_rows"],
        },
    )
    emit_metrics(result.report)
    return {"day": day.isoformat(), "bucket": bucket, "keys": keys, "anomalies": len(result.report["anomalies"])}
