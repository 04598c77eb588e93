"""The cost report from the command line, against local moto / DynamoDB Local or real DynamoDB.

python -m aiservice.report --from 2026-11-01 --to 2026-11-28 --out DIR [--endpoint-url URL]
    writes DIR/reports/YYYY/MM/DD/report.{json,csv,html} for every day of the range (what the scheduled
    function puts in S3), and prints each day's summary.
python -m aiservice.report seed-demo [--endpoint-url URL] [--month 2026-11] [--out DIR]
    seeds a month of demo usage (several users, orgs, models, call types, cache reads, successes) and
    writes the report of its last day. Without --endpoint-url it runs moto in this process with the
    template's tables (needs the `local` extra, as `make run` does), so nothing else has to be running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiservice.report.run import History


def _configure(endpoint_url: str | None) -> None:
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint_url
        if endpoint_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    from aiservice.config import get_settings
    from aiservice.store.dynamo import dynamodb_client

    get_settings.cache_clear()
    dynamodb_client.cache_clear()


def _history() -> History:
    from aiservice.report.run import History
    from aiservice.store.features import FeaturesStore
    from aiservice.store.usage import UsageStore

    return History(usage=UsageStore(), features=FeaturesStore())


def write_range(first: date, last: date, out: Path, factor: Decimal, quiet: bool = False) -> list[Path]:
    from aiservice.report.compute import ReportParameters
    from aiservice.report.run import make_report, write_folder

    history = _history()
    parameters = ReportParameters(anomaly_factor=factor)
    folders = []
    day = first
    while day <= last:
        result = make_report(day, history, parameters)
        folders.append(write_folder(result, out))
        if not quiet:
            print(result.summary, f"\n-> {folders[-1]}\n", flush=True)
        day += timedelta(days=1)
    return folders


def _in_process_moto() -> str:
    """moto in this process (no server) with the template's tables: the quickest local demo."""
    try:
        from moto import mock_aws

        from devserver.dynamo import create_tables, dynamodb_client
        from devserver.template import Stack
    except ImportError as error:  # pragma: no cover - outside the repository checkout / without the local extra
        raise SystemExit(
            f"seed-demo without --endpoint-url needs moto and the repository's devserver: {error}"
        ) from None
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    mock_aws().start()
    root = Path(__file__).resolve().parents[4]
    create_tables(dynamodb_client(region=os.environ.get("AWS_REGION", "us-east-1")), Stack.load(root / "template.yaml"))
    return "moto in this process"


def seed_demo_command(args: argparse.Namespace) -> int:
    endpoint = args.endpoint_url or _in_process_moto()
    _configure(args.endpoint_url)
    from aiservice.report.demo import seed_demo

    year, month = (int(part) for part in args.month.split("-"))
    first = date(year, month, 1)
    last = first + timedelta(days=args.days - 1)
    started = time.perf_counter()
    seeded = seed_demo(first, last, seed=args.seed)
    print(
        f"seeded {seeded.traces} traces, {seeded.requests} requests ({seeded.refused} refused by allowances), "
        f"{seeded.successes} successes, ${seeded.cost_usd:.2f} into {endpoint} "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    (folder,) = write_range(last, last, Path(args.out), Decimal(args.anomaly_factor))
    print(f"open {folder / 'report.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["seed-demo"]:
        parser = argparse.ArgumentParser(prog="python -m aiservice.report seed-demo")
        parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. make run's moto (default: moto in-process)")
        parser.add_argument("--month", default="2026-11", help="YYYY-MM to fill")
        parser.add_argument("--days", type=int, default=28, help="days of the month to fill")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--anomaly-factor", default="3")
        parser.add_argument("--out", default="build/report-demo")
        return seed_demo_command(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(
        prog="python -m aiservice.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="default: --from")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (moto, DynamoDB Local); default AWS")
    parser.add_argument("--anomaly-factor", default="3")
    args = parser.parse_args(argv)
    last = args.last or args.first
    if last < args.first:
        parser.error("--to is before --from")
    _configure(args.endpoint_url)
    write_range(args.first, last, args.out, Decimal(args.anomaly_factor))
    return 0


if __name__ == "__main__":
    sys.exit(main())
