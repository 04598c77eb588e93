"""Cold import+init of the light handlers (healthcheck, authorizer), in fresh interpreters.

Each run is `python -S` (no site-packages) with sys.path = the function folder, layers/common and the layer's
pinned dependencies installed natively (bench/_layer.py), i.e. what a Lambda environment imports. Reported:
the best and the median of N runs, with .pyc files cached and without any (what a `sam build` artifact
ships: the layer is built for Python 3.12 by a 3.11 toolchain, so it carries no usable bytecode).

    .venv/bin/python bench/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _layer import LAYER_SOURCE, ROOT, native_layer, time_fresh

TARGETS_MS = {"healthcheck": 150, "authorizer": 300}


def measure(function: str, layer: Path, runs: int, bytecode: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as scratch:
        # Copies of the sources, so that no __pycache__ of earlier runs is found next to them.
        function_dir = shutil.copytree(ROOT / "functions" / function, Path(scratch) / function)
        package_dir = Path(shutil.copytree(LAYER_SOURCE / "aiservice", Path(scratch) / "layer/aiservice")).parent
        code = "import app\nassert callable(app.handler)"
        timings, heavy = time_fresh(code, [str(function_dir), str(package_dir), str(layer)], runs, bytecode)
        assert not heavy, f"{function} imported {heavy}"
        return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    layer = native_layer()
    rows = []
    for function, target in TARGETS_MS.items():
        for bytecode in (True, False):
            timings = measure(function, layer, args.runs, bytecode)
            rows.append(
                {
                    "handler": function,
                    "bytecode": "cached .pyc" if bytecode else "no .pyc",
                    "best_ms": round(min(timings), 1),
                    "median_ms": round(statistics.median(timings), 1),
                    "target_ms": target,
                }
            )
    print(f"cold import+init, best/median of {args.runs} fresh `python -S` processes (Python {sys.version.split()[0]})")
    print(f"{'handler':<12} {'bytecode':<12} {'best ms':>8} {'median ms':>10} {'target':>7}")
    for row in rows:
        print(
            f"{row['handler']:<12} {row['bytecode']:<12} "
            f"{row['best_ms']:>8} {row['median_ms']:>10} {row['target_ms']:>7}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
