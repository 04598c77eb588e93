"""The real codeflash client against `make run`'s stack: what the end-to-end tests share.

The client (build/codeflash-venv, made by `make install`; pytest<9 there) talks only to http://localhost:8000
(/ai/*) and http://localhost:3001 (/cfapi/*) with CODEFLASH_AIS_SERVER=local and CODEFLASH_CFAPI_SERVER=local,
so these tests take those ports; the stack is `python -m devserver run` with a scripted model (a folder of
replies, devserver/fakellm/scripted.py) and its own in-memory DynamoDB seeded with cf-local-demo-key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODEFLASH_VENV = ROOT / "build/codeflash-venv"
API_PORT, CFAPI_PORT = 8000, 3001  # the client's fixed local addresses (contract §1)
DEMO_KEY = "cf-local-demo-key"


def client_python() -> Path:
    python = CODEFLASH_VENV / "bin/python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make install` (it installs the codeflash client there)")
    return python


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """What the client needs to run offline against the local stack; HOME apart (it appends its key to
    ~/.bashrc)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEFLASH_AIS_SERVER": "local",
        "CODEFLASH_CFAPI_SERVER": "local",
        "CODEFLASH_API_KEY": DEMO_KEY,
        "HTTPS_PROXY": "http://127.0.0.1:9",  # blocks the client's version check; loopback stays direct
        "NO_PROXY": "localhost,127.0.0.1",
        "TERM": "dumb",
        "COLUMNS": "160",
        **extra,
    }


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_stack(script: Path, log: Path, timeout_s: float = 90) -> Iterator[Path]:
    """`make run` on 8000/3001 with the scripted model in `script`; yields the log file."""
    busy = [port for port in (API_PORT, CFAPI_PORT) if _port_in_use(port)]
    if busy:
        pytest.fail(f"ports {busy} are in use (another `make run`?): the codeflash client only talks to 8000/3001")
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CODEFLASH_", "DEVSERVER_"))
    }
    env.update(DEVSERVER_LLM_SCRIPT=str(script), PYTHONUNBUFFERED="1")
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "devserver", "run", "--port", str(API_PORT), "--llm", "demo"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(server, log, timeout_s)
        yield log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_healthy(server: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the devserver exited with {server.returncode}:\n{log.read_text()[-5000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{API_PORT}/healthcheck", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"no /healthcheck answer within {timeout_s} s:\n{log.read_text()[-5000:]}")
