"""POST /ai/optimize: first-pass candidates for the request's code."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.optimize import optimize
from aiservice.pipelines.schemas import OptimizationsResponse, OptimizeRequest
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("optimize")


@app.post("/ai/optimize")
def post(request: OptimizeRequest) -> OptimizationsResponse:
    return optimize(request, request_scope(app))


handler = lambda_handler(app)
