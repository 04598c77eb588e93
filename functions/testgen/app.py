"""POST /ai/testgen: regression tests for the function under test."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.schemas import TestgenRequest, TestgenResponse
from aiservice.pipelines.testgen import testgen
from aiservice.pipelines.warmup import register_snapshot_warm_up

app = create_app()
register_snapshot_warm_up("testgen")


@app.post("/ai/testgen")
def post(request: TestgenRequest) -> TestgenResponse:
    return testgen(request, request_scope(app))


handler = lambda_handler(app)
