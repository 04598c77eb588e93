"""End to end: the real codeflash client (build/codeflash-venv, `make install`) optimizes examples/sorter against
`make run`'s stack (`python -m devserver run`, port 8000 for /ai/*, 3001 for /cfapi/*), the model scripted by
examples/sorter/model. It passes only if our /ai/testgen answers tests the client can run and measure (contract
§5: plain tests measure 0 ns and the client gives up), and the client then finds, verifies and applies the faster
candidate: for a function and for a method.

The stack and the client share a private network namespace when the machine allows one (root with unshare), so
that the fixed ports never collide with another `make run`; else they use the host's loopback once 8000 and 3001
are free. About 2 to 3 minutes (the first run pays the functions' cold starts); CODEFLASH_LOOPING_TIME=1 keeps
the client's benchmarking short.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/sorter"
CODEFLASH = ROOT / "build/codeflash-venv/bin/codeflash"
API_PORT, CFAPI_PORT = 8000, 3001  # the client's fixed local addresses (contract §1)
CLI_TIMEOUT_S = 300
PORT_WAIT_S = 300


class _Loopback:
    """Where the stack listens and the client runs. A private network namespace when this machine allows one
    (root, `unshare`, `nsenter`, `ip`): its own loopback, so 8000/3001 never collide with another `make run` or
    e2e test on a shared host. Otherwise the host's loopback, once those ports are free."""

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


_PROBE = f"""
import sys, urllib.request
try:
    sys.exit(urllib.request.urlopen("http://127.0.0.1:{API_PORT}/healthcheck", timeout=2).status != 200)
except OSError:
    sys.exit(1)
"""


# An authenticated request the handler refuses (an empty body): it starts the authorizer, whose answer the gateway
# then caches for the key. Without it, the client's first three concurrent calls each wait for a cold authorizer,
# which on a loaded machine can take longer than the devserver allows it (5 s: a 500 for that call).
_WARM_UP = f"""
import sys, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1:{API_PORT}/ai/testgen", data=b"{{}}", method="POST",
                                 headers={{"Authorization": "Bearer cf-local-demo-key",
                                          "Content-Type": "application/json"}})
try:
    urllib.request.urlopen(request, timeout=30)
except urllib.error.HTTPError as refusal:
    sys.exit(refusal.code >= 500)
except OSError:
    sys.exit(1)
"""


