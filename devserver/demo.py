"""`make demo`: the real codeflash CLI optimizes examples/sorter against the local stack, offline, and this prints
what happened: the candidates the service returned, the generated tests, the speedup the CLI measured, the diff
it wrote and the cost the service recorded.

    python -m devserver.demo [--verbose]

The example (a slow function, no tests) is copied, without its model/, to a temporary git repository; the stack
is `python -m devserver run --port 8000 --llm demo` with the scripted model of examples/sorter/model (plain reply
files, what a model might answer to each prompt); the CLI is the unmodified `codeflash` of build/codeflash-venv
(`make demo` installs it), run with `--no-pr`. The CLI only talks to localhost:8000 and :3001, so where this
machine allows it (root, `unshare`, `nsenter`, `ip`) the stack and the CLI share a private network namespace and
those ports never collide with another `make run`; elsewhere the host's ports must be free.

The same functions start the stack and run the CLI for the suite's real-CLI tests (tests/testgen/
test_real_client.py, tests/realclient.py), so the demo cannot rot unnoticed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/sorter"
SCRIPT = EXAMPLE / "model"
CODEFLASH_VENV = ROOT / "build/codeflash-venv"
API_PORT, CFAPI_PORT = 8000, 3001  # the client's fixed local addresses (contract §1)
DEMO_KEY, DEMO_USER = "cf-local-demo-key", "local-demo-user"  # devserver.seed, in the stack's private store
CLI_TIMEOUT_S = 300


class DemoError(RuntimeError):
    """The stack or the client could not be run; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------- network
def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def private_network_available() -> bool:
    """Root with `unshare`, `nsenter` and `ip`, and a network namespace can be made."""
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


class Loopback:
    """Where the stack listens and the client runs. `private`: a network namespace of the stack's own, with only
    its loopback up, which the client (and any probe) joins with nsenter; else the host's loopback."""

    def __init__(self, private: bool) -> None:
        self.private = private
        self.server_pid: int | None = None

    def describe(self) -> str:
        if self.private:
            return "a private network namespace (its own loopback: 8000/3001 there never collide with the host's)"
        return "the host's loopback (ports 8000 and 3001)"

    def server(self, command: list[str]) -> list[str]:
        if not self.private:
            return command
        ip = shutil.which("ip") or "ip"
        return ["unshare", "--net", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh", *command]

    def client(self, command: list[str]) -> list[str]:
        if not self.private:
            return command
        if self.server_pid is None:
            raise DemoError("the private network namespace is not up yet")
        return ["nsenter", f"--net=/proc/{self.server_pid}/ns/net", "--", *command]

    def wait_free(self, wait_s: float) -> None:
        """On the host's loopback, wait up to `wait_s` for 8000 and 3001 to be free; DemoError if they are not."""
        if self.private:
            return
        deadline = time.monotonic() + wait_s
        while busy := [port for port in (API_PORT, CFAPI_PORT) if port_in_use(port)]:
            if time.monotonic() >= deadline:
                waited = f" after {wait_s:g} s" if wait_s else ""
                ports = f"ports {busy[0]} and {busy[1]} are" if len(busy) > 1 else f"port {busy[0]} is"
                raise DemoError(
                    f"{ports} in use on 127.0.0.1{waited} (another `make run` or "
                    "real-CLI test?): the codeflash CLI only talks to localhost:8000 and :3001. Stop it; as root where "
                    "`unshare --net` works, the demo runs in a private network namespace and needs neither."
                )
            time.sleep(2)


# ------------------------------------------------------------------------------------------------------ stack
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
                                 headers={{"Authorization": "Bearer {DEMO_KEY}", "Content-Type": "application/json"}})
try:
    urllib.request.urlopen(request, timeout=30)
except urllib.error.HTTPError as refusal:
    sys.exit(refusal.code >= 500)
except OSError:
    sys.exit(1)
