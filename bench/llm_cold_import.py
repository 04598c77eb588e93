"""(d) Cold start of an LLM handler beside `from litellm import Router`, in one run (target: at most half).

Ours, in fresh `python -S` interpreters on the layer's pinned requirements (bench/_layer.py):
- "handler import": what an /ai/* handler module loads at INIT: the HTTP kit (Powertools resolver with
  validation) and the LLM client. The SDKs are not loaded yet; they load with the first call.
- "+ ... client": also the provider client(s) made and their SDK loaded, i.e. everything in place before the
  first model request on that provider (a call loads only its model's provider; a fallback may add the other).
- "optimize handler": `import app` of functions/optimize (the real LLM function: its pipeline, the toolkit the
  replies go through, the resolver); "+ warm_up": then `warm_up(["optimize"])`, the work SnapStart's hook does
  before the snapshot (SDKs imported, clients built, prompts read), i.e. everything an environment restored
  from the snapshot finds done.
litellm: `from litellm import Router`, installed for this benchmark only (the `bench` extra's pin) into its own
folder, run the same way. Both with bytecode cached, best and median of N runs.

    .venv/bin/python bench/llm_cold_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tomllib

from _layer import LAYER_SOURCE, ROOT, native_layer, pip_target, time_fresh

HANDLER_IMPORT = "import aiservice.http, aiservice.llm.client"


def with_clients(*models: str) -> str:
    """The handler import, then the provider clients of `models` made (their SDKs loaded)."""
    made = "; ".join(f"provider_for(get_model({model!r}))" for model in models)
    return (
        f"{HANDLER_IMPORT}\nfrom aiservice.llm.models import get_model\n"
        f"from aiservice.llm.providers.factory import provider_for\n{made}"
    )


OPTIMIZE_HANDLER = "import app"
OPTIMIZE_WARM_UP = 'import app\nfrom aiservice.pipelines.warmup import warm_up\nwarm_up(["optimize"])'

LITELLM = "from litellm import Router"
ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
    "AZURE_OPENAI_API_KEY": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}


def litellm_requirement() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return next(requirement for requirement in extras["bench"] if requirement.startswith("litellm"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ours = [str(LAYER_SOURCE), str(native_layer())]
    optimize = [str(ROOT / "functions/optimize"), *ours]  # Lambda: the function's folder first, then the layer
    theirs = [str(pip_target(ROOT / "build/bench-litellm", [litellm_requirement()]))]
    rows = [
        ("handler import (SDKs not yet loaded)", HANDLER_IMPORT, ours),
        ("handler + Azure client (openai)", with_clients("azure/gpt-5"), ours),
        ("handler + Bedrock client (anthropic)", with_clients("claude-sonnet-4-5"), ours),
        ("handler + both clients", with_clients("claude-sonnet-4-5", "azure/gpt-5"), ours),
        ("optimize handler: import app (INIT)", OPTIMIZE_HANDLER, optimize),
        ('optimize handler + warm_up(["optimize"])', OPTIMIZE_WARM_UP, optimize),
        (f"{LITELLM} ({litellm_requirement()})", LITELLM, theirs),
    ]
    results = {}
    print(
        f"cold import, best/median of {args.runs} fresh `python -S` processes, bytecode cached "
        f"(Python {sys.version.split()[0]})"
    )
    for label, code, paths in rows:
        timings, _ = time_fresh(code, paths, args.runs, bytecode=True, env=ENV)
        results[label] = min(timings)
        print(f"  {label:<48} best {min(timings):7.1f} ms   median {statistics.median(timings):7.1f} ms")
    litellm_ms = results[rows[-1][0]]
    print("ratio to litellm's Router (target <= 0.5):")
    for label, _, _ in rows[:-1]:
        print(f"  {label:<48} {results[label] / litellm_ms:.2f}")


if __name__ == "__main__":
    main()
