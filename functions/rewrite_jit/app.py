"""POST /ai/rewrite_jit: JIT rewrites (numba, torch.compile, jax.jit) where they fit; none where none does."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.optimize import rewrite_jit
from aiservice.pipelines.schemas import OptimizationsResponse, OptimizeRequest
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("rewrite_jit")


@app.post("/ai/rewrite_jit")
def post(request: OptimizeRequest) -> OptimizationsResponse:
    return rewrite_jit(request, request_scope(app))


handler = lambda_handler(app)
