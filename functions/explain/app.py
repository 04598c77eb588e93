"""POST /ai/explain: the pull request's description of the winner, every figure taken from the request."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.judgement import explain
from aiservice.pipelines.schemas import ExplainRequest, ExplainResponse
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("explain")


@app.post("/ai/explain")
def post(request: ExplainRequest) -> ExplainResponse:
    return explain(request, request_scope(app))


handler = lambda_handler(app)
