"""POST /ai/adaptive_optimize: the next attempt, learnt from the root-to-node path of candidates."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.followups import adaptive_optimize
from aiservice.pipelines.schemas import AdaptiveRequest, CandidateOut
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("adaptive_optimize")


@app.post("/ai/adaptive_optimize")
def post(request: AdaptiveRequest) -> CandidateOut:
    return adaptive_optimize(request, request_scope(app))


handler = lambda_handler(app)
