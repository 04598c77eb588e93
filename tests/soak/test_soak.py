"""The fault soak (bench/soak.py) in small: 40 /ai/optimize requests from 8 concurrent clients through `make run`'s
stack (`python -m devserver run`), the scripted model of tests/soak/model failing 30 % of the provider calls
(seeded), a user and an org with $3.00 allowances: less than eight requests' worst case, so 402s come as well.

About two to four minutes (warm-up included); bench/soak.py runs the 200 requests of BENCHMARKS.md.
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _soak_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench/soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_fault_soak_loses_no_record_and_holds_no_money(tmp_path):
    soak_module = _soak_module()
    soak = soak_module.run_soak(40, 8, 3, Decimal("3.00"), log_path=tmp_path / "stack.log")
    print(soak_module.report(soak))

    assert soak.problems() == []  # every property below, named when one fails
    # Statuses: only the mapped ones, every answer a JSON {"error"} otherwise, every request answered.
    assert set(soak.statuses) <= {200, 402, 502, 504} and sum(soak.statuses.values()) == 40
    assert soak.statuses[200] > 0 and not soak.not_json_errors and not soak.connection_errors
    # Faults were injected, and of several kinds.
    assert sum(soak.faults.values()) > 0 and len(soak.faults) >= 3
    # No record lost: the billed attempts the workers logged are the daily aggregates, to the last digit.
    assert soak.billed_attempts == soak.aggregate_calls > 0
    assert soak.billed_usd == soak.aggregate_usd > 0
    # Nothing held, allowances exact.
    for item in soak.allowances.values():
        assert Decimal(item["reserved_usd"]) == 0 and item["reservations"] == 0
        assert Decimal(item["limit_usd"]) - Decimal(item["spent_usd"]) == Decimal(item["headroom_usd"])
        assert Decimal(item["spent_usd"]) == soak.aggregate_usd
    assert soak.markers_left == 0
