"""End to end: the real codeflash client (build/codeflash-venv, `make install`; it drives JavaScript and TypeScript
projects too) optimizes examples/js-sorter (ESM JavaScript) and examples/ts-sorter (ESM TypeScript) against
`make run`'s stack (`python -m devserver run`: port 8000 for /ai/*, 3001 for /cfapi/*), the model scripted by each
example's model/ folder. The projects use vitest; their node_modules are build/js-client's (`make install`: the
npm packages `codeflash` 0.9.0, whose runtime the client's instrumented tests import, vitest and
@vitest/coverage-v8). It passes only if our /ai/testgen answers tests the client can instrument, run and cover,
and the client then verifies the candidate, finds it faster and rewrites the file.

About 1 to 2 minutes per project; CODEFLASH_LOOPING_TIME=1 keeps the client's benchmarking short.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

CODEFLASH = ROOT / "build/codeflash-venv/bin/codeflash"
NODE_MODULES = ROOT / "build/js-client/node_modules"
API_PORT, CFAPI_PORT = 8000, 3001  # the client's fixed local addresses (contract §1)
DEMO_KEY = "cf-local-demo-key"  # the devserver seeds it in its private store
CLI_TIMEOUT_S = 400
EXAMPLES = {
    "javascript": ("examples/js-sorter", "src/sorter.js"),
    "typescript": ("examples/ts-sorter", "src/sorter.ts"),
}


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {DEMO_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def _wait_ready(server: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the devserver exited with {server.returncode}:\n{log.read_text()[-5000:]}")
        try:
            if _get(f"http://127.0.0.1:{API_PORT}/healthcheck") == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        pytest.fail(f"no /healthcheck answer within {timeout_s} s:\n{log.read_text()[-5000:]}")
    # One authorized call first: the authorizer's cold start, with the client's three concurrent first requests
    # (optimize and two testgen) queued behind it, can exceed the devserver's 5 s authorizer limit (a 500).
    assert _get(f"http://127.0.0.1:{CFAPI_PORT}/cfapi/cli-get-user") == 200


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(language, the devserver's log): `make run` with the language's example model."""
    for needed, how in ((CODEFLASH, "run `make install`"), (NODE_MODULES / "codeflash", "run `make install`")):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: {how}")
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.fail("node and npx are missing: run `make install`")
    busy = [port for port in (API_PORT, CFAPI_PORT) if _port_in_use(port)]
    if busy:
        pytest.fail(f"ports {busy} are in use (another `make run`?): the codeflash client only talks to 8000/3001")
    folder, _ = EXAMPLES[request.param]
    log = tmp_path_factory.mktemp(f"cfrun-{request.param}") / "devserver.log"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "CODEFLASH_", "DEVSERVER_"))}  # fmt: skip
    # Its own in-memory DynamoDB (seeded with the demo key) and the scripted model, never real providers.
    env.update(DEVSERVER_LLM_SCRIPT=str(ROOT / folder / "model"), PYTHONUNBUFFERED="1")
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "devserver", "run", "--port", str(API_PORT), "--llm", "demo"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_ready(server, log)
        yield request.param, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
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


def _optimize(project: Path, home: Path, file: str) -> subprocess.CompletedProcess[str]:
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
        [str(CODEFLASH), "--file", file, "--function", "sortNumbers", "--no-pr"],
        cwd=project, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip


def _function(source: str, name: str) -> str:
    """The text of the top-level `export function name` up to the next top-level definition."""
    match = re.search(rf"^export function {name}\b.*?^}}$", source, re.DOTALL | re.MULTILINE)
    assert match, source
    return match.group(0)


def test_the_real_client_optimizes_the_example(example: tuple[str, Path], tmp_path: Path) -> None:
    language, log = example
    folder, file = EXAMPLES[language]
    project = _project(tmp_path, folder)
    original = (project / file).read_text()
    started = len(log.read_text().splitlines())
    run = _optimize(project, tmp_path / "home", file)
    output = run.stdout + run.stderr
    calls = [line for line in log.read_text().splitlines()[started:] if line.startswith(("POST ", "GET "))]
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
