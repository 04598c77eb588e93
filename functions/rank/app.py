"""POST /ai/rank: the verified candidates, best first (always a permutation of the request's indices)."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.judgement import rank
from aiservice.pipelines.schemas import RankRequest, RankResponse
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("rank")


@app.post("/ai/rank")
def post(request: RankRequest) -> RankResponse:
    return rank(request, request_scope(app))


handler = lambda_handler(app)
