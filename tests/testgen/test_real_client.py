"""End to end: the real codeflash client (build/codeflash-venv, `make install`) optimizes examples/sorter against
`make run`'s stack (`python -m devserver run`, port 8000 for /ai/*, 3001 for /cfapi/*), the model scripted by
examples/sorter/model. It passes only if our /ai/testgen answers tests the client can run and measure (contract
§5: plain tests measure 0 ns and the client gives up), and the client then finds, verifies and applies the faster
candidate: for a function and for a method.

Starting the stack and running the client is devserver.demo's, the code `make demo` runs; the last test runs
the demo itself on this module's stack, so the demo cannot rot unnoticed. The stack and the client share a
private network namespace when the machine allows one (root with unshare), so that the fixed ports never collide
with another `make run`; else they use the host's loopback once 8000 and 3001 are free. About 3 minutes (three
client runs; the first pays the functions' cold starts); CODEFLASH_LOOPING_TIME=1 keeps the client's
benchmarking short.
"""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from devserver.demo import DemoError, RunningStack, codeflash_cli, copy_project, demo, run_cli
from tests.realclient import demo_stack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/sorter"
PORT_WAIT_S = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`make run` with the example's scripted model, as `make demo` starts it."""
    try:
        codeflash_cli()
    except DemoError as error:
        pytest.fail(str(error))
    log = tmp_path_factory.mktemp("cfrun-server") / "devserver.log"
    with demo_stack(log, EXAMPLE / "model", port_wait_s=PORT_WAIT_S) as running:
        yield running


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
    stack: RunningStack, tmp_path: Path, function: str, untouched: str, review: bool
) -> None:
    project = copy_project(tmp_path / "project", EXAMPLE)
    original = (project / "sorter/sorter.py").read_text()
    started = len(stack.lines())
    run = run_cli(stack, project, tmp_path / "home", "--function", function, *(["--testgen-review"] * review))
    output = run.stdout + run.stderr
    served = stack.lines(started)
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


def test_the_demo_prints_the_optimization_its_diff_and_its_cost(
    stack: RunningStack, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make demo`'s program (devserver.demo) on this module's stack: its summary ends with the CLI's success
    line, shows the diff the client wrote and the cost the service recorded for the run."""
    out = io.StringIO()
    status = demo(stack, out=out)
    printed = out.getvalue()
    report = f"the demo returned {status}; it printed:\n{printed}\n{capsys.readouterr().err}\n\n{stack.tail()}"

    assert status == 0, report
    assert printed.rstrip().splitlines()[-1].startswith("⚡️ Optimization successful! 📄 sort_list in"), report
    diff = printed.split("── the diff it wrote (git diff)", 1)[1].split("\n── ", 1)[0]
    assert "+++ b/sorter/sorter.py" in diff and "\n-        for j in range(n - 1):" in diff, report
    cost = re.search(r"── the cost the service recorded: \$(\d+\.\d+)", printed)
    assert cost and Decimal(cost[1]) > 0, report
    assert "candidate 1" in printed and "def test_" in printed and "Speedup ratio: " in printed, report
    # the trace's features show the run: counted as one, found an optimization (mark-as-success through :3001),
    # its exact cost settled onto it
    recorded = re.search(
        r"trace \S+: (\d+) /ai/optimize request\(s\), optimization found: (\w+).*, cost \$(\S+)", printed
    )
    assert recorded and recorded[1] == "1" and recorded[2] == "yes" and Decimal(recorded[3]) > 0, report
