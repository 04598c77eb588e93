"""POST /ai/log_features: the client's measurements of a trace, stored on its features item. No model call."""

from __future__ import annotations

from aiservice.http import create_app, lambda_handler, request_scope
from aiservice.pipelines.log_features import log_features
from aiservice.pipelines.schemas import Empty, LogFeaturesRequest

app = create_app()


@app.post("/ai/log_features")
def post(request: LogFeaturesRequest) -> Empty:
    return log_features(request, request_scope(app))


handler = lambda_handler(app)
