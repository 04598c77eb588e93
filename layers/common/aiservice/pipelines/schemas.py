"""The request and response bodies of the candidate endpoints, as the codeflash client sends and reads them
(shared/reference/codeflash-contract.md §2). Requests accept every field the client sends, the nulls it sends,
and ignore fields a newer client may add; responses carry every key the client indexes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ClientRequest(BaseModel):
    """What every codeflash request may carry. Unknown fields are ignored: client versions add them."""

    model_config = ConfigDict(extra="ignore")

    trace_id: str = Field(min_length=1, max_length=200)
    rerun_trace_id: str | None = None
    codeflash_version: str | None = None
    call_sequence: int | None = None
    language: str = "python"
    language_version: str | None = None


class ExperimentMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    group: str | None = None


class OptimizeRequest(ClientRequest):
    """POST /ai/optimize, /ai/optimize-line-profiler and /ai/rewrite_jit."""

    source_code: str = Field(min_length=1, description="CodeStringsMarkdown of the code the model may edit")
    dependency_code: str | None = Field(None, description="read-only context (markdown for Python)")
    n_candidates: int | None = Field(None, ge=0, description="how many candidates to ask for (capped)")
    is_numerical_code: bool | None = None
    is_async: bool | None = None
    experiment_metadata: ExperimentMetadata | None = None
    current_username: str | None = None
    repo_owner: str | None = None
    repo_name: str | None = None
    line_profiler_results: str | None = Field(None, description="/optimize-line-profiler: the profile table")


class RefinementItem(ClientRequest):
    """One element of POST /ai/refinement's JSON list."""

    optimization_id: str = Field(min_length=1)
    original_source_code: str = Field(min_length=1)
    read_only_dependency_code: str | None = None
    original_line_profiler_results: str | None = None
    original_code_runtime: str | None = None
    optimized_source_code: str = Field(min_length=1)
    optimized_explanation: str | None = None
    optimized_line_profiler_results: str | None = None
    optimized_code_runtime: str | None = None
    speedup: str | None = None
    function_references: str | None = None
    additional_context_files: dict[str, str] | None = None