"""

_MOTO_LINE = re.compile(r"DynamoDB: in-memory moto at (http://\S+?),")


@dataclass
class RunningStack:
    """`make run` with a scripted model: its log (the devserver's output), where it listens, its DynamoDB."""

    log: Path
    loopback: Loopback
    process: subprocess.Popen[bytes]
    dynamodb: str | None = None  # the moto endpoint, as seen from the stack's loopback
    ready_s: float = 0.0

    def lines(self, since: int = 0) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()[since:]

    def tail(self, count: int = 60) -> str:
        return "\n".join(line[:2000] for line in self.lines()[-count:])


@contextmanager
def running_stack(
    log: Path,
    script: Path = SCRIPT,
    *,
    private: bool | None = None,
    port_wait_s: float = 0,
    ready_timeout_s: float = 120,
) -> Iterator[RunningStack]:
    """`python -m devserver run --port 8000 --llm demo` with the scripted model in `script`, its own in-memory
    DynamoDB seeded with cf-local-demo-key, never real providers; output to `log`. `private`: in a network
    namespace of its own (None: where this machine allows one). Stops the stack's whole process group on exit,
    Ctrl-C included. DemoError when it cannot start or is not ready within `ready_timeout_s`."""
    loopback = Loopback(private_network_available() if private is None else private)
    loopback.wait_free(port_wait_s)
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CODEFLASH_", "DEVSERVER_"))
    }
    env.update(DEVSERVER_LLM_SCRIPT=str(script), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "devserver", "run", "--port", str(API_PORT), "--llm", "demo"]
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            loopback.server(command),
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C is ours to handle, and we stop all of it
        )
    loopback.server_pid = process.pid  # unshare and sh exec the devserver: the same process
    stack = RunningStack(log, loopback, process)
    try:
        _wait_ready(stack, ready_timeout_s)
        stack.ready_s = time.monotonic() - started
        found = _MOTO_LINE.search(log.read_text(errors="replace"))
        stack.dynamodb = found[1] if found else None
        yield stack
    finally:
        _stop(process)


def _wait_ready(stack: RunningStack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for probe in (_PROBE, _WARM_UP):
        while True:
            if stack.process.poll() is not None:
                raise DemoError(f"the devserver exited with {stack.process.returncode}:\n{stack.tail()}")
            answer = subprocess.run(stack.loopback.client([sys.executable, "-c", probe]), capture_output=True)
            if answer.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise DemoError(f"the stack was not ready within {timeout_s:g} s:\n{stack.tail()}")
            time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # the devserver stops its workers, moto and the fake LLM on SIGTERM
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its session: this process group is only ours
    process.wait()


# ----------------------------------------------------------------------------------------------------- client
def codeflash_cli() -> Path:
    cli = CODEFLASH_VENV / "bin/codeflash"
    if not cli.exists():
        raise DemoError(f"{cli} is missing: `make demo` or `make install` installs the codeflash client there")
    return cli


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """What the client needs to run offline against the local stack; HOME apart (it appends its key to
    ~/.bashrc)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEFLASH_AIS_SERVER": "local",
        "CODEFLASH_CFAPI_SERVER": "local",
        "CODEFLASH_API_KEY": DEMO_KEY,  # the devserver seeds it in its private store
        "HTTPS_PROXY": "http://127.0.0.1:9",  # blocks the client's version check; loopback stays direct
        "NO_PROXY": "localhost,127.0.0.1",
        "TERM": "dumb",
        "COLUMNS": "160",
        **extra,
    }


def copy_project(destination: Path, example: Path = EXAMPLE) -> Path:
    """The example, without its model, as the git repository the client wants."""
    shutil.copytree(example, destination, ignore=shutil.ignore_patterns("model", "__pycache__", "*.pyc"))
    git = ["git", "-c", "user.name=codeflash-demo", "-c", "user.email=demo@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the example"]):
        subprocess.run([*git, *command], cwd=destination, check=True, capture_output=True)
    return destination


def run_cli(
    stack: RunningStack, project: Path, home: Path, *arguments: str, timeout_s: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """`codeflash --file sorter/sorter.py --no-pr ARGUMENTS` in `project`, against `stack`; its benchmarking kept
    short (CODEFLASH_LOOPING_TIME=1)."""
    command = [str(codeflash_cli()), "--file", "sorter/sorter.py", "--no-pr", *arguments]
    return subprocess.run(
        stack.loopback.client(command),
        cwd=project,
        env=client_env(home, CODEFLASH_LOOPING_TIME="1"),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


# ------------------------------------------------------------------------------------------------------ usage
def recorded(stack: RunningStack, days: Sequence[date]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo user's daily usage aggregates (UsageStore.daily_usage_of_user) and optimization runs (the features
    of its traces first seen on `days`), read from the stack's DynamoDB by a child process on the stack's loopback
    (`python -m devserver.demo --usage-at`)."""
    if stack.dynamodb is None:
        raise DemoError(f"the stack's log names no moto endpoint:\n{stack.tail()}")
    from devserver.dynamo import LOCAL_CREDENTIALS
    from devserver.template import Stack

    template = Stack.load(str(ROOT / "template.yaml"), {})
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **template.global_environment,  # the functions' settings: USAGE_TABLE, USAGE_SHARDS if set
        **LOCAL_CREDENTIALS,
        "AWS_REGION": template.region,
        "AWS_DEFAULT_REGION": template.region,
        "PYTHONPATH": f"{ROOT / 'layers/common'}{os.pathsep}{ROOT}",
    }
    command = [sys.executable, "-m", "devserver.demo", "--usage-at", stack.dynamodb]
    command += [argument for day in days for argument in ("--day", day.isoformat())]
    answer = subprocess.run(stack.loopback.client(command), cwd=ROOT, env=env, capture_output=True, text=True)
    if answer.returncode != 0:
        raise DemoError(f"cannot read the usage aggregates:\n{answer.stderr[-3000:]}")
    found = json.loads(answer.stdout)
    rows: list[dict[str, Any]] = found["usage"]
    for row in rows:
        row.update({name: int(row.get(name) or 0) for name in ("calls", "input_tokens", "output_tokens")})
        row["cost_usd"] = Decimal(str(row["cost_usd"]))
    return rows, found["runs"]


