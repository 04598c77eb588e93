"""`python -m devserver run` (what `make run` runs) as a subprocess, for the tests that need the whole local
stack on real sockets: the real codeflash client and schemathesis."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LLM_SCRIPT = Path(__file__).parent / "fixtures/llm_script"


@dataclass
class LocalStack:
    base_url: str
    dynamodb_url: str | None
    output: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def running_stack(
    log_dir: Path,
    *,
    command: list[str] | None = None,
    port: int | None = None,
    cfapi_port: int = -1,
    parameter_overrides: tuple[str, ...] = (),
    timeout_s: float = 120,
) -> Iterator[LocalStack]:
    """The local stack with the scripted model (tests/judgement/fixtures/llm_script) standing in for the LLM
    providers, until the block ends; then its whole process group is stopped (its workers and moto included)."""
    port = port or free_port()
    output = log_dir / f"devserver-{port}.log"
    env = {**os.environ, "DEVSERVER_LLM_SCRIPT": str(LLM_SCRIPT), "PYTHONUNBUFFERED": "1"}
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AZURE_OPENAI_ENDPOINT", "BEDROCK_BASE_URL", "AWS_PROFILE",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # fmt: skip
        env.pop(name, None)
    argv = command or [sys.executable, "-m", "devserver", "run", "--port", str(port), "--cfapi-port", str(cfapi_port)]
    if parameter_overrides:
        argv = [*argv, "--parameter-overrides", *parameter_overrides]
    with output.open("w") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        text = ""
        while "Ctrl-C to stop." not in text:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start (exit {process.returncode}):\n{output.read_text()}")
            time.sleep(0.2)
            text = output.read_text()
        moto = re.search(r"in-memory moto at (http://\S+),", text)
        yield LocalStack(f"http://127.0.0.1:{port}", moto.group(1) if moto else None, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # the group this test started, by its id
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
