"""The operator CLI end to end against the moto tables (same code path as against real DynamoDB)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aiservice.access import resolve_principal
from aiservice.admin import main
from aiservice.apikeys import hash_key
from aiservice.config import get_settings
from aiservice.store.keys import KeyStore
from aiservice.store.usage import Admission, UsageLine, UsageStore, month_of


def admin(capsys, *argv: str):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_create_list_revoke(settings_env, user_id, capsys):
    code, created, err = admin(
        capsys, "create-key", "--user", user_id, "--org", "acme", "--plan", "pro", "--label", "ci"
    )
    assert code == 0 and "not shown again" in err
    key = created["api_key"]
    record = KeyStore().get_key(hash_key(key))
    assert record is not None
    assert (record.user_id, record.org_id, record.plan, record.status) == (user_id, "acme", "pro", "active")

    _, listed, _ = admin(capsys, "list-keys", "--user", user_id)
    assert [entry["key_id"] for entry in listed] == [created["key_id"]]
    assert key not in json.dumps(listed)

    assert admin(capsys, "revoke", "--user", user_id, "--key-id", created["key_id"])[0] == 0
    revoked = KeyStore().get_key(hash_key(key))
    assert revoked is not None and revoked.status == "revoked"
    assert admin(capsys, "revoke", "--user", user_id, "--key-id", "0000")[0] == 1


def test_plan_quota_and_allowances_shape_the_principal(settings_env, user_id, capsys):
    _, created, _ = admin(capsys, "create-key", "--user", user_id, "--org", f"org-{user_id}")
    admin(capsys, "set-plan", "--user", user_id, "--plan", "pro")
    admin(capsys, "set-quota", "--user", user_id, "--quota", "7")
    admin(capsys, "set-allowance", "--org", f"org-{user_id}", "--usd", "12.5")
    admin(capsys, "set-allowance", "--user", user_id, "--unlimited")

    keys = KeyStore()
    record = keys.get_key(hash_key(created["api_key"]))
    assert record is not None
    principal = resolve_principal(record, *keys.account_limits(user_id, record.org_id), get_settings())
    assert principal.plan == "pro"
    assert principal.monthly_quota == 7
    assert principal.user_allowance_usd is None
    assert principal.org_allowance_usd == Decimal("12.5")


def test_lowering_an_allowance_applies_to_the_month_under_way(settings_env, user_id, capsys):
    store = UsageStore()
    ask = Admission(
        user_id=user_id,
        org_id=None,
        trace_id=None,
        estimate_usd=Decimal("1"),
        counts_toward_quota=False,
        monthly_quota=None,
        user_allowance_usd=Decimal("5"),
        org_allowance_usd=None,
    )
    store.settle(store.admit(ask), [UsageLine(model="m", call_type="t", cost_usd=Decimal("1"))])
    admin(capsys, "set-allowance", "--user", user_id, "--usd", "1.5")
    allowance = store.allowance("USER", user_id, month_of(datetime.now(UTC)))
    assert allowance is not None
    assert (allowance["limit_usd"], allowance["headroom_usd"]) == (Decimal("1.5"), Decimal("0.5"))


def test_usage_report(settings_env, user_id, capsys):
    store = UsageStore()
    ask = Admission(
        user_id=user_id,
        org_id=None,
        trace_id="t-1",
        estimate_usd=Decimal("0.5"),
        counts_toward_quota=True,
        monthly_quota=10,
        user_allowance_usd=Decimal("5"),
        org_allowance_usd=None,
    )
    store.settle(
        store.admit(ask),
        [
            UsageLine(
                model="gpt-5-mini",
                call_type="optimize",
                cost_usd=Decimal("0.125"),
                tokens={"input_tokens": 1000, "output_tokens": 50},
            )
        ],
    )
    _, report, _ = admin(capsys, "usage", "--user", user_id)
    assert report["optimizations"] == 1
    assert Decimal(report["total_cost_usd"]) == Decimal("0.125")
    assert report["allowance"]["spent_usd"] == "0.125"
    assert [(row["model"], row["input_tokens"]) for row in report["daily"]] == [("gpt-5-mini", 1000)]


@pytest.mark.parametrize(
    "argv",
    [
        ["create-key", "--user", "has#hash"],
        ["create-key", "--user", "u", "--plan", "platinum"],
        ["set-allowance", "--user", "u", "--usd", "-3"],
        ["set-allowance", "--user", "u", "--usd", "NaN"],
        ["usage", "--user", "u", "--month", "2026-13"],
    ],
)
def test_bad_arguments_are_refused_before_any_write(settings_env, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
