"""POST /ai/code_repair: a candidate that changed behaviour, repaired with SEARCH/REPLACE edits."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.followups import code_repair
from aiservice.pipelines.schemas import CandidateOut, CodeRepairRequest
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("code_repair")


@app.post("/ai/code_repair")
def post(request: CodeRepairRequest) -> CandidateOut:
    return code_repair(request, request_scope(app))


handler = lambda_handler(app)
