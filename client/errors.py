"""What the client raises: one tree under RnncastError, each with the server's words."""

from __future__ import annotations

from typing import Any


class RnncastError(Exception):
    """Base of every error this client raises."""

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.detail, self.body = status, detail, body  # body: the whole JSON answer, when one


class ApiUnavailable(RnncastError):
    """The API cannot be reached, or it says a dependency (Redis, workers) is down (503)."""


class NoAnswer(ApiUnavailable):
    """A request that got no answer: the API could not be reached, or the connection went before the answer came
    (not a timeout). An observe that states its count (`after`) is sent again on it."""


class AuthError(RnncastError):
    """The API key is missing or wrong (401)."""


class NotFound(RnncastError):
    """No job, model or comparison has that id (404)."""


class InvalidRequest(RnncastError):
    """The server refused the request's content (413, 422); `detail` holds its reasons."""


class Conflict(RnncastError):
    """The request clashes with the current state, e.g. cancelling a finished job (409)."""


class RateLimited(RnncastError):
    """Too many queued jobs; try again later (429)."""


class JobFailed(RnncastError):
    """A job ended `failed`; `job` holds its record and error."""

    def __init__(self, job: Any) -> None:
        super().__init__(f"job {job.id} failed: {job.error}")
        self.job = job


class JobCancelled(RnncastError):
    """A job ended `cancelled`."""

    def __init__(self, job: Any) -> None:
        super().__init__(f"job {job.id} was cancelled")
        self.job = job


def describe(detail: Any) -> str:
    """A server `detail` as one readable line (FastAPI's 422 lists included)."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)
