"""Run by the codeflash client's own venv (build/codeflash-venv), not by pytest: calls the real client's
AiServiceClient methods for the judgement endpoints against the local stack and prints what each returned, as
JSON, on the last line. Its only inputs are the recorded samples (argv[1]: their folder)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace


def main(samples: Path) -> None:
    from codeflash.api.aiservice import AiServiceClient  # type: ignore[import-not-found]  # the client's venv

    def body(name: str) -> dict:
        return json.loads((samples / f"{name}.json").read_text())["request_body"]

    client = AiServiceClient()
    rank = body("09_ai_rank")
    ranking = client.generate_ranking(
        trace_id=rank["trace_id"], diffs=rank["diffs"], optimization_ids=rank["optimization_ids"],
        speedups=rank["speedups"], function_references=rank["function_references"],
    )  # fmt: skip
    tie = client.generate_ranking(
        trace_id=rank["trace_id"], diffs=rank["diffs"][:3], optimization_ids=rank["optimization_ids"][:3],
        speedups=[10.0, 10.2, 10.1], function_references="",
    )  # fmt: skip

    explain = body("11_ai_explain")
    explanation = client.get_new_explanation(
        source_code=explain["source_code"], optimized_code=explain["optimized_code"],
        dependency_code=explain["dependency_code"], trace_id=explain["trace_id"],
        original_line_profiler_results=explain["original_line_profiler_results"],
        optimized_line_profiler_results=explain["optimized_line_profiler_results"],
        original_code_runtime=explain["original_code_runtime"],
        optimized_code_runtime=explain["optimized_code_runtime"],
        speedup=explain["speedup"], annotated_tests=explain["annotated_tests"],
        optimization_id=explain["optimization_id"], original_explanation=explain["original_explanation"],
        function_references=explain["function_references"], acceptance_reason=explain["acceptance_reason"],
    )  # fmt: skip

    review_request = body("12_ai_optimization_review")
    # The client reads these attributes of its Explanation (codeflash.result.explanation) for the payload.
    stand_in = SimpleNamespace(
        raw_explanation_message=review_request["explanation"], speedup=911.0336,
        winning_benchmarking_test_results=SimpleNamespace(number_of_loops=lambda: review_request["loop_count"]),
        benchmark_details=None, best_runtime_ns=11992, original_runtime_ns=10937107,
    )  # fmt: skip
    review = client.get_optimization_review(
        original_code={Path("mypkg/sorter.py"): review_request["original_code"]},
        new_code={Path("mypkg/sorter.py"): review_request["optimized_code"]},
        explanation=stand_in, existing_tests_source=review_request["existing_tests"],
        generated_original_test_source=review_request["generated_tests"], function_trace_id=review_request["trace_id"],
        coverage_message=review_request["coverage_message"], replay_tests=review_request["replay_tests"],
        calling_fn_details=review_request["calling_fn_details"], language="python",
    )  # fmt: skip

    features = body("10_ai_log_features")
    logged = client.log_results(
        function_trace_id=features["trace_id"], speedup_ratio=features["speedup_ratio"],
        original_runtime=features["original_runtime"], optimized_runtime=features["optimized_runtime"],
        is_correct=features["is_correct"], optimized_line_profiler_results=features["optimized_line_profiler_results"],
        metadata=features["metadata"], optimizations_post=features["optimizations_post"],
    )  # fmt: skip

    workflow = json.loads(Path(sys.argv[2]).read_text())
    steps = client.generate_workflow_steps(
        repo_files=workflow["repo_files"], directory_structure=workflow["directory_structure"],
        codeflash_config=workflow["codeflash_config"],
    )  # fmt: skip

    # cfapi, on the client's fixed :3001
    from codeflash.api import cfapi  # type: ignore[import-not-found]

    user_id = cfapi.get_user_id()
    app_installed = cfapi.is_github_app_installed_on_repo("fakeowner", "fakerepo", suppress_errors=True)
    success = cfapi.mark_optimization_success(features["trace_id"], is_optimization_found=True)

    print(json.dumps({
        "ranking": ranking, "tie_ranking": tie, "explanation": explanation,
        "review": {"review": review.review, "explanation": review.explanation},
        "log_results": logged, "workflow_steps": steps,
        "cfapi": {"user_id": user_id, "app_installed": app_installed, "mark_as_success": success.status_code},
    }))  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
