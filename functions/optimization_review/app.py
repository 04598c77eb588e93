"""POST /ai/optimization_review: high, medium or low ("low" stops the pull request); "" when no usable review."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.judgement import review
from aiservice.pipelines.schemas import ReviewRequest, ReviewResponse
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("optimization_review")


@app.post("/ai/optimization_review")
def post(request: ReviewRequest) -> ReviewResponse:
    return review(request, request_scope(app))


handler = lambda_handler(app)
