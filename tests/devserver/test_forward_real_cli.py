"""Issue 14's end to end: the unmodified codeflash CLI (build/codeflash-venv, `make install`) runs through
aiservice-forward on its fixed local ports 8000/3001 to a "deployed" API (the local stack on another port, served
under its stage path as execute-api serves it), with the scripted model of examples/sorter, to the end of a run:
the candidate is found, verified and applied, and the forwarder's log never holds the key.

The stack, the forwarder and the CLI (forward_real_cli_driver.py) run in a private network namespace
(`unshare -rn`, its own loopback) when the machine allows one, so 8000/3001 never collide with another `make run`
or e2e test; otherwise on the host's loopback once those ports are free. About 1.5 to 3 minutes.
"""

from __future__ import annotations

import ast
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/sorter"
CODEFLASH = ROOT / "build/codeflash-venv/bin/codeflash"
DRIVER = Path(__file__).with_name("forward_real_cli_driver.py")
DEMO_KEY = "cf-local-demo-key"
PORTS = (8000, 3001)
PORT_WAIT_S = 300
RUN_TIMEOUT_S = 600


def _private_loopback() -> list[str] | None:
    """The command prefix that runs a command in a fresh network namespace with its loopback up, if possible."""
    ip = shutil.which("ip")
    if not (shutil.which("unshare") and ip):
        return None
    if subprocess.run(["unshare", "-rn", ip, "link", "set", "lo", "up"], capture_output=True).returncode != 0:
        return None
    return ["unshare", "-rn", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_free() -> None:
    deadline = time.monotonic() + PORT_WAIT_S
    while busy := [port for port in PORTS if _port_in_use(port)]:
        if time.monotonic() > deadline:
            pytest.fail(f"ports {busy} still in use after {PORT_WAIT_S} s, and no network namespace here")
        time.sleep(2)


def _project(tmp_path: Path) -> Path:
    """The example, without its model, as the git repository the client wants."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("model", "__pycache__", "*.pyc"))
    git = ["git", "-c", "user.name=codeflash-e2e", "-c", "user.email=e2e@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the example"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    return project


def _loops(source: str, name: str) -> int:
    function = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == name)
    return sum(isinstance(node, ast.For | ast.While) for node in ast.walk(function))


def test_the_real_cli_runs_through_the_forwarder_to_a_staged_api(tmp_path: Path) -> None:
    if not CODEFLASH.exists():
        pytest.fail(f"{CODEFLASH} is missing: run `make install`")
    project = _project(tmp_path)
    original = (project / "sorter/sorter.py").read_text()
    workdir = tmp_path / "run"
    workdir.mkdir()
    prefix = _private_loopback()
    if prefix is None:
        _wait_free()
    command = [*(prefix or []), sys.executable, str(DRIVER), str(workdir), str(project)]
    driver = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)

    def read(name: str) -> str:
        path = workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    outcome = json.loads(read("outcome.json") or "{}")
    forward_log, stack_log, output = read("forward.log"), read("stack.log"), read("cli.out")
    stack_lines = stack_log.splitlines()
    report = (
        f"driver exited {driver.returncode} ({'namespace' if prefix else 'host loopback'}): {outcome}\n"
        f"{driver.stdout[-2000:]}{driver.stderr[-2000:]}\n--- codeflash:\n{output[-10000:]}\n"
        f"--- forwarder:\n{forward_log[-4000:]}\n--- stack, without its INFO lines:\n"
        + "\n".join(line[:500] for line in stack_lines if not line.startswith(('{"level":"INFO"', '{"_aws"')))[-6000:]
    )
    assert driver.returncode == 0 and "error" not in outcome, report
    stage = outcome["api_url"].rsplit("/", 1)[1]

    assert outcome["cli_returncode"] == 0, report
    assert "Optimization successful! 📄 sort_list in" in output, report
    rewritten = (project / "sorter/sorter.py").read_text()
    assert _loops(original, "sort_list") == 2 and _loops(rewritten, "sort_list") == 0, rewritten

    # Every call went through the forwarder (its access lines), and reached the stack under its stage path.
    forwarded = [line.rsplit(" ", 1)[0] for line in forward_log.splitlines() if line.startswith(("POST ", "GET "))]
    served = [line.rsplit(" ", 1)[0] for line in stack_lines if line.startswith(("POST ", "GET "))]
    assert forwarded.count("POST /ai/testgen 200") == 2, report
    assert any(line.startswith("POST /cfapi/") for line in forwarded), report  # the CLI's port 3001 too
    assert served.count(f"POST /{stage}/ai/testgen 200") == 2, report
    assert outcome["forwarder_exit"] == 0, report  # it stopped cleanly on SIGTERM

    assert DEMO_KEY not in forward_log and "Bearer" not in forward_log, forward_log
