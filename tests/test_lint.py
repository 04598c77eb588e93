"""Lint, format and type checks at zero findings: ruff check, ruff format --check and mypy over the project, with
the rules in pyproject.toml ([tool.ruff], [tool.mypy]), as `make lint` runs them. A finding anywhere fails the
suite, except in the files of NOT_YET_CLEAN."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Files whose findings work in progress elsewhere has not cleared yet (issue 16). Remove each as it gets clean;
# once the set is empty every tool must exit 0 here, and `make test` depends on `make lint`.
NOT_YET_CLEAN = frozenset(
    {
        "bench/report_memory.py",
        "devserver/cli.py",
        "functions/authorizer/app.py",
        "layers/common/aiservice/access.py",
        "layers/common/aiservice/http.py",
        "tests/devserver/fixtures/functions/authorizer/app.py",
        "tests/devserver/fixtures/functions/echo/app.py",
        "tests/devserver/test_devserver_authorizer.py",
        "tests/devserver/test_devserver_cli.py",
        "tests/devserver/test_devserver_dynamo.py",
        "tests/devserver/test_devserver_forward.py",
        "tests/devserver/test_devserver_front.py",
        "tests/devserver/test_devserver_gateway.py",
        "tests/devserver/test_devserver_template.py",
        "tests/pipelines/client_calls.py",
        "tests/pipelines/harness.py",
        "tests/report/conftest.py",
        "tests/test_authorizer_policy.py",
    }
)

# Each tool, and how its finding lines name the file (ruff: path:line:col: CODE ..., mypy: path:line: error: ...).
CHECKS = {
    "ruff check": (("ruff", "check", "--output-format", "concise", "."), r"(.+?):\d+:\d+: [A-Z]+\d+ "),
    "ruff format": (("ruff", "format", "--check", "--output-format", "concise", "."), r"(.+?):\d+:\d+: unformatted:"),
    "mypy": (("mypy",), r"(.+?):\d+: error:"),
}

pytestmark = pytest.mark.slow  # mypy over the project: ~30 s from a cold cache, a few seconds warm


@pytest.mark.parametrize("check", list(CHECKS))
def test_no_finding(check: str) -> None:
    command, finding = CHECKS[check]
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    report = result.stdout + result.stderr
    assert result.returncode in (0, 1), f"{check} did not run:\n{report}"  # 2: bad configuration or a crash
    found = [(match[1], line) for line in result.stdout.splitlines() if (match := re.match(finding, line))]
    new = [line for path, line in found if path not in NOT_YET_CLEAN]
    assert new == [], f"{check}: {len(new)} finding(s):\n" + "\n".join(new)
    if not NOT_YET_CLEAN:
        assert result.returncode == 0, report
