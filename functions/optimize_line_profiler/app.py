"""POST /ai/optimize-line-profiler: candidates guided by the measured line profile."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.optimize import optimize_line_profiler
from aiservice.pipelines.schemas import OptimizationsResponse, OptimizeRequest
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("optimize_line_profiler")


@app.post("/ai/optimize-line-profiler")
def post(request: OptimizeRequest) -> OptimizationsResponse:
    return optimize_line_profiler(request, request_scope(app))


handler = lambda_handler(app)
