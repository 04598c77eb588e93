"""The run behind test_forward_real_cli.py, as one process tree that can live in its own network namespace:

1. the local stack (`python -m devserver run --port 0 --stage-in-path`, the scripted model) as the "deployed" API,
   reached at http://127.0.0.1:<port>/<stage>;
2. `aiservice-forward --url http://127.0.0.1:<port>/<stage>` on the CLI's fixed ports 8000 and 3001;
3. the real codeflash CLI, CODEFLASH_AIS_SERVER=local and CODEFLASH_CFAPI_SERVER=local, so through the forwarder.

Usage: python forward_real_cli_driver.py WORKDIR PROJECT. Logs go to WORKDIR (stack.log, forward.log, cli.out) and
the outcome to WORKDIR/outcome.json; the exit status is 0 whenever the run could be made, whatever the CLI did.
Stdlib only: it runs before anything is imported from the project.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODEFLASH = ROOT / "build/codeflash-venv/bin/codeflash"
SCRIPT = ROOT / "examples/sorter/model"
DEMO_KEY = "cf-local-demo-key"  # the devserver seeds it; the forwarder must never write it down
AI_PORT, CFAPI_PORT = 8000, 3001
STARTUP_S = 120
CLI_TIMEOUT_S = 360


def _wait_for(pattern: str, log: Path, process: subprocess.Popen[bytes], count: int = 1) -> list[str]:
    deadline = time.monotonic() + STARTUP_S
    while len(found := re.findall(pattern, log.read_text(errors="replace"))) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{pattern!r} never showed in {log.name}:\n{log.read_text(errors='replace')[-5000:]}")
        time.sleep(0.2)
    return found


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is only its own processes
        process.wait()


def _warm_up() -> int:
    """An authenticated request the handler refuses (empty body), through the forwarder: it starts the authorizer,
    whose answer the gateway then caches, before the CLI's first three concurrent calls."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{AI_PORT}/ai/testgen",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {DEMO_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refusal:
        return refusal.code


def main(workdir: Path, project: Path) -> int:
    scrubbed = ("AWS_", "CODEFLASH_", "DEVSERVER_")  # its own in-memory DynamoDB and scripted model, never real ones
    clean = {name: value for name, value in os.environ.items() if not name.startswith(scrubbed)}
    stack_log, forward_log, cli_out = workdir / "stack.log", workdir / "forward.log", workdir / "cli.out"
    outcome: dict[str, object] = {}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        stack_env = {**clean, "DEVSERVER_LLM_SCRIPT": str(SCRIPT), "PYTHONUNBUFFERED": "1"}
        stack_command = [sys.executable, "-m", "devserver", "run", "--port", "0", "--cfapi-port", "-1"]
        processes.append(_start([*stack_command, "--stage-in-path", "--llm", "demo"], stack_log, stack_env))
        (api_url,) = _wait_for(r"devserver: stage \w+ on (http://127\.0\.0\.1:\d+/[^\s,]+)", stack_log, processes[0])
        outcome["api_url"] = api_url

        forward_command = [sys.executable, "-m", "devserver.forward", "--url", api_url]
        processes.append(_start(forward_command, forward_log, {**clean, "PYTHONUNBUFFERED": "1"}))
        _wait_for(r"aiservice-forward: (?:ai|cfapi) on http://127\.0\.0\.1:(?:8000|3001)", forward_log, processes[1], 2)
        outcome["warm_up_status"] = _warm_up()

        home = workdir / "home"
        home.mkdir(exist_ok=True)
        cli_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),  # the client appends its key to ~/.bashrc
            "CODEFLASH_AIS_SERVER": "local",
            "CODEFLASH_CFAPI_SERVER": "local",
            "CODEFLASH_API_KEY": DEMO_KEY,
            "CODEFLASH_LOOPING_TIME": "1",  # keeps the client's benchmarking short
            "HTTPS_PROXY": "http://127.0.0.1:9",  # blocks the client's version check; loopback stays direct
            "NO_PROXY": "localhost,127.0.0.1",
            "TERM": "dumb",
            "COLUMNS": "160",
        }
        cli_command = [str(CODEFLASH), "--file", "sorter/sorter.py", "--function", "sort_list", "--no-pr"]
        started = time.monotonic()
        try:
            run = subprocess.run(
                cli_command, cwd=project, env=cli_env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
            )
            outcome["cli_returncode"] = run.returncode
            cli_out.write_text(run.stdout + run.stderr)
        except subprocess.TimeoutExpired as expired:
            outcome["cli_returncode"] = "timeout"
            cli_out.write_text(str(expired.stdout or "") + str(expired.stderr or ""))
        outcome["cli_seconds"] = round(time.monotonic() - started, 1)
    except Exception as error:  # noqa: BLE001 - reported to the test, which shows the logs
        outcome["error"] = f"{type(error).__name__}: {error}"
    finally:
        for process in reversed(processes):  # the forwarder first, then the stack (workers, moto, the model)
            _stop(process)
        outcome["forwarder_exit"] = processes[1].returncode if len(processes) > 1 else None
        (workdir / "outcome.json").write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
