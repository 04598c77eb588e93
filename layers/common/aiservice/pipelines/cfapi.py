"""The part of cfapi (the codeflash web app's API, `/cfapi/*`) that a self-hosted CLI run needs (contract §6).

- `cli-get-user`: who the key belongs to, and the oldest client version we serve.
- `is-github-app-installed`: the literal `true` only where PR creation is configured (setting
  PR_CREATION_ENABLED). The client exits "GitHub App Required" on anything else unless it runs with --no-pr,
  which is what a self-hosted run without PR creation must use.
- `mark-as-success`: the trace found an optimization; recorded on its features item (the cost report counts it).
- The PR endpoints do not exist yet: they answer 501 with a reason the client logs.

No model calls, nothing billed.
"""

from __future__ import annotations

import os

from aiservice.access import Principal
from aiservice.observability import logger
from aiservice.pipelines.schemas import CliUserResponse, Empty, MarkAsSuccessRequest
from aiservice.store.features import FeaturesStore

# The client exits when its version is older than this; every released client speaks the contract we serve.
MIN_CLIENT_VERSION = "0.0.1"
PR_CREATION_SETTING = "PR_CREATION_ENABLED"

# The cfapi POST endpoints a CLI run may call that this service does not implement (yet).
NOT_IMPLEMENTED = (
    "create-pr",
    "suggest-pr-changes",
    "create-staging",
    "verify-existing-optimizations",
    "is-already-optimized",
    "add-code-hash",
    "send-completion-email",
    "setup-github-actions",
)


def cli_user(principal: Principal) -> CliUserResponse:
    return CliUserResponse(userId=principal.user_id, min_version=MIN_CLIENT_VERSION)


def pr_creation_enabled() -> bool:
    return os.environ.get(PR_CREATION_SETTING, "").strip().lower() in ("1", "true", "yes")


def github_app_installed(owner: str | None, repo: str | None) -> bool:
    """Whether the client may go on in PR mode for owner/repo: only when PR creation is configured."""
    if pr_creation_enabled():
        return True
    logger.info(
        "is-github-app-installed: answering false",
        extra={
            "owner": owner,
            "repo": repo,
            "reason": f"PR creation is not configured on this service ({PR_CREATION_SETTING} is not true), so the "
            "client must run with --no-pr; it exits 'GitHub App Required' otherwise",
        },
    )
    return False


def mark_as_success(request: MarkAsSuccessRequest, principal: Principal) -> Empty:
    if request.is_optimization_found:
        FeaturesStore().mark_success(request.trace_id, principal.user_id, principal.org_id)
    return Empty()


def not_implemented_message(endpoint: str) -> str:
    return (
        f"/cfapi/{endpoint} is not implemented by this self-hosted service: it creates no pull requests, "
        "staging reviews or e-mails. Run codeflash with --no-pr."
    )
