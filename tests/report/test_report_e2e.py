"""The report against moto: DynamoDB from the template, S3 and SNS; the scheduled handler end to end; the CLI."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from aiservice.report.run import History, make_report, put_s3
from aiservice.store.dynamo import n, s
from tests.conftest import load_function

from .conftest import seed_calls, sent_messages

USERS = [("ana", "org-a"), ("ben", "org-a"), ("cho", "org-b"), ("dee", None), ("eli", "org-c")]
CONTEXT = SimpleNamespace(
    function_name="cost-report",
    memory_limit_in_mb=1024,
    aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:cost-report",
    get_remaining_time_in_millis=lambda: 300_000,
)


def users_of(day: date) -> list[tuple[str, str | None]]:
    tag = day.isoformat()  # users of their own, so allowances and traces of other tests never mix in
    return [(f"{user}-{tag}", None if org is None else f"{org}-{tag}") for user, org in USERS]


def history(stores) -> History:
    usage, features = stores
    return History(usage=usage, features=features)


def test_totals_equal_the_sum_of_the_call_records_to_the_cent(stores, base_day) -> None:
    usage, features = stores
    rng = random.Random(11)
    users = users_of(base_day)
    day = base_day + timedelta(days=5)
    records = []
    for offset in range(6):
        records += seed_calls(usage, base_day + timedelta(days=offset), users, rng, 5)
    for record in records[::7]:
        features.record_run(
            record["trace"],
            record["user"],
            None if record["org"] == "-" else record["org"],
            now=datetime.combine(base_day, datetime.min.time(), UTC),
        )

    report = make_report(day, history(stores)).report
    day_records = [r for r in records if r["day"] == day]
    assert day_records
    expected_day = sum((r["cost"] for r in day_records), Decimal(0))
    assert Decimal(report["totals"]["day"]["cost_usd"]) == expected_day  # exact, not just to the cent
    assert Decimal(report["totals"]["month_to_date"]["cost_usd"]) == sum((r["cost"] for r in records), Decimal(0))
    assert report["totals"]["day"]["calls"] == len(day_records)

    for dimension, label, key in (
        ("by_user", "user_id", "user"),
        ("by_org", "org_id", "org"),
        ("by_model", "model", "model"),
        ("by_call_type", "call_type", "call_type"),
    ):
        expected: dict[str, Decimal] = defaultdict(Decimal)
        for r in day_records:
            expected[r[key]] += r["cost"]
        assert {row[label]: Decimal(row["cost_usd"]) for row in report[dimension]["day"]} == expected, dimension
    top = report["top_spenders"]["day"]
    assert [Decimal(r["cost_usd"]) for r in top] == sorted((Decimal(r["cost_usd"]) for r in top), reverse=True)
    previous = sum((r["cost"] for r in records if r["day"] == day - timedelta(days=1)), Decimal(0))
    assert Decimal(report["day_over_day"]["total"]["previous_usd"]) == previous
    assert report["data_quality"]["malformed_rows"] == 0
    # the CSV's rows add up to the same total
    rows = list(csv.DictReader(io.StringIO(make_report(day, history(stores)).files["report.csv"].decode())))
    assert sum(Decimal(r["cost_usd"]) for r in rows) == expected_day
    # the month's traces: 1 in 7 records' traces were runs; their exact costs come from settle
    runs = report["optimizations"]["month_to_date"]
    run_traces = {r["trace"] for r in records[::7]}
    assert runs["runs"] == len(run_traces)
    assert Decimal(runs["run_cost_usd"]) == sum((r["cost"] for r in records if r["trace"] in run_traces), Decimal(0))


def test_an_empty_day(stores, base_day) -> None:
    result = make_report(base_day, history(stores))
    assert result.report["totals"]["day"]["cost_usd"] == "0"
    assert result.report["data_quality"]["rows_read"] == 0
    assert result.files["report.csv"].decode().count("\n") == 1  # the header only
    assert b"no data" in result.files["report.html"]
    assert "Spend: $0.00" in result.summary


def test_malformed_rows_in_the_table_are_skipped_and_counted(stores, base_day) -> None:
    usage, _ = stores
    rng = random.Random(5)
    records = seed_calls(usage, base_day, users_of(base_day), rng, 5)
    client = usage._client
    for index, bad in enumerate(({"cost_usd": s("twelve")}, {"calls": s("1")}, {"model": n(3)}, {})):
        item = {
            "pk": s(f"DAY#{base_day.isoformat()}#{index:03d}"),
            "sk": s(f"broken-{index}"),
            "user_id": s("x"),
            "org_id": s(""),
            "model": s("azure/gpt-5"),
            "call_type": s("optimize"),
            "calls": n(1),
            "cost_usd": n(Decimal("99")),
        }
        item.update(bad)
        if not bad:
            del item["cost_usd"]
        client.put_item(TableName="UsageTable", Item=item)
    report = make_report(base_day, history(stores)).report
    assert report["data_quality"]["day_malformed_rows"] == 4
    assert report["data_quality"]["malformed_reasons"] == {"bad calls": 1, "bad cost_usd": 2, "bad model": 1}
    assert Decimal(report["totals"]["day"]["cost_usd"]) == sum((r["cost"] for r in records), Decimal(0))


def test_every_shard_is_read(stores, base_day, settings_env) -> None:
    usage, _ = stores
    from aiservice.store.usage import shard_of

    by_shard: dict[int, str] = {}
    index = 0
    while len(by_shard) < 16:  # one user in each of the 16 shards
        by_shard.setdefault(shard_of(f"shard-user-{index}-{base_day}", 16), f"shard-user-{index}-{base_day}")
        index += 1
    records = []
    for shard, user in sorted(by_shard.items()):
        records += seed_calls(usage, base_day, [(user, None)], random.Random(shard), 1)
    report = make_report(base_day, history(stores)).report
    assert Decimal(report["totals"]["day"]["cost_usd"]) == sum((r["cost"] for r in records), Decimal(0))


def test_running_the_same_day_twice_overwrites(stores, base_day, aws) -> None:
    usage, _ = stores
    rng = random.Random(8)
    seed_calls(usage, base_day, users_of(base_day), rng, 3)
    first = make_report(base_day, history(stores))
    keys = put_s3(first, aws["s3"], aws["bucket"])
    seed_calls(usage, base_day, users_of(base_day), rng, 3)  # late settlements, then a rerun
    second = make_report(base_day, history(stores))
    assert put_s3(second, aws["s3"], aws["bucket"]) == keys
    listed = aws["s3"].list_objects_v2(Bucket=aws["bucket"])["Contents"]
    prefix = f"reports/{base_day:%Y/%m/%d}/"
    assert sorted(o["Key"] for o in listed) == [prefix + "report.csv", prefix + "report.html", prefix + "report.json"]
    stored = json.loads(aws["s3"].get_object(Bucket=aws["bucket"], Key=prefix + "report.json")["Body"].read())
    assert stored["totals"] == second.report["totals"] != first.report["totals"]
    html = aws["s3"].get_object(Bucket=aws["bucket"], Key=prefix + "report.html")
    assert html["ContentType"].startswith("text/html")


def test_the_scheduled_handler_end_to_end(stack, stores, base_day, aws, monkeypatch, capsys) -> None:
    usage, features = stores
    day = base_day + timedelta(days=20)
    rng = random.Random(21)
    users = users_of(day)
    for offset in range(1, 8, 3):
        seed_calls(usage, day - timedelta(days=offset), users[:2], rng, 1)
    records = seed_calls(usage, day, users, rng, 10)  # a spike: anomalies
    trace = records[0]["trace"]
    features.record_run(trace, records[0]["user"], None, now=datetime.combine(day, datetime.min.time(), UTC))
    features.mark_success(trace, records[0]["user"], None, now=datetime.combine(day, datetime.min.time(), UTC))
    monkeypatch.setenv("REPORT_BUCKET", aws["bucket"])
    monkeypatch.setenv("REPORT_TOPIC_ARN", aws["topic"])
    monkeypatch.setenv("COST_ANOMALY_FACTOR", "2")
    module = load_function(stack, "CostReportFunction")
    # the sample event is what the schedule sends: the day before its scheduled time
    sample = json.loads((stack.root / "events/cost_report.json").read_text())
    sample["scheduled_time"] = f"{day + timedelta(days=1)}T06:00:00Z"
    answer = module.handler(sample, CONTEXT)
    assert answer["day"] == day.isoformat() and answer["anomalies"] >= 1
    body = json.loads(aws["s3"].get_object(Bucket=aws["bucket"], Key=answer["keys"][0])["Body"].read())
    assert Decimal(body["totals"]["day"]["cost_usd"]) == sum((r["cost"] for r in records), Decimal(0))
    assert body["optimizations"]["day"]["successful"] == 1
    (message,) = sent_messages(aws["topic"])
    assert f"cost report for {day}" in message and "ANOMALIES" in message and "report.html" in message
    out = capsys.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    metrics = {m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"ReportDailyCostUSD", "CostAnomalies", "ReportCacheSavingsUSD"} <= metrics
    (doc,) = [d for d in emf if "ReportDailyCostUSD" in d]
    value = doc["ReportDailyCostUSD"]
    assert Decimal(str(value[0] if isinstance(value, list) else value)).quantize(Decimal("0.01")) == Decimal(
        body["totals"]["day"]["cost_usd"]
    ).quantize(Decimal("0.01"))
    # an explicit day overrides; the default is the previous UTC day
    assert module.handler({"day": day.isoformat()}, CONTEXT)["day"] == day.isoformat()
    assert len(aws["s3"].list_objects_v2(Bucket=aws["bucket"])["Contents"]) == 3


def test_day_to_report_defaults_to_the_previous_utc_day() -> None:
    from aiservice.report.run import day_to_report

    now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert day_to_report({}, now) == date(2026, 11, 30)
    assert day_to_report({"scheduled_time": "2026-11-29T06:00:00Z"}, now) == date(2026, 11, 28)
    assert day_to_report({"day": "2026-01-02"}, now) == date(2026, 1, 2)


def test_the_command_line_writes_the_same_files(stores, base_day, tmp_path, dynamodb) -> None:
    from aiservice.report.__main__ import main

    usage, _ = stores
    seed_calls(usage, base_day + timedelta(days=1), users_of(base_day), random.Random(2), 4)
    assert (
        main(
            [
                "--from",
                base_day.isoformat(),
                "--to",
                (base_day + timedelta(days=2)).isoformat(),
                "--out",
                str(tmp_path),
                "--endpoint-url",
                dynamodb,
            ]
        )
        == 0
    )
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("report.*"))
    assert len(written) == 9 and written[0].startswith(f"reports/{base_day:%Y/%m/%d}/")


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday"])
def test_a_bad_day_is_refused(bad: str) -> None:
    from aiservice.report.run import day_to_report

    with pytest.raises(ValueError):
        day_to_report({"day": bad})