def _print_usage(endpoint: str, days: list[str]) -> None:
    """In the stack's network: the demo user's aggregates and runs of `days` as JSON (amounts as strings)."""
    from aiservice.store.features import FeaturesStore
    from aiservice.store.usage import UsageStore
    from devserver.dynamo import dynamodb_client

    client = dynamodb_client(endpoint)
    store = UsageStore(client)
    rows = [row for day in days for row in store.daily_usage_of_user(DEMO_USER, date.fromisoformat(day))]
    runs = [
        {name: trace.get(name) for name in ("trace_id", "optimize_requests", "optimization_found", "cost_usd")}
        for day in days
        for trace in FeaturesStore(client).traces_of_day(day)
        if trace.get("user_id") == DEMO_USER
    ]
    print(json.dumps({"usage": rows, "runs": runs}, default=str))


_USAGE_KEY = ("model", "call_type")
_USAGE_FIELDS = ("calls", "input_tokens", "output_tokens", "cost_usd")


def usage_delta(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What `after` added to `before`, per (model, call type): the run's own usage on a shared stack."""
    earlier = {tuple(row[key] for key in _USAGE_KEY): row for row in before}
    delta = []
    for row in after:
        old = earlier.get(tuple(row[key] for key in _USAGE_KEY), {})
        change = {name: row.get(name, 0) - old.get(name, 0) for name in _USAGE_FIELDS}
        if change["calls"]:
            delta.append({**{key: row[key] for key in _USAGE_KEY}, **change})
    return sorted(delta, key=lambda row: (row["call_type"], row["model"]))


# --------------------------------------------------------------------------------------------- what happened
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CODE_LINE = re.compile(r"^\s{0,6}(\d+)(?: (.*))?$")
_BOXED = re.compile(r"^[│|]\s?(.*?)\s*[│|]?$")


def _plain(output: str) -> list[str]:
    return [_ANSI.sub("", line).rstrip() for line in output.splitlines()]


def _code_after(lines: list[str], heading: re.Pattern[str]) -> list[tuple[str, list[str]]]:
    """Each `heading` line with the numbered code lines the CLI printed under it (rich's syntax panels)."""
    blocks: list[tuple[str, list[str]]] = []
    for index, line in enumerate(lines):
        found = heading.search(line)
        if not found:
            continue
        code: list[str] = []
        for following in lines[index + 1 :]:
            if following.startswith("─") and not code:
                continue  # the rule between the heading and its code
            numbered = _CODE_LINE.match(following)
            if not numbered:
                break
            code.append(numbered[2] or "")
        blocks.append((found[1], code))
    return blocks


@dataclass
class CliReport:
    """What the CLI printed, in pieces: read from its output, never from its internals."""

    candidates: list[tuple[str, list[str]]] = field(default_factory=list)
    tests: list[tuple[str, list[str]]] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)
    best: list[str] = field(default_factory=list)
    success: str | None = None
    improvement: str | None = None

    @classmethod
    def of(cls, output: str) -> CliReport:
        lines = _plain(output)
        report = cls(
            candidates=_code_after(lines, re.compile(r"Optimization candidate (\d+/\d+):")),
            tests=_code_after(lines, re.compile(r"Generated test (\d+/\d+):")),
        )
        report.best = next((code for _, code in _code_after(lines, re.compile(r"(Best candidate)"))), [])
        measures = re.compile(
            r"(Original code summed runtime.*|Candidate #\d+ - Runtime Information|(?:Speedup ratio|Best summed "
            r"runtime): .*|This candidate is .*|Runtime went down from .*)"
        )
        for line in lines:
            text = _unbox(line)
            if "Optimization successful!" in text and report.success is None:
                report.success = text
            elif re.search(r"runtime improvement \(", text) and report.improvement is None:
                report.improvement = text
            elif found := measures.search(text):
                heading = found[1].startswith(("Original code", "Candidate #", "Runtime went"))
                report.measured.append(("" if heading else "  ") + found[1].rstrip(" ⌛🚀"))
        return report


