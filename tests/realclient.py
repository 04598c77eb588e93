"""The real codeflash client against `make run`'s stack: what the end-to-end tests share with `make demo`.

The client (build/codeflash-venv, made by `make install`; pytest<9 there) talks only to http://localhost:8000
(/ai/*) and http://localhost:3001 (/cfapi/*) with CODEFLASH_AIS_SERVER=local and CODEFLASH_CFAPI_SERVER=local,
so these tests take those ports; the stack is `python -m devserver run` with a scripted model (a folder of
replies, devserver/fakellm/scripted.py) and its own in-memory DynamoDB seeded with cf-local-demo-key. Starting it
and running the client is devserver.demo's (`make demo` runs the same code): here only its failures become the
tests' failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from devserver import demo
from devserver.demo import API_PORT, CFAPI_PORT, CODEFLASH_VENV, DEMO_KEY, ROOT, RunningStack

__all__ = [
    "API_PORT",
    "CFAPI_PORT",
    "CODEFLASH_VENV",
    "DEMO_KEY",
    "ROOT",
    "client_env",
    "client_python",
    "demo_stack",
    "running_stack",
]


def client_python() -> Path:
    python = CODEFLASH_VENV / "bin/python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make install` (it installs the codeflash client there)")
    return python


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """What the client needs to run offline against the local stack; HOME apart (it appends its key to
    ~/.bashrc)."""
    return demo.client_env(home, **extra)


@contextmanager
def demo_stack(
    log: Path,
    script: Path = demo.SCRIPT,
    *,
    private: bool | None = None,
    port_wait_s: float = 0,
    ready_timeout_s: float = 120,
) -> Iterator[RunningStack]:
    """devserver.demo.running_stack (the stack `make demo` runs), a test failure when it cannot start."""
    with ExitStack() as cleanup:
        try:
            stack = cleanup.enter_context(
                demo.running_stack(
                    log, script, private=private, port_wait_s=port_wait_s, ready_timeout_s=ready_timeout_s
                )
            )
        except demo.DemoError as error:
            pytest.fail(str(error))
        yield stack


@contextmanager
def running_stack(script: Path, log: Path, timeout_s: float = 90) -> Iterator[Path]:
    """`make run` on the host's 8000/3001 with the scripted model in `script`; yields the log file."""
    with demo_stack(log, script, private=False, ready_timeout_s=timeout_s) as stack:
        yield stack.log
