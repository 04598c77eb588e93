"""Candidate post-processing of 6 model replies against a 1,000-line module (target <= 150 ms).

The replies are what models send back: two whole-module copies with the target rewritten (one also differs
only in comments from the other, so it is a duplicate), the optimized function alone with a new helper and a
new import, the class with only its changed method and a new one, a method given bare, and a whole module with
a syntax error near its end. Timed in-process after a warm-up: best and median of the runs.

    .venv/bin/python bench/postprocess.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common")]

from aiservice.code.candidates import Outcome, Target, postprocess  # noqa: E402
from aiservice.code.markdown import CodeString, CodeStringsMarkdown  # noqa: E402

PATH = "inventory/stock.py"
TARGET = "Warehouse7.reorder_report"
TARGET_BUDGET_MS = 150

HEADER = '''"""Stock keeping for a chain of warehouses: items, movements, reports."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

DEFAULT_LEAD_TIME = 7
SAFETY_FACTOR = 1.65
'''

CLASS = '''

@dataclass
class Warehouse{n}:
    """Warehouse number {n}: its items and their movements."""

    name: str
    items: dict[str, int] = field(default_factory=dict)
    history: list[tuple[str, int]] = field(default_factory=list)

    def receive(self, sku: str, quantity: int) -> None:
        """Adds stock."""
        if quantity <= 0:
            raise ValueError(f"quantity must be positive, not {{quantity}}")
        self.items[sku] = self.items.get(sku, 0) + quantity
        self.history.append((sku, quantity))

    def ship(self, sku: str, quantity: int) -> bool:
        """Removes stock if there is enough; says whether it did."""
        available = self.items.get(sku, 0)
        if available < quantity:
            return False
        self.items[sku] = available - quantity
        self.history.append((sku, -quantity))
        return True

    def demand(self, sku: str) -> list[int]:
        # shipments only, oldest first
        return [-change for item, change in self.history if item == sku and change < 0]

    def reorder_report(self, skus: Iterable[str]) -> list[str]:
        """The SKUs whose stock is under their reorder point, sorted."""
        low = []
        for sku in skus:
            shipped = self.demand(sku)
            if len(shipped) < 2:
                continue
            mean = sum(shipped) / len(shipped)
            spread = statistics.pstdev(shipped)
            point = mean * DEFAULT_LEAD_TIME + SAFETY_FACTOR * spread * math.sqrt(DEFAULT_LEAD_TIME)
            if self.items.get(sku, 0) < point:
                if sku not in low:
                    low.append(sku)
        low.sort()
        return low

    def total(self) -> int:
        return sum(self.items.values())
'''

FUNCTION = '''

def summarise_{n}(warehouses: list, sku: str) -> dict[str, float]:
    """Stock of `sku` across warehouses: total, mean and the busiest warehouse's share."""
    counts = defaultdict(int)
    for warehouse in warehouses:
        counts[warehouse.name] += warehouse.items.get(sku, 0)
    total = sum(counts.values())
    if not total:
        return {{"total": 0.0, "mean": 0.0, "share": 0.0}}
    return {{"total": float(total), "mean": total / len(counts), "share": max(counts.values()) / total}}
'''

OPTIMIZED_METHOD = '''    def reorder_report(self, skus: Iterable[str]) -> list[str]:
        """The SKUs whose stock is under their reorder point, sorted."""
        shipped_by_sku = _shipments(self.history)
        low = set()
        root = _ROOT_LEAD_TIME
        for sku in skus:
            shipped = shipped_by_sku.get(sku)
            if shipped is None or len(shipped) < 2:
                continue
            mean = fsum(shipped) / len(shipped)
            point = mean * DEFAULT_LEAD_TIME + SAFETY_FACTOR * statistics.pstdev(shipped, mean) * root
            if self.items.get(sku, 0) < point:
                low.add(sku)
        return sorted(low)
'''

HELPERS = """

_ROOT_LEAD_TIME = math.sqrt(DEFAULT_LEAD_TIME)


def _shipments(history: list[tuple[str, int]]) -> dict[str, list[int]]:
    by_sku: dict[str, list[int]] = {}
    for sku, change in history:
        if change < 0:
            by_sku.setdefault(sku, []).append(-change)
    return by_sku
"""


def module() -> str:
    parts = [HEADER]
    for n in range(1, 18):
        parts.append(CLASS.format(n=n))
        parts.append(FUNCTION.format(n=n))
    return "".join(parts)


def replies(original: str) -> list[str]:
    method_start = original.index("    def reorder_report", original.index("class Warehouse7:"))
    method_end = original.index("    def total", method_start)
    rewritten = original[:method_start] + OPTIMIZED_METHOD + "\n" + original[method_end:]
    rewritten = rewritten.replace("from typing", "from math import fsum\nfrom typing")
    whole = rewritten + HELPERS

    def fenced(code: str) -> str:
        return f"```python:{PATH}\n{code}\n```"

    return [
        f"Grouping shipments once makes the report linear.\n\n{fenced(whole)}",
        fenced(whole.replace("# shipments only, oldest first", "# outgoing movements")),  # a duplicate
        fenced(f"from math import fsum\nimport math\n\n\nclass Warehouse7:\n{OPTIMIZED_METHOD}\n"
               f"    def total(self) -> int:\n        return sum(self.items.values())\n{HELPERS}"),
        fenced("from math import fsum\n\n\n" + OPTIMIZED_METHOD.replace("\n    ", "\n").lstrip().replace("low", "under")
               + HELPERS),
        fenced(whole.replace("return by_sku", "return by_sku)")),  # a syntax error at the very end
        "<thinking>Two passes are enough.</thinking>\n<code>\n" + fenced(
            whole.replace("low.add(sku)", "low.add(sku)  # set: no duplicate checks")
            .replace("def total(self) -> int:\n        return sum(self.items.values())",
                     "def total(self) -> int:\n        return sum(self.items.values(), 0)", 1)
        ) + "\n</code>\n<explanation>A set and one pass over the history.</explanation>",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    code = module()
    original = CodeStringsMarkdown((CodeString(PATH, code.strip(), "python"),)).emit()
    texts = replies(code)
    target = Target(TARGET, PATH)

    def run() -> Outcome:
        return postprocess(CodeStringsMarkdown.parse(original), texts, target)

    outcome = run()  # warm-up, and the outcome to show
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        run()
        timings.append((time.perf_counter() - start) * 1000)

    print(f"module: {len(code.splitlines())} lines; replies: {len(texts)} ({sum(map(len, texts)):,} characters)")
    for candidate in outcome.kept:
        print(f"  kept    reply {candidate.index}: {len(candidate.files[PATH].splitlines())} lines")
    for dropped in outcome.dropped:
        print(f"  dropped reply {dropped.index}: {dropped.reason}")
    print(
        f"postprocess, {args.runs} runs: best {min(timings):.1f} ms, median {statistics.median(timings):.1f} ms;"
        f" target <= {TARGET_BUDGET_MS} ms"
    )


if __name__ == "__main__":
    main()
