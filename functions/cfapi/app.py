"""/cfapi/*: the web-app endpoints a self-hosted codeflash run calls (aiservice.pipelines.cfapi). One function
for all of them: none calls a model, each is a few milliseconds, and the CLI calls them rarely, so one warm
execution environment serves every route instead of eleven cold ones."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from aiservice.http import create_app, error_response, lambda_handler, principal_of
from aiservice.pipelines import cfapi
from aiservice.pipelines.schemas import CliUserResponse, Empty, ErrorBody, MarkAsSuccessRequest

app = create_app()
_NOT_IMPLEMENTED: dict[int, OpenAPIResponse] = {
    501: {"description": "not implemented", "content": {"application/json": {"model": ErrorBody}}}
}


@app.get("/cfapi/cli-get-user")
def cli_get_user() -> CliUserResponse:
    return cfapi.cli_user(principal_of(app))


@app.get(
    "/cfapi/is-github-app-installed",
    responses={
        200: {
            "description": "the literal `true` or `false`",
            "content": {"application/json": {"schema": {"type": "boolean"}}},
        }
    },
)
def is_github_app_installed(
    repo: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
) -> Response[str]:
    installed = cfapi.github_app_installed(owner, repo)
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, "true" if installed else "false")


@app.post("/cfapi/mark-as-success")
def mark_as_success(request: MarkAsSuccessRequest) -> Empty:
    return cfapi.mark_as_success(request, principal_of(app))


def _not_implemented(endpoint: str) -> None:
    def answer() -> Response[str]:
        return error_response(HTTPStatus.NOT_IMPLEMENTED, cfapi.not_implemented_message(endpoint))

    answer.__name__ = f"not_implemented_{endpoint.replace('-', '_')}"
    app.post(f"/cfapi/{endpoint}", responses=_NOT_IMPLEMENTED, summary=f"{endpoint} (not implemented)")(answer)


for _endpoint in cfapi.NOT_IMPLEMENTED:
    _not_implemented(_endpoint)

handler = lambda_handler(app)