class TestDiff(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scope: str | None = None  # "return_value" | "stdout" | "did_pass"
    original_pass: bool | None = None
    candidate_pass: bool | None = None
    original_value: str | None = None
    candidate_value: str | None = None
    test_src_code: str | None = None
    candidate_pytest_error: str | None = None
    original_pytest_error: str | None = None


class CodeRepairRequest(ClientRequest):
    """POST /ai/code_repair: a candidate that failed the behaviour comparison."""

    optimization_id: str = Field(min_length=1)
    original_source_code: str = Field(min_length=1)
    modified_source_code: str = Field(min_length=1)
    test_diffs: list[TestDiff] = Field(default_factory=list)


CandidateSource = Literal["OPTIMIZE", "OPTIMIZE_LP", "REFINE", "REPAIR", "ADAPTIVE", "JIT_REWRITE"]


class PathCandidate(BaseModel):
    """One candidate on the root-to-node path /ai/adaptive_optimize learns from."""

    model_config = ConfigDict(extra="ignore")

    optimization_id: str = Field(min_length=1)
    source_code: str
    explanation: str | None = None
    source: str | None = None
    speedup: str | None = None  # "Performance gain: N%" or "Candidate didn't match the behavior ..."


class AdaptiveRequest(ClientRequest):
    """POST /ai/adaptive_optimize."""

    original_source_code: str = Field(min_length=1)
    candidates: list[PathCandidate] = Field(min_length=1)


class CandidateOut(BaseModel):
    """A candidate as the client reads it: every one of these keys is indexed (contract §8.5, §8.7)."""

    source_code: str
    explanation: str
    optimization_id: str
    parent_id: str | None = None
    model: str | None = None


class OptimizationsResponse(BaseModel):
    optimizations: list[CandidateOut]


class RefinementsResponse(BaseModel):
    refinements: list[CandidateOut]


# ---------------------------------------------------------------- judgement endpoints and cfapi (issue 8)


class ErrorBody(BaseModel):
    """Every non-2xx answer of the service (contract §1: the client logs `error`)."""

    error: str


class Empty(BaseModel):
    """`{}`: an answer whose body the client ignores."""

    model_config = ConfigDict(extra="forbid")


class CliUserResponse(BaseModel):
    """GET /cfapi/cli-get-user. Without `min_version` the client would take the whole body as the user id."""

    userId: str  # noqa: N815 - the client reads this exact key
    min_version: str


class MarkAsSuccessRequest(BaseModel):
    """POST /cfapi/mark-as-success."""

    model_config = ConfigDict(extra="ignore")

    trace_id: str = Field(min_length=1, max_length=200)
    is_optimization_found: bool = True


class RankRequest(BaseModel):
    """POST /ai/rank: the verified candidates, as parallel lists (contract §2.9)."""

    model_config = ConfigDict(extra="ignore")

    trace_id: str = Field(min_length=1, max_length=200)
    diffs: list[str] = Field(min_length=1, max_length=64, description="unified diff of each candidate")
    speedups: list[float | None] = Field(min_length=1, max_length=64, description="measured 1 + gain of each")
    optimization_ids: list[str] = Field(default_factory=list, max_length=64)
    function_references: str | None = None


class RankResponse(BaseModel):
    ranking: list[int] = Field(description="a permutation of the request's indices, best first")


class ExplainRequest(BaseModel):
    """POST /ai/explain: the winner, its measurements and its tests (contract §2.11). Code is flat text."""

    model_config = ConfigDict(extra="ignore")

    trace_id: str = Field(min_length=1, max_length=200)
    source_code: str = Field(min_length=1)
    optimized_code: str = Field(min_length=1)
    original_line_profiler_results: str | None = None
    optimized_line_profiler_results: str | None = None
    original_code_runtime: str | None = None
    optimized_code_runtime: str | None = None
    speedup: str | None = None
    annotated_tests: str | None = None
    optimization_id: str | None = None
    original_explanation: str | None = None
    dependency_code: str | None = None
    original_throughput: str | None = None
    optimized_throughput: str | None = None
    throughput_improvement: str | None = None
    function_references: str | None = None
    acceptance_reason: str | None = None
    original_concurrency_ratio: str | None = None
    optimized_concurrency_ratio: str | None = None
    concurrency_improvement: str | None = None
    codeflash_version: str | None = None
    call_sequence: int | None = None


class ExplainResponse(BaseModel):
    explanation: str


class ReviewRequest(BaseModel):
    """POST /ai/optimization_review (contract §2.12). Code is raw file contents."""

    model_config = ConfigDict(extra="ignore")

    trace_id: str = Field(min_length=1, max_length=200)
    original_code: str = Field(min_length=1)
    optimized_code: str = Field(min_length=1)
    explanation: str | None = None
    existing_tests: str | None = None
    generated_tests: str | None = None
    coverage_message: str | None = None
    replay_tests: str | None = None
    speedup: str | None = None
    loop_count: int | None = None
    benchmark_details: list[Any] | None = None
    optimized_runtime: str | None = None
    original_runtime: str | None = None
    calling_fn_details: str | None = None
    codeflash_version: str | None = None
    language: str = "python"
    language_version: str | None = None
    call_sequence: int | None = None


Review = Literal["high", "medium", "low"]


class ReviewResponse(BaseModel):
    review: Literal["high", "medium", "low", ""] = Field(description='"" when no usable review could be made')
    review_explanation: str


class CodeflashConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    module_root: str | None = None
    tests_root: str | None = None
    benchmark_mode: bool | None = None


class WorkflowGenRequest(BaseModel):
    """POST /ai/workflow-gen (`codeflash init-actions`): the repository's files the client chose to send."""

    model_config = ConfigDict(extra="ignore")

    repo_files: dict[str, str] = Field(default_factory=dict, description="relative path -> content")
    directory_structure: dict[str, Any] = Field(default_factory=dict)
    codeflash_config: CodeflashConfig = Field(default_factory=CodeflashConfig)


class WorkflowGenResponse(BaseModel):
    workflow_steps: str = Field(description="YAML: `steps:` and the job's steps")


class LogFeaturesRequest(BaseModel):
    """POST /ai/log_features: what the client measured for the trace (contract §2.10). Every field is stored
    as sent (fields a newer client adds too), the code ones only outside privacy mode."""

    model_config = ConfigDict(extra="allow")

    trace_id: str = Field(min_length=1, max_length=200)
    speedup_ratio: dict[str, float | None] | None = None
    original_runtime: int | None = None
    optimized_runtime: dict[str, int | None] | None = None
    is_correct: dict[str, bool | None] | None = None
    codeflash_version: str | None = None
    optimized_line_profiler_results: dict[str, str] | None = None
    metadata: dict[str, object] | None = None
    optimizations_post: dict[str, str] | None = None


# ------------------------------------------------------------------------------------------ test generation


class FunctionParent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str  # "ClassDef" | "FunctionDef" for Python


class FunctionToOptimize(BaseModel):
    """The client's FunctionToOptimize, serialized (contract §3). Only what the prompts use is read."""

    model_config = ConfigDict(extra="ignore")

    function_name: str = Field(min_length=1)
    file_path: str | None = None  # absolute, on the client's machine
    parents: list[FunctionParent] = Field(default_factory=list)
    is_async: bool | None = None
    is_method: bool | None = None
    language: str | None = None

    @property
    def qualified_name(self) -> str:
        return ".".join([*(parent.name for parent in self.parents), self.function_name])

    @property
    def class_name(self) -> str | None:
        classes = [parent.name for parent in self.parents if parent.type == "ClassDef"]
        return classes[-1] if classes else None


class TestsForRequest(ClientRequest):
    """What /ai/testgen and /ai/testgen_repair both say about the function under test and the test file."""

    __test__ = False  # not a pytest test class

    function_to_optimize: FunctionToOptimize | None = None
    helper_function_names: list[str] = Field(default_factory=list)
    module_path: str = Field(min_length=1, description="Python: dotted module; JS/TS: import specifier")
    test_module_path: str = Field(min_length=1, description="Python: the dotted test module the client writes")
    test_framework: str = Field("pytest", min_length=1)
    test_timeout: int | None = Field(15, description="seconds the client allows one test file")
    is_async: bool | None = None
    class_name: str | None = None
    qualified_name: str | None = None
    module_system: str | None = None  # JS/TS: "esm" | "commonjs"

    @property
    def target_name(self) -> str:
        """The qualified name of the function under test ("sort_list", "Sorter.sort")."""
        if self.qualified_name:
            return self.qualified_name
        if self.function_to_optimize is not None:
            return self.function_to_optimize.qualified_name
        return ""

    @property
    def target_class(self) -> str | None:
        if self.class_name:
            return self.class_name
        if self.qualified_name is None and self.function_to_optimize is not None:
            return self.function_to_optimize.class_name
        return None

    @property
    def target_is_async(self) -> bool:
        if self.is_async is not None:
            return self.is_async
        return bool(self.function_to_optimize and self.function_to_optimize.is_async)


class TestgenRequest(TestsForRequest):
    """POST /ai/testgen: regression tests for one function (the client asks for test_index 0 and 1)."""

    __test__ = False

    source_code_being_tested: str = Field(min_length=1, description="markdown of the function and its helpers")
    test_index: int = Field(0, ge=0)
    is_numerical_code: bool | None = None


class TestgenResponse(BaseModel):
    """The three test keys are indexed by the client (a 200 without one crashes it)."""

    __test__ = False

    generated_tests: str
    instrumented_behavior_tests: str
    instrumented_perf_tests: str
    raw_generated_tests: str | None = None


class ReviewedTestFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    test_source: str
    test_index: int
    failed_test_functions: list[str] = Field(default_factory=list)
    failure_messages: dict[str, str] = Field(default_factory=dict)


class TestgenReviewRequest(ClientRequest):
    """POST /ai/testgen_review (client flag --testgen-review)."""

    __test__ = False

    tests: list[ReviewedTestFile] = Field(min_length=1)
    function_source_code: str = ""
    function_name: str = ""
    coverage_summary: str | None = None
    coverage_details: dict[str, object] | None = None


class FunctionToRepair(BaseModel):
    model_config = ConfigDict(extra="ignore")

    function_name: str = Field(min_length=1)
    reason: str | None = None


class TestFileReview(BaseModel):
    """One test file's verdict: the test functions to repair (none: the file is fine)."""

    __test__ = False
    model_config = ConfigDict(extra="ignore")

    test_index: int
    functions: list[FunctionToRepair] = Field(default_factory=list)


class TestgenReviewResponse(BaseModel):
    __test__ = False

    reviews: list[TestFileReview]


class TestgenRepairRequest(TestsForRequest):
    """POST /ai/testgen_repair: rewrite the named test functions of one generated test file."""

    __test__ = False

    test_source: str = Field(min_length=1)
    functions_to_repair: list[FunctionToRepair] = Field(min_length=1)
    function_source_code: str = ""
    module_source_code: str | None = None
    coverage_details: dict[str, object] | None = None
    previous_repair_errors: dict[str, str] | None = None