def _wait_ready(server: subprocess.Popen[bytes], loopback: _Loopback, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    for probe in (_PROBE, _WARM_UP):
        while True:
            if server.poll() is not None:
                pytest.fail(f"the devserver exited with {server.returncode}:\n{log.read_text()[-5000:]}")
            if subprocess.run(loopback.client([sys.executable, "-c", probe]), capture_output=True).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the stack was not ready within {timeout_s} s:\n{log.read_text()[-5000:]}")
            time.sleep(0.5)


@dataclass
class _Stack:
    log: Path
    loopback: _Loopback


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Stack]:
    """`make run` with the example's scripted model."""
    if not CODEFLASH.exists():
        pytest.fail(f"{CODEFLASH} is missing: run `make install`")
    loopback = _Loopback()
    loopback.wait_free()
    log = tmp_path_factory.mktemp("cfrun-server") / "devserver.log"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "CODEFLASH_", "DEVSERVER_"))}  # fmt: skip
    # Its own in-memory DynamoDB (seeded with cf-local-demo-key) and the scripted model, never real providers.
    env.update(DEVSERVER_LLM_SCRIPT=str(EXAMPLE / "model"), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "devserver", "run", "--port", str(API_PORT), "--llm", "demo"]
    with log.open("wb") as output:
        server = subprocess.Popen(loopback.server(command), cwd=ROOT, env=env, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    loopback.server_pid = server.pid  # unshare and sh exec the devserver: the same process
    try:
        _wait_ready(server, loopback, log)
        yield _Stack(log, loopback)
    finally:
        server.terminate()  # the devserver stops its workers, moto and the fake LLM on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: this process group is only ours
            server.wait()


def _project(tmp_path: Path) -> Path:
    """The example, without its model, as the git repository the client wants."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("model", "__pycache__", "*.pyc"))
    git = ["git", "-c", "user.name=codeflash-e2e", "-c", "user.email=e2e@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the example"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)
    return project


def _optimize(stack: _Stack, project: Path, home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # the client appends its key to ~/.bashrc
        "CODEFLASH_AIS_SERVER": "local",
        "CODEFLASH_CFAPI_SERVER": "local",
        "CODEFLASH_API_KEY": "cf-local-demo-key",  # the devserver seeds it in its private store
        "CODEFLASH_LOOPING_TIME": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",  # blocks the client's version check; loopback stays direct
        "NO_PROXY": "localhost,127.0.0.1",
        "TERM": "dumb",
        "COLUMNS": "160",
    }
    return subprocess.run(
        stack.loopback.client([str(CODEFLASH), "--file", "sorter/sorter.py", "--no-pr", *arguments]),
        cwd=project, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip


def _find(source: str, qualified_name: str) -> ast.FunctionDef:
    scope: list[ast.stmt] = ast.parse(source).body
    *classes, name = qualified_name.split(".")
    for class_name in classes:
        scope = next(node for node in scope if isinstance(node, ast.ClassDef) and node.name == class_name).body
    return next(node for node in scope if isinstance(node, ast.FunctionDef) and node.name == name)


def _loops(source: str, qualified_name: str) -> int:
    """How many loops the function or method's body has in the file."""
    return sum(isinstance(node, ast.For | ast.While) for node in ast.walk(_find(source, qualified_name)))


def _definition(source: str, qualified_name: str) -> str:
    return ast.dump(_find(source, qualified_name))


@pytest.mark.parametrize(
    ("function", "untouched", "review"),
    [
        # With --testgen-review the scripted review flags a weak test in both files (/ai/testgen_review), the
        # client has them repaired (/ai/testgen_repair), re-runs them, and the second review passes.
        pytest.param("sort_list", "Sorter.sort", True, id="function, tests reviewed and repaired"),
        pytest.param("Sorter.sort", "sort_list", False, id="method"),
    ],
)
def test_the_real_client_optimizes_the_example(
    stack: _Stack, tmp_path: Path, function: str, untouched: str, review: bool
) -> None:
    project = _project(tmp_path)
    original = (project / "sorter/sorter.py").read_text()
    started = len(stack.log.read_text().splitlines())
    run = _optimize(stack, project, tmp_path / "home", "--function", function, *(["--testgen-review"] * review))
    output = run.stdout + run.stderr
    served = stack.log.read_text().splitlines()[started:]
    calls = [line.rsplit(" ", 1)[0] for line in served if line.startswith(("POST ", "GET "))]
    errors = [line[:2000] for line in served if not line.startswith(('{"level":"INFO"', '{"_aws"'))][-60:]
    report = (f"codeflash exited {run.returncode}; its output:\n{output[-12000:]}\n\nrequests to the stack:\n"
              + "\n".join(calls) + "\n\nthe stack's log, without its INFO lines:\n" + "\n".join(errors))  # fmt: skip

    assert run.returncode == 0, report
    assert f"Optimization successful! 📄 {function} in" in output, report
    assert calls.count("POST /ai/testgen 200") == 2, report
    assert "Generated Regression Tests - Passed: 0" not in output, report  # the instrumented tests ran
    if review:
        assert calls.count("POST /ai/testgen_review 200") == 2, report
        assert calls.count("POST /ai/testgen_repair 200") == 2, report
        assert "Repaired 2 test file(s)" in output and "All generated tests passed quality review" in output, report
    rewritten = (project / "sorter/sorter.py").read_text()
    # The scripted candidates replace the nested loops with the built-in sort; the other definition is untouched.
    assert _loops(original, function) == 2 and _loops(rewritten, function) == 0, rewritten
    assert _definition(rewritten, untouched) == _definition(original, untouched), rewritten
