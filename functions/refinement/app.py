"""POST /ai/refinement: one round of refinement per measured winner (the body is a JSON list)."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.followups import refine
from aiservice.pipelines.schemas import RefinementItem, RefinementsResponse
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("refinement")


@app.post("/ai/refinement")
def post(items: list[RefinementItem]) -> RefinementsResponse:
    return refine(items, request_scope(app))


handler = lambda_handler(app)
