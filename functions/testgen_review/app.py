"""POST /ai/testgen_review: a review of the generated tests: which test functions to repair."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.schemas import TestgenReviewRequest, TestgenReviewResponse
from aiservice.pipelines.testgen import testgen_review
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("testgen_review")


@app.post("/ai/testgen_review")
def post(request: TestgenReviewRequest) -> TestgenReviewResponse:
    return testgen_review(request, request_scope(app))


handler = lambda_handler(app)
