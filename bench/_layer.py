"""Shared by the benchmarks: the common layer as Lambda sees it, timing code in fresh interpreters, and quieting
the handlers' log output while a benchmark times them.

The layer: its pinned requirements alone in a folder, without the dev tools of the project venv (sam, cfn-lint
and moto bring awscrt, cryptography and more that Lambda lacks, and botocore would import them).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_SOURCE = ROOT / "layers/common"
NATIVE_LAYER = ROOT / "build/bench-layer"
HEAVY = ("anthropic", "openai", "libcst")

_PROBE = """
import sys, time
start = time.perf_counter()
sys.path[:0] = {paths!r}
{code}
elapsed = time.perf_counter() - start
print(int(elapsed * 1e6), ",".join(sorted(n for n in {heavy!r} if n in sys.modules)))
"""


def pip_target(target: Path, requirements: list[str]) -> Path:
    """`pip install --target` (once per requirement set), no bytecode: each benchmark decides about .pyc."""
    stamp = target / ".requirements"
    wanted = "\n".join(requirements)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--upgrade",
                "--target",
                str(target),
                *requirements,
            ],
            check=True,
        )
        stamp.write_text(wanted)
    return target


def native_layer() -> Path:
    """layers/common/requirements.txt installed for this platform into build/bench-layer."""
    return pip_target(NATIVE_LAYER, ["-r", str(LAYER_SOURCE / "requirements.txt")])


def time_fresh(
    code: str, paths: list[str], runs: int, bytecode: bool, env: dict[str, str] | None = None
) -> tuple[list[float], list[str]]:
    """Milliseconds `code` takes in each of `runs` fresh `python -S` processes whose sys.path is `paths`, and the
    heavy modules it loaded. With `bytecode`, compiled once into a private cache first; without, never cached."""
    with tempfile.TemporaryDirectory() as scratch:
        environ = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        environ.update(env or {})
        if bytecode:
            # Bytecode kept outside the source folders, so the no-bytecode runs never find any.
            environ["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        else:
            environ["PYTHONDONTWRITEBYTECODE"] = "1"
        command = [sys.executable, "-S", "-c", _PROBE.format(paths=paths, code=code, heavy=HEAVY)]
        if bytecode:  # the first run compiles and caches
            subprocess.run(command, env=environ, check=True, capture_output=True)
        timings, heavy = [], []
        for _ in range(runs):
            output = subprocess.run(command, env=environ, check=True, capture_output=True, text=True).stdout
            microseconds, _, loaded = output.splitlines()[-1].partition(" ")
            heavy = [name for name in loaded.strip().split(",") if name]
            timings.append(int(microseconds) / 1000)
        return timings, heavy


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """The handlers' JSON logs and EMF documents go to /dev/null meanwhile (file descriptor 1, so C-level writes
    too): the figures measure the work, not the terminal."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
