"""Operator CLI: API keys, plans, quotas, allowances and usage, against local or real DynamoDB.

    python -m aiservice.admin [--endpoint-url URL] COMMAND ...

Table names come from API_KEYS_TABLE / USAGE_TABLE (the stack's outputs) or --keys-table / --usage-table.
A new key is printed once and never again: only its SHA-384 digest is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiservice.apikeys import generate_key, hash_key
from aiservice.config import PLANS, Plan, get_settings
from aiservice.store.keys import REVOKED, KeyRecord, KeyStore
from aiservice.store.usage import UsageStore, month_of

_ID = re.compile(r"[A-Za-z0-9._@+\-]{1,128}")  # no '#': it separates the parts of our item keys


def create_key(
    keys: KeyStore, *, user_id: str, org_id: str | None, plan: Plan, privacy_mode: bool, label: str | None
) -> tuple[str, KeyRecord]:
    """A new key for a user; returns (plaintext key, its record). The plaintext exists only in the return."""
    key = generate_key()
    record = keys.create_key(
        hash_key(key), user_id=user_id, org_id=org_id, plan=plan, privacy_mode=privacy_mode, label=label
    )
    return key, record


def _identifier(value: str) -> str:
    if not _ID.fullmatch(value):
        raise argparse.ArgumentTypeError("ids are 1-128 of letters, digits and . _ @ + -")
    return value


def _usd(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError("an allowance is a non-negative amount of USD")
    return amount


def _month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError("months look like 2026-11")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiservice-admin", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (e.g. the local moto server)")
    parser.add_argument("--keys-table", help="default: $API_KEYS_TABLE")
    parser.add_argument("--usage-table", help="default: $USAGE_TABLE")
    parser.add_argument("--features-table", help="default: $FEATURES_TABLE")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-key", help="create a key and print it once")
    create.add_argument("--user", required=True, type=_identifier)
    create.add_argument("--org", type=_identifier)
    create.add_argument("--plan", choices=PLANS, default="free")
    create.add_argument("--privacy", action="store_true", help="privacy mode: never log message content")
    create.add_argument("--label")

    listing = commands.add_parser("list-keys", help="a user's keys (ids, never the keys)")
    listing.add_argument("--user", required=True, type=_identifier)

    revoke = commands.add_parser("revoke", help="revoke one of a user's keys")
    revoke.add_argument("--user", required=True, type=_identifier)
    revoke.add_argument("--key-id", required=True)

    plan = commands.add_parser("set-plan", help="move every key of a user to a plan")
    plan.add_argument("--user", required=True, type=_identifier)
    plan.add_argument("--plan", required=True, choices=PLANS)

    quota = commands.add_parser("set-quota", help="a user's optimizations per month, over the plan's")
    quota.add_argument("--user", required=True, type=_identifier)
    amount = quota.add_mutually_exclusive_group(required=True)
    amount.add_argument("--quota", type=int)
    amount.add_argument("--unlimited", action="store_true")

    allowance = commands.add_parser("set-allowance", help="a user's or an org's monthly spend allowance")
    owner = allowance.add_mutually_exclusive_group(required=True)
    owner.add_argument("--user", type=_identifier)
    owner.add_argument("--org", type=_identifier)
    limit = allowance.add_mutually_exclusive_group(required=True)
    limit.add_argument("--usd", type=_usd)
    limit.add_argument("--unlimited", action="store_true")

    llm = commands.add_parser("set-org-llm", help="an org's LLM routing profile and bring-your-own-key secret")
    llm.add_argument("--org", required=True, type=_identifier)
    llm.add_argument("--profile", help="a profile of the routing table (python -m aiservice.llm.routing)")
    llm.add_argument("--byok-secret", help="Secrets Manager id of the org's own key (JSON, see README)")

    usage = commands.add_parser("usage", help="a user's quota, allowance and daily usage for a month")
    usage.add_argument("--user", required=True, type=_identifier)
    usage.add_argument("--month", type=_month, help="default: this month (UTC)")

    errors = commands.add_parser("errors", help="the errors of an optimization run, from the functions' logs")
    errors.add_argument("--trace", required=True, help="the run's trace id")
    groups = errors.add_mutually_exclusive_group()
    groups.add_argument(
        "--stack",
        default=os.environ.get("STACK_NAME"),
        help="the stack whose function log groups to search (default: $STACK_NAME)",
    )
    groups.add_argument(
        "--log-group",
        action="append",
        dest="log_groups",
        metavar="NAME",
        help="a log group to search (repeatable), instead of the stack's",
    )
    errors.add_argument(
        "--since-hours",
        type=float,
        default=14 * 24,
        help="window when the trace's features item is gone (default: 14 days)",
    )
    return parser


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


def run(args: argparse.Namespace) -> int:
    keys, usage = KeyStore(), UsageStore()
    now = datetime.now(UTC)
    if args.command == "create-key":
        key, record = create_key(
            keys, user_id=args.user, org_id=args.org, plan=args.plan, privacy_mode=args.privacy, label=args.label
        )
        _print({"api_key": key, "key_id": record.key_id, "user_id": record.user_id, "plan": record.plan})
        print("Store the key now: it is not shown again.", file=sys.stderr)
    elif args.command == "list-keys":
        _print(
            [
                {
                    "key_id": k.key_id,
                    "status": k.status,
                    "plan": k.plan,
                    "org_id": k.org_id,
                    "privacy_mode": k.privacy_mode,
                    "label": k.label,
                    "created_at": k.created_at,
                }
                for k in keys.keys_of_user(args.user)
            ]
        )
    elif args.command == "revoke":
        matches = [k for k in keys.keys_of_user(args.user) if k.key_id == args.key_id]
        if not matches:
            print(f"no key {args.key_id} for user {args.user}", file=sys.stderr)
            return 1
        keys.set_key_status(matches[0].key_hash, REVOKED)
        print(f"revoked {args.key_id}; cached authorizations expire within the authorizer TTL", file=sys.stderr)
    elif args.command == "set-plan":
        user_keys = keys.keys_of_user(args.user)
        for record in user_keys:
            keys.set_key_plan(record.key_hash, args.plan)
        print(f"{len(user_keys)} key(s) of {args.user} now on plan {args.plan}", file=sys.stderr)
    elif args.command == "set-quota":
        keys.set_user_quota(args.user, None if args.unlimited else args.quota)
    elif args.command == "set-allowance":
        new_limit = None if args.unlimited else args.usd
        if args.user:
            keys.set_user_allowance(args.user, new_limit)
            usage.adjust_allowance_limit("USER", args.user, month_of(now), new_limit)
        else:
            keys.set_org_allowance(args.org, new_limit)
            usage.adjust_allowance_limit("ORG", args.org, month_of(now), new_limit)
    elif args.command == "set-org-llm":
        keys.set_org_llm(args.org, args.profile, args.byok_secret)
    elif args.command == "usage":
        _print(_usage_report(usage, args.user, args.month or month_of(now)))
    elif args.command == "errors":
        return _errors(args, now)
    return 0


def _errors(args: argparse.Namespace, now: datetime) -> int:
    import boto3

    from aiservice import run_errors
    from aiservice.store.features import FeaturesStore

    if not run_errors.TRACE_ID.fullmatch(args.trace):
        print("a trace id is 1-200 of letters, digits and . _ : @ + -", file=sys.stderr)
        return 2
    logs = boto3.client("logs", region_name=get_settings().aws_region)
    groups = args.log_groups or (run_errors.stack_log_groups(logs, args.stack) if args.stack else [])
    if not groups:
        print("no log groups to search: pass --stack NAME (or set STACK_NAME) or --log-group", file=sys.stderr)
        return 2
    item = FeaturesStore().get(args.trace)
    start, end = run_errors.window(item.get("created_at") if item else None, timedelta(hours=args.since_hours), now)
    errors = run_errors.run_errors(logs, args.trace, groups, start, end)
    _print(run_errors.report(args.trace, errors, start, end))
    return 0


def _usage_report(usage: UsageStore, user_id: str, month: str) -> dict[str, Any]:
    first = date.fromisoformat(f"{month}-01")
    days = [
        first + timedelta(days=offset) for offset in range(31) if (first + timedelta(days=offset)).month == first.month
    ]
    daily = [row for day in days if day <= datetime.now(UTC).date() for row in usage.daily_usage_of_user(user_id, day)]
    return {
        "user_id": user_id,
        "month": month,
        "optimizations": usage.quota_used(user_id, month),
        "allowance": usage.allowance("USER", user_id, month),
        "total_cost_usd": sum((Decimal(str(row["cost_usd"])) for row in daily), Decimal(0)),
        "daily": daily,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = args.endpoint_url
    if args.keys_table:
        os.environ["API_KEYS_TABLE"] = args.keys_table
    if args.usage_table:
        os.environ["USAGE_TABLE"] = args.usage_table
    if args.features_table:
        os.environ["FEATURES_TABLE"] = args.features_table
    get_settings.cache_clear()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
