"""apply_patch on a large file: a 100-hunk V4A patch on a 20,000-line Python file (target <= 50 ms), a comparable
SEARCH/REPLACE patch, and the V4A patch with its context lines unindented, which only the surrounding-whitespace
pass matches (each hunk then costs a full exact and trailing-whitespace search of the rest of the file first).

The file is 1,000 functions of 20 lines, most of them alike; every 10th function gets one edit. Each V4A hunk
has its function's `def` line as its `@@` scope line and 3 lines of context either side; each SEARCH/REPLACE
block goes from the `def` line to 3 lines past the edit. Reported: best and median of N runs after a warm-up.

    .venv/bin/python bench/diff_apply.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers/common"))

from aiservice.diff import PatchFormat, apply_patch  # noqa: E402

FUNCTIONS = 1_000
EDITED_EVERY = 10
TARGET_MS = 50
OLD, NEW = "        if value > limit:", "        if value >= limit:"


def function(number: int, new: bool = False) -> list[str]:
    return [
        f"def function_{number:04d}(values, limit={number % 13}):",
        f'    """Sum the values above the limit ({number})."""',
        "    values = list(values)",
        "    total = 0",
        "    count = 0",
        "    for value in values:",
        NEW if new else OLD,
        "            total += value",
        "            count += 1",
        "        else:",
        "            total -= 1",
        "    if count == 0:",
        "        return 0",
        "    average = total / count",
        "    result = []",
        "    for value in values:",
        "        result.append(value - average)",
        "    return result, total",
        "",
        "",
    ]


def edited(number: int) -> bool:
    return number % EDITED_EVERY == EDITED_EVERY // 2


def v4a_patch(unindented_context: bool = False) -> str:
    def context(line: str) -> str:
        return " " + (line.strip() if unindented_context else line)

    patch = ["*** Begin Patch", "*** Update File: big.py"]
    for number in filter(edited, range(FUNCTIONS)):
        lines = function(number)
        at = lines.index(OLD)
        patch.append(f"@@ {lines[0]}")
        patch.extend(context(line) for line in lines[at - 3 : at])
        patch += ["-" + (OLD.strip() if unindented_context else OLD), "+" + NEW]
        patch.extend(context(line) for line in lines[at + 1 : at + 4])
    patch.append("*** End Patch")
    return "\n".join(patch) + "\n"


def search_replace_patch() -> str:
    blocks = []
    for number in filter(edited, range(FUNCTIONS)):
        lines = function(number)
        at = lines.index(OLD)
        search = lines[: at + 4]
        replace = function(number, new=True)[: at + 4]
        blocks.append("\n".join(["big.py", "<<<<<<< SEARCH", *search, "=======", *replace, ">>>>>>> REPLACE", ""]))
    return "\n".join(blocks)


def timed(apply: Callable[[], object], runs: int) -> list[float]:
    apply()  # warm-up
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        apply()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    source = "".join(line + "\n" for number in range(FUNCTIONS) for line in function(number))
    expected = "".join(line + "\n" for number in range(FUNCTIONS) for line in function(number, edited(number)))
    files = {"big.py": source}
    cases: dict[str, tuple[str, PatchFormat, float | None]] = {
        "V4A, 100 hunks with @@ scope lines": (v4a_patch(), "v4a", TARGET_MS),
        "SEARCH/REPLACE, 100 blocks": (search_replace_patch(), "search_replace", None),
        "V4A, 100 hunks, context unindented": (v4a_patch(unindented_context=True), "v4a", None),
    }
    rows = []
    for case, (patch, format, target) in cases.items():
        result = apply_patch(files, patch, format)["big.py"]
        assert result == expected, f"{case}: wrong result"
        timings = timed(lambda: apply_patch(files, patch, format), args.runs)  # noqa: B023
        rows.append(
            {
                "case": case,
                "best_ms": round(min(timings), 2),
                "median_ms": round(statistics.median(timings), 2),
                "target_ms": target,
            }
        )
    lines = source.count("\n")
    print(
        f"apply_patch on a {lines:,}-line file ({len(source):,} bytes), best/median of {args.runs} runs "
        f"(Python {sys.version.split()[0]})"
    )
    print(f"{'case':<38} {'best ms':>8} {'median ms':>10} {'target':>7}")
    for row in rows:
        print(f"{row['case']:<38} {row['best_ms']:>8} {row['median_ms']:>10} {row['target_ms'] or '-':>7}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