def _unbox(line: str) -> str:
    boxed = _BOXED.match(line)
    return (boxed[1] if boxed else line).strip(" ├└─│")


@dataclass
class DemoRun:
    """One demo run: the client's run, the diff it left, the stack's side of it."""

    project: Path
    cli: subprocess.CompletedProcess[str]
    duration_s: float
    diff: str
    served: list[str]
    usage: list[dict[str, Any]]
    runs: list[dict[str, Any]]  # the features of the traces the run created: what the cost report reads
    problems: list[str] = field(default_factory=list)  # the stack's log lines of the run that are not INFO

    @property
    def output(self) -> str:
        return self.cli.stdout + self.cli.stderr

    @property
    def cost_usd(self) -> Decimal:
        return sum((row["cost_usd"] for row in self.usage), Decimal(0))

    @property
    def report(self) -> CliReport:
        return CliReport.of(self.output)

    @property
    def succeeded(self) -> bool:
        return self.cli.returncode == 0 and self.report.success is not None and bool(self.diff.strip())


def optimize(
    stack: RunningStack, workdir: Path, *arguments: str, function: str = "sort_list", out: TextIO | None = None
) -> DemoRun:
    """Copy the example into `workdir`, run the CLI on `function` against `stack`, collect what happened."""
    project = copy_project(workdir / "project")
    days = [datetime.now(UTC).date()]
    before, runs_before = recorded(stack, days)
    since = len(stack.lines())
    _say(out, " ".join(["running   codeflash --file sorter/sorter.py --function", function, "--no-pr", *arguments]))
    _say(out, "          (about a minute or two: it generates tests, runs them, benchmarks each candidate)")
    started = time.monotonic()
    try:
        cli = run_cli(stack, project, workdir / "home", "--function", function, *arguments)
    except subprocess.TimeoutExpired as timeout:
        raise DemoError(f"codeflash did not finish within {timeout.timeout:g} s:\n{stack.tail()}") from None
    duration_s = time.monotonic() - started
    days = sorted({*days, datetime.now(UTC).date()})
    diff = subprocess.run(["git", "diff"], cwd=project, capture_output=True, text=True, check=True).stdout
    lines = stack.lines(since)
    served = [line for line in lines if line.startswith(("POST ", "GET "))]
    problems = [line[:2000] for line in lines if not line.startswith(('{"level":"INFO"', '{"_aws"', "POST ", "GET "))]
    after, runs_after = recorded(stack, days)
    known = {run["trace_id"] for run in runs_before}
    runs = [run for run in runs_after if run["trace_id"] not in known]
    return DemoRun(project, cli, duration_s, diff, served, usage_delta(before, after), runs, problems[-60:])


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def summary(run: DemoRun, verbose: bool = False, elapsed_s: float | None = None) -> str:
    """What happened, readably; ends with the CLI's success line (or why there is none)."""
    report = run.report
    parts: list[str] = []

    def section(title: str, *body: str) -> None:
        parts.append(f"\n── {title} " + "─" * max(4, 100 - len(title)))
        parts.extend(body)

    if verbose:
        section("the CLI's output", run.output.rstrip())
    parts.append(f"codeflash exited {run.cli.returncode} after {run.duration_s:.0f} s; what happened:")
    section(f"requests the service answered ({len(run.served)}; from the stack's access log)", *run.served)
    candidates: list[str] = []
    for number, (_, code) in enumerate(report.candidates, 1):
        best = " (the one it kept)" if code and code == report.best else ""
        candidates += [f"candidate {number}{best}:", *_indent(code)]
    section(f"candidates the service returned ({len(report.candidates)}; as the CLI printed them)", *candidates)
    if report.tests:
        first_number, first_test = report.tests[0]
        section(
            f"generated tests ({len(report.tests)} files; the first lines of test {first_number})",
            *_indent(first_test[:16]),
            f"    … {len(first_test)} lines" if len(first_test) > 16 else "",
        )
    else:
        section("generated tests", "  (the CLI printed none)")
    section("what the CLI measured", *(f"  {line}" for line in report.measured), f"  {report.improvement or ''}")
    section("the diff it wrote (git diff)", run.diff.rstrip() or "  (none: the file is unchanged)")
    section(
        f"the cost the service recorded: ${run.cost_usd:.6f}",
        f"  (the UsageTable's daily aggregates of {DEMO_USER}: the scripted model's tokens at the prices of the "
        "models the service routed to)",
        *_usage_table(run.usage),
    )
    section(
        "the run the service recorded (OptimizationFeaturesTable: what the cost report reads)",
        *(
            f"  trace {trace['trace_id']}: {trace['optimize_requests']} /ai/optimize request(s), optimization found: "
            f"{'yes (mark-as-success)' if trace['optimization_found'] else 'no'}, cost ${trace['cost_usd']}"
            for trace in run.runs
        ),
    )
    parts.append("")
    if elapsed_s is not None:
        parts.append(f"demo: {elapsed_s:.0f} s in all, the CLI {run.duration_s:.0f} s of it")
    if report.success:
        parts.append(report.success)
    else:
        parts.append("the stack's log during the run, without its INFO lines:")
        parts.extend(run.problems or ["  (nothing)"])
        parts.append(f"no optimization: codeflash exited {run.cli.returncode}; its last lines:")
        parts.extend(_plain(run.output)[-40:])
    return "\n".join(parts)


