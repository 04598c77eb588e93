"""POST /ai/workflow-gen: GitHub Actions steps that install the project for codeflash (`codeflash init-actions`)."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.schemas import WorkflowGenRequest, WorkflowGenResponse
from aiservice.pipelines.warmup import register_snapshot_warm_up
from aiservice.pipelines.workflow import workflow_gen

app = create_app()
register_snapshot_warm_up("workflow_gen")


@app.post("/ai/workflow-gen")
def post(request: WorkflowGenRequest) -> WorkflowGenResponse:
    return workflow_gen(request, request_scope(app))


handler = lambda_handler(app)
