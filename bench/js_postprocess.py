"""JavaScript candidate post-processing: 6 model replies against a 300-line ES module.

The replies: a whole file with the target rewritten, the same with different comments and layout (a duplicate),
the function alone with a new helper and an import, the class with one changed method, a reply with a syntax
error, and one that changes the target's signature. What is timed is `postprocess`, which parses the original
and every reply with tree-sitter (the client's check), merges partial replies by function range, checks the
target's signature and de-duplicates by the tree's normal form. In-process after a warm-up: best and median.

    .venv/bin/python bench/js_postprocess.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common")]

from aiservice.code.candidates import Target, postprocess  # noqa: E402
from aiservice.code.markdown import CodeString, CodeStringsMarkdown  # noqa: E402

PATH = "src/inventory.js"
TARGET = "reorderReport"

HEADER = 'import { round } from "./math.js";\n\nexport const SAFETY_FACTOR = 1.65;\n'
TARGET_CODE = """
/** Items whose stock is below their reorder point. */
export function reorderReport(items, leadTime = 7) {
  const report = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    let total = 0;
    for (let j = 0; j < item.demand.length; j++) {
      total += item.demand[j];
    }
    const daily = total / item.demand.length;
    if (item.stock < daily * leadTime * SAFETY_FACTOR) {
      report.push({ sku: item.sku, short: round(daily * leadTime - item.stock) });
    }
  }
  return report;
}
"""
FAST_TARGET = """
export function reorderReport(items, leadTime = 7) {
  const limit = leadTime * SAFETY_FACTOR;
  return items
    .filter((item) => item.stock < (item.demand.reduce((a, b) => a + b, 0) / item.demand.length) * limit)
    .map((item) => ({ sku: item.sku, short: shortfall(item, leadTime) }));
}
"""


def helper(index: int) -> str:
    return f"""
/** Moving average number {index}. */
export function movingAverage{index}(values, window = {index + 2}) {{
  const out = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {{
    sum += values[i];
    if (i >= window) sum -= values[i - window];
    out.push(i + 1 >= window ? sum / window : null);
  }}
  return out;
}}
"""


CLASS = """
export class Warehouse {
  constructor(name, items = []) {
    this.name = name;
    this.items = items;
  }

  totalStock() {
    let total = 0;
    for (const item of this.items) total += item.stock;
    return total;
  }

  static empty(name) {
    return new Warehouse(name);
  }
}
"""


def original_module() -> str:
    return HEADER + "".join(helper(index) for index in range(22)) + TARGET_CODE + CLASS


def replies(original: str) -> list[str]:
    def md(code: str) -> str:
        return CodeStringsMarkdown((CodeString(PATH, code, "javascript"),)).emit()

    faster = original.replace(TARGET_CODE, FAST_TARGET.replace("shortfall(item, leadTime)", "0"))
    return [
        md(faster),
        md(faster.replace("/** Moving average", "// Moving average").replace("  ", "    ")),  # a duplicate
        md(
            'import { shortfall } from "./shortfall.js";\n\nconst cache = new Map();\n'
            + FAST_TARGET.replace("leadTime)", "leadTime, cache)")
        ),
        md("class Warehouse {\n  totalStock() {\n    return this.items.reduce((a, it) => a + it.stock, 0);\n  }\n}"),
        md(faster[: faster.rindex("}")]),  # cut short: a syntax error at the end
        md(FAST_TARGET.replace("leadTime = 7", "leadTime")),  # the default value dropped: a signature change
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    code = original_module()
    original = CodeStringsMarkdown((CodeString(PATH, code, "javascript"),))
    sent = replies(code)
    target = Target(TARGET, PATH)
    outcome = postprocess(original, sent, target)  # the warm-up: loads tree-sitter and the grammar
    times = []
    for _ in range(arguments.runs):
        start = time.perf_counter()
        postprocess(original, sent, target)
        times.append((time.perf_counter() - start) * 1000)
    print(f"original: {code.count(chr(10))} lines; {len(sent)} replies")
    for candidate in outcome.kept:
        print(f"  kept    reply {candidate.index}: {candidate.files[PATH].count(chr(10)) + 1} lines")
    for dropped in outcome.dropped:
        print(f"  dropped reply {dropped.index}: {dropped.reason}")
    print(f"postprocess, {arguments.runs} runs: best {min(times):.1f} ms, median {statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
