"""Run by the codeflash client's own interpreter (build/codeflash-venv), never by the suite: calls the real
AiServiceClient's candidate methods against the local stack with the recorded sample bodies' content, and prints
what each returned as JSON (a method's failure value is [] or None)."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from codeflash.api.aiservice import AiServiceClient  # type: ignore[import-not-found]  # the client's venv
from codeflash.models.models import (  # type: ignore[import-not-found]
    AdaptiveOptimizedCandidate,
    AIServiceAdaptiveOptimizeRequest,
    AIServiceCodeRepairRequest,
    AIServiceRefinerRequest,
    OptimizedCandidateSource,
    TestDiff,
    TestDiffScope,
)


def summary(candidate: Any) -> dict[str, object] | None:
    if candidate is None:
        return None
    return {
        "optimization_id": candidate.optimization_id,
        "parent_id": candidate.parent_id,
        "explanation": candidate.explanation,
        "files": {str(code.file_path): code.code for code in candidate.source_code.code_strings},
    }


def main(samples: Path) -> None:
    def body(name: str) -> dict:
        data = json.loads((samples / f"{name}.json").read_text())["request_body"]
        return data[0] if isinstance(data, list) else data

    client = AiServiceClient()
    optimize = body("03_ai_optimize")
    trace = str(uuid.uuid4())
    results: dict[str, object] = {}
    first = client.optimize_code(
        optimize["source_code"], optimize["dependency_code"], trace, n_candidates=2, language_version="3.11.7"
    )
    results["optimize_code"] = [summary(c) for c in first]
    profiled = body("05_ai_optimize_line_profiler")
    results["optimize_python_code_line_profiler"] = [
        summary(c)
        for c in client.optimize_python_code_line_profiler(
            profiled["source_code"], profiled["dependency_code"], trace, profiled["line_profiler_results"], 1
        )
    ]
    parent = first[1]  # the in-place sort, refined into sorted()
    refine = body("06_ai_refinement")
    request = AIServiceRefinerRequest(
        optimization_id=parent.optimization_id,
        original_source_code=refine["original_source_code"],
        read_only_dependency_code="",
        original_code_runtime=10_937_107,
        optimized_source_code=parent.source_code.markdown,
        optimized_explanation=parent.explanation,
        optimized_code_runtime=11_992,
        speedup="91103%",
        trace_id=trace,
        original_line_profiler_results=refine["original_line_profiler_results"],
        optimized_line_profiler_results=refine["optimized_line_profiler_results"],
    )
    results["optimize_code_refinement"] = [summary(c) for c in client.optimize_code_refinement([request])]
    repair = body("07_ai_code_repair")
    diffs = [
        TestDiff(
            scope=TestDiffScope(d["scope"]),
            original_pass=d["original_pass"],
            candidate_pass=d["candidate_pass"],
            original_value=d["original_value"],
            candidate_value=d["candidate_value"],
            test_src_code=d["test_src_code"],
            candidate_pytest_error=d["candidate_pytest_error"],
            original_pytest_error=d["original_pytest_error"],
        )
        for d in repair["test_diffs"]
    ]
    results["code_repair"] = summary(
        client.code_repair(
            AIServiceCodeRepairRequest(
                optimization_id="opt-B",
                original_source_code=repair["original_source_code"],
                modified_source_code=repair["modified_source_code"],
                trace_id=trace,
                test_diffs=diffs,
            )
        )
    )
    path = [
        AdaptiveOptimizedCandidate(
            optimization_id=c["optimization_id"],
            source_code=c["source_code"],
            explanation=c["explanation"],
            source=OptimizedCandidateSource(c["source"]),
            speedup=c["speedup"],
        )
        for c in body("08_ai_adaptive_optimize")["candidates"]
    ]
    results["adaptive_optimize"] = summary(
        client.adaptive_optimize(
            AIServiceAdaptiveOptimizeRequest(
                trace_id=trace, original_source_code=optimize["source_code"], candidates=path
            )
        )
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
