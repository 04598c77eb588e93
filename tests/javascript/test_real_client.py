"""End to end: the real codeflash client (build/codeflash-venv, `make install`; it drives JavaScript and TypeScript
projects too) optimizes examples/js-sorter (ESM JavaScript) and examples/ts-sorter (ESM TypeScript) against
`make run`'s stack (`python -m devserver run`: port 8000 for /ai/*, 3001 for /cfapi/*), the model scripted by each
example's model/ folder. The projects use vitest; their node_modules are build/js-client's (`make install`: the
npm packages `codeflash` 0.9.0, whose runtime the client's instrumented tests import, vitest and
@vitest/coverage-v8). It passes only if our /ai/testgen answers tests the client can instrument, run and cover,
and the client then verifies the candidate, finds it faster and rewrites the file.

The stack and the client share a private network namespace when the machine allows one (root with unshare), so
that the fixed ports never collide with another `make run`; else they use the host's loopback once 8000 and 3001
are free. About 1.5 to 2 minutes per project; CODEFLASH_LOOPING_TIME=1 keeps the client's benchmarking short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

CODEFLASH = ROOT / "build/codeflash-venv/bin/codeflash"
NODE_MODULES = ROOT / "build/js-client/node_modules"
API_PORT, CFAPI_PORT = 8000, 3001  # the client's fixed local addresses (contract §1)
DEMO_KEY = "cf-local-demo-key"  # the devserver seeds it in its private store
CLI_TIMEOUT_S = 400
READY_S = 120
PORT_WAIT_S = 300
EXAMPLES = {
    "javascript": ("examples/js-sorter", "src/sorter.js"),
    "typescript": ("examples/ts-sorter", "src/sorter.ts"),
}


class _Loopback:
    """Where the stack listens and the client runs. A private network namespace when this machine allows one
    (root, `unshare`, `nsenter`, `ip`): its own loopback, so 8000/3001 never collide with another `make run` or
    e2e test on a shared host. Otherwise the host's loopback, once those ports are free. (The same as
    tests/testgen/test_real_client.py's.)"""

    def __init__(self) -> None:
        tools = [shutil.which(tool) for tool in ("unshare", "nsenter", "ip")]
        self.ip = tools[2]
        self.private = (
            os.geteuid() == 0
            and all(tools)
            and subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0
        )
        self.server_pid: int | None = None

    def server(self, command: list[str]) -> list[str]:
        if not self.private:
            return command
        return ["unshare", "--net", "sh", "-c", f'{self.ip} link set lo up && exec "$@"', "sh", *command]

    def client(self, command: list[str]) -> list[str]:
        if not self.private:
            return command
        assert self.server_pid is not None
        return ["nsenter", f"--net=/proc/{self.server_pid}/ns/net", "--", *command]

    def wait_free(self) -> None:
        if self.private:
            return
        deadline = time.monotonic() + PORT_WAIT_S
        while busy := [port for port in (API_PORT, CFAPI_PORT) if _port_in_use(port)]:
            if time.monotonic() > deadline:
                pytest.fail(f"ports {busy} still in use after {PORT_WAIT_S} s (another `make run`?)")
            time.sleep(2)


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# Requests [(url, JSON body or None for a GET), ...] made one by one where the stack listens; exits non-zero with
# the reason at the first that is not a 200.
_REQUESTS = f"""
import json, sys, urllib.request
for url, body in json.loads(sys.argv[1]):
    data = None if body is None else json.dumps(body).encode()
    headers = {{"Authorization": "Bearer {DEMO_KEY}", "Content-Type": "application/json"}}
    try:
        status = urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=60).status
    except OSError as error:
        sys.exit(f"{{url}}: {{error}}")
    if status != 200:
        sys.exit(f"{{url}}: {{status}}")
"""


def _requests(loopback: _Loopback, requests: list[tuple[str, dict[str, object] | None]]) -> str:
    """What went wrong, or "" when every request answered 200."""
    command = loopback.client([sys.executable, "-c", _REQUESTS, json.dumps(requests)])
    done = subprocess.run(command, capture_output=True, text=True)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def _warm_up(language: str) -> list[tuple[str, dict[str, object] | None]]:
    """The client's first three requests (optimize, and two testgen) go out at once, and each function's first
    request pays its cold start (the authorizer's included, which the devserver allows 5 s): on a loaded machine
    they overran API Gateway's 29 s (a 504, "no optimizations generated"). So one of each first, one by one."""
    folder, file = EXAMPLES[language]
    block = f"```{language}:{file}\n{(ROOT / folder / file).read_text()}\n```"
    common: dict[str, object] = {"trace_id": str(uuid.uuid4()), "language": language, "language_version": "20"}
    testgen: dict[str, object] = {
        **common, "source_code_being_tested": block, "module_path": "../src/sorter.js", "module_system": "esm",
        "test_module_path": "tests/warm_up.test.js", "test_framework": "vitest", "qualified_name": "sortNumbers",
    }  # fmt: skip
    return [
        (f"http://127.0.0.1:{CFAPI_PORT}/cfapi/cli-get-user", None),
        (f"http://127.0.0.1:{API_PORT}/ai/optimize", {**common, "source_code": block, "n_candidates": 1}),
        (f"http://127.0.0.1:{API_PORT}/ai/testgen", testgen),
    ]


