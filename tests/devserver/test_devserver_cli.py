"""`python -m devserver run|invoke` as a developer runs them: real processes, real signals."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.devserver.devserver_harness import FIXTURE_TEMPLATE, REPO_ROOT


def _environment() -> dict[str, str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environment.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # the command starts its own moto
    return environment


def _devserver(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002 - run's
    command = [sys.executable, "-m", "devserver", *args]
    return subprocess.run(
        command, cwd=REPO_ROOT, env=_environment(), capture_output=True, text=True, timeout=30, input=input
    )


def test_invoke_prints_the_handler_result(tmp_path: Path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"httpMethod": "GET", "path": "/healthcheck", "headers": None, "body": None}))
    done = _devserver("invoke", "HealthcheckFunction", str(event))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "ok"


def test_invoke_reports_a_function_error_on_stdout_and_logs_on_stderr():
    done = _devserver(
        "invoke", "BehaviourFunction", "-", "--template", str(FIXTURE_TEMPLATE), input=json.dumps({"path": "/raise"})
    )
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"errorType": "RuntimeError", "errorMessage": "the handler failed"}
    assert "Traceback" in done.stderr


def test_invoke_unknown_function():
    done = _devserver("invoke", "NoSuchFunction", "-", input="{}")
    assert done.returncode == 2
    assert "HealthcheckFunction" in done.stderr


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, ...; empty once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _children_of(pid: int) -> set[int]:
    return {int(path.name) for path in Path("/proc").glob("[0-9]*") if _stat(path.name)[1:2] == [str(pid)]}


def _alive(pid: int) -> bool:
    return _stat(pid)[:1] not in ([], ["Z"])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds worker processes through /proc")
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_the_api_and_stops_cleanly(stop_signal):
    process = subprocess.Popen(
        [sys.executable, "-m", "devserver", "run", "--port", "0"],
        cwd=REPO_ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    stdout, lines = process.stdout, queue.Queue[str]()
    threading.Thread(target=lambda: [*map(lines.put, stdout)], daemon=True).start()
    try:
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Ctrl-C"):
            banner.append(lines.get(timeout=20))
        found = re.search(r"http://127\.0\.0\.1:(\d+)", banner[0])
        assert found, banner
        port = int(found.group(1))
        assert any("/healthcheck" in line for line in banner)

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/healthcheck", headers={"Connection": "close"})
        assert connection.getresponse().status == 200
        connection.close()
        workers = _children_of(process.pid)
        assert workers  # at least the healthcheck's execution environment

        process.send_signal(stop_signal)
        assert process.wait(timeout=15) == 0
        # Workers and multiprocessing's resource tracker notice their parent is gone within moments.
        deadline = time.monotonic() + 5
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "orphaned worker processes"
        assert "GET /healthcheck 200" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
