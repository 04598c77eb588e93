"""Domain errors. They say what went wrong; aiservice.http alone decides the HTTP status for each."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a client may see. The message is safe to show: it never holds a secret."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    """The request is malformed: bad JSON, a missing or mistyped field."""


class Unauthenticated(ServiceError):
    """No API key, a malformed one, or one we do not know."""


class RateLimited(ServiceError):
    """Too many requests in the user's current rate-limit window."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExceeded(RateLimited):
    """The plan's monthly optimization quota is used up; retry_after_s points at the next month."""


class AllowanceExhausted(ServiceError):
    """A user or org spend allowance cannot cover the worst-case cost of the request."""


class NotSupported(ServiceError):
    """A well-formed request for something this service does not do yet (e.g. a language)."""


class NoValidCandidate(ServiceError):
    """The model answered, but nothing in its reply is a candidate the client could use (the reasons say why)."""


class NotOwner(ServiceError):
    """The request names something (a trace) that another user created: never read or changed for this caller."""