def _wait_ready(server: subprocess.Popen[bytes], loopback: _Loopback, log: Path, language: str) -> None:
    deadline = time.monotonic() + READY_S
    while problem := _requests(loopback, [(f"http://127.0.0.1:{API_PORT}/healthcheck", None)]):
        if server.poll() is not None:
            pytest.fail(f"the devserver exited with {server.returncode}:\n{log.read_text()[-5000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no /healthcheck answer within {READY_S} s ({problem}):\n{log.read_text()[-5000:]}")
        time.sleep(0.5)
    if problem := _requests(loopback, _warm_up(language)):
        pytest.fail(f"the warm-up failed: {problem}\n{log.read_text()[-5000:]}")


@dataclass
class _Stack:
    language: str
    log: Path
    loopback: _Loopback


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Stack]:
    """`make run` with the language's example model."""
    for needed in (CODEFLASH, NODE_MODULES / "codeflash"):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run `make install`")
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.fail("node and npx are missing: run `make install`")
    language = request.param
    loopback = _Loopback()
    loopback.wait_free()
    log = tmp_path_factory.mktemp(f"cfrun-{language}") / "devserver.log"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "CODEFLASH_", "DEVSERVER_"))}  # fmt: skip
    # Its own in-memory DynamoDB (seeded with the demo key) and the scripted model, never real providers.
    env.update(DEVSERVER_LLM_SCRIPT=str(ROOT / EXAMPLES[language][0] / "model"), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "devserver", "run", "--port", str(API_PORT), "--llm", "demo"]
    with log.open("wb") as output:
        server = subprocess.Popen(loopback.server(command), cwd=ROOT, env=env, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    loopback.server_pid = server.pid  # unshare and sh exec the devserver: the same process
    try:
        _wait_ready(server, loopback, log, language)
        yield _Stack(language, log, loopback)
    finally:
        server.terminate()  # the devserver stops its workers, moto and the fake LLM on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: this process group is only ours
            server.wait()


def _project(tmp_path: Path, folder: str) -> Path:
    """The example without its model, with build/js-client's packages, as the git repository the client wants."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / folder, project, ignore=shutil.ignore_patterns("model", "node_modules"))
    (project / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    (project / ".gitignore").write_text("node_modules\n")
    git = ["git", "-c", "user.name=codeflash-e2e", "-c", "user.email=e2e@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the example"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    return project


def _optimize(stack: _Stack, project: Path, home: Path, file: str) -> subprocess.CompletedProcess[str]:
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # the client appends its key to ~/.bashrc
        "CODEFLASH_AIS_SERVER": "local",
        "CODEFLASH_CFAPI_SERVER": "local",
        "CODEFLASH_API_KEY": DEMO_KEY,
        "CODEFLASH_LOOPING_TIME": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",  # blocks the client's version check; loopback stays direct
        "NO_PROXY": "localhost,127.0.0.1",
        "TERM": "dumb",
        "COLUMNS": "160",
    }
    return subprocess.run(
        stack.loopback.client([str(CODEFLASH), "--file", file, "--function", "sortNumbers", "--no-pr"]),
        cwd=project, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip


def _function(source: str, name: str) -> str:
    """The text of the top-level `export function name` up to the next top-level definition."""
    match = re.search(rf"^export function {name}\b.*?^}}$", source, re.DOTALL | re.MULTILINE)
    assert match, source
    return match.group(0)


def test_the_real_client_optimizes_the_example(stack: _Stack, tmp_path: Path) -> None:
    folder, file = EXAMPLES[stack.language]
    project = _project(tmp_path, folder)
    original = (project / file).read_text()
    started = len(stack.log.read_text().splitlines())
    run = _optimize(stack, project, tmp_path / "home", file)
    output = run.stdout + run.stderr
    calls = [line for line in stack.log.read_text().splitlines()[started:] if line.startswith(("POST ", "GET "))]
    report = (f"codeflash exited {run.returncode}; its output:\n{output[-12000:]}\n\nrequests to the stack:\n"
              + "\n".join(calls))  # fmt: skip

    assert run.returncode == 0, report
    assert f"Optimization successful! 📄 sortNumbers in {project / file}" in output, report
    assert sum(line.startswith("POST /ai/testgen 200") for line in calls) == 2, report
    assert "Generated Regression Tests - Passed: 10, Failed: 0" in output, report  # both files ran, uninstrumented
    assert "Main Function: sortNumbers: 100.00%" in output, report  # the tests cover the function
    assert any(line.startswith("POST /cfapi/mark-as-success 200") for line in calls), report
    rewritten = (project / file).read_text()
    # The scripted candidates replace the nested loops with the built-in sort; the other function is untouched.
    assert _function(original, "sortNumbers").count("for (") == 2, original
    assert _function(rewritten, "sortNumbers").count("for (") == 0, rewritten
    assert "sort((a, b) => a - b)" in _function(rewritten, "sortNumbers"), rewritten
    assert _function(rewritten, "largest") == _function(original, "largest"), rewritten
