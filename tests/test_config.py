from decimal import Decimal

import pytest
from pydantic import ValidationError

from aiservice.config import Settings


def test_defaults_match_the_template():
    settings = Settings.model_validate({})
    assert settings.rate_limit_max == 40
    assert settings.rate_limit_window_ms == 60_000
    assert settings.api_timeout_ms == 29_000
    assert settings.plan_quota("enterprise") is None


def test_limits_read_from_the_environment_and_unlimited_means_none():
    settings = Settings.model_validate(
        {
            "RATE_LIMIT_MAX": "7",
            "PLAN_MONTHLY_QUOTA_FREE": "3",
            "PLAN_MONTHLY_QUOTA_PRO": "unlimited",
            "PLAN_MONTHLY_ALLOWANCE_USD_FREE": "2.50",
            "UNRELATED": "ignored",
        }
    )
    assert settings.rate_limit_max == 7
    assert settings.plan_quota("free") == 3
    assert settings.plan_quota("pro") is None
    assert settings.plan_allowance_usd("free") == Decimal("2.50")


@pytest.mark.parametrize(
    "environ",
    [{"RATE_LIMIT_MAX": "0"}, {"RATE_LIMIT_MAX": "many"}, {"PLAN_MONTHLY_ALLOWANCE_USD_PRO": "-1"}],
)
def test_nonsense_configuration_fails_loudly(environ):
    with pytest.raises(ValidationError):
        Settings.model_validate(environ)
