"""POST /ai/testgen_repair: the flagged generated tests, repaired and instrumented again."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.schemas import TestgenRepairRequest, TestgenResponse
from aiservice.pipelines.testgen import testgen_repair
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("testgen_repair")


@app.post("/ai/testgen_repair")
def post(request: TestgenRepairRequest) -> TestgenResponse:
    return testgen_repair(request, request_scope(app))


handler = lambda_handler(app)