def _indent(code: list[str]) -> list[str]:
    return [f"    {line}".rstrip() for line in code]


def _usage_table(usage: list[dict[str, Any]]) -> list[str]:
    if not usage:
        return ["  (nothing recorded)"]
    lines = [f"  {'call type':<24} {'model':<20} {'calls':>5} {'input tok':>10} {'output tok':>10} {'USD':>10}"]
    for row in usage:
        lines.append(
            f"  {row['call_type']:<24} {row['model']:<20} {row['calls']:>5} {row['input_tokens']:>10} "
            f"{row['output_tokens']:>10} {row['cost_usd']:>10.6f}"
        )
    total = sum((row["cost_usd"] for row in usage), Decimal(0))
    calls = sum(row["calls"] for row in usage)
    tokens = [sum(row[kind] for row in usage) for kind in ("input_tokens", "output_tokens")]
    lines.append(f"  {'total':<24} {'':<20} {calls:>5} {tokens[0]:>10} {tokens[1]:>10} {total:>10.6f}")
    return lines


# -------------------------------------------------------------------------------------------------------- main
def demo(stack: RunningStack | None = None, out: TextIO | None = None, verbose: bool = False) -> int:
    """The whole demo, printed to `out` (stdout); `stack`: one already running (the suite shares its real-CLI
    tests' stack), else one is started here and stopped on return. 0 when the CLI optimized the function and
    changed the file; 1 when it did not; 2 when the stack or the CLI could not run (the reason on stderr)."""
    out = out or sys.stdout
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="codeflash-demo-") as temporary:
        workdir = Path(temporary)
        try:
            codeflash_cli()
            _say(out, f"example   {EXAMPLE.relative_to(ROOT)}: a slow sort, no tests; copied to {workdir / 'project'}")
            _say(out, f"model     {SCRIPT.relative_to(ROOT)}: scripted replies (script.json picks one per prompt)")
            if stack is None:
                with running_stack(workdir / "devserver.log") as own:
                    _announce(own, out)
                    run = optimize(own, workdir, out=out)
            else:
                _announce(stack, out)
                run = optimize(stack, workdir, out=out)
        except DemoError as error:
            print(f"demo: {error}", file=sys.stderr, flush=True)
            return 2
        print(summary(run, verbose, time.monotonic() - started), file=out, flush=True)
        return 0 if run.succeeded else 1


def _announce(stack: RunningStack, out: TextIO) -> None:
    _say(out, f"stack     python -m devserver run --port {API_PORT} --llm demo, ready in {stack.ready_s:.0f} s")
    _say(out, f"          on {stack.loopback.describe()}; DynamoDB (moto) at {stack.dynamodb}")


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: the stack's process group and the temporary folder go too."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print the CLI's whole output too")
    parser.add_argument("--usage-at", metavar="ENDPOINT", help=argparse.SUPPRESS)  # recorded()'s child
    parser.add_argument("--day", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.usage_at:
        _print_usage(args.usage_at, args.day)
        return 0
    _stop_on_sigterm()
    try:
        return demo(verbose=args.verbose)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; the stack and the temporary files are gone", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
