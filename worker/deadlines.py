"""A request's deadline, as the `should_stop` its rollouts ask, and the 503 for work that failed or ran out of time."""

from __future__ import annotations

from typing import Any

from rnncast.common.values import now_ms
from rnncast.core.forecast import RolloutStopped, StopCheck


def deadline_passed(deadline_ms: int) -> StopCheck:
    """A rollout's `should_stop`: true once `deadline_ms` (unix ms, when the API gives up waiting) has passed."""
    return lambda: now_ms() >= deadline_ms


def request_should_stop(request: dict[str, Any]) -> StopCheck | None:
    """`deadline_passed` of a figure-lane request's deadline (service.rpc puts it in every request)."""
    deadline = request.get("deadline_ms")
    return deadline_passed(int(deadline)) if deadline is not None else None


def failure_detail(what: str, exc: BaseException) -> str:
    """A 503's detail for work that failed: a rollout past its deadline, or any other exception (by its
    type only: the message may name paths or keys, which stay in the worker's log)."""
    if isinstance(exc, RolloutStopped):
        return (f"{what} did not finish before the request's deadline (RNNCAST_FORECAST_TIMEOUT) and was stopped; "
                f"ask for less work (a shorter horizon, fewer origins)")
    return f"{what} failed on the worker ({type(exc).__name__}); see the worker's log"


def failure_reply(what: str, exc: BaseException) -> dict[str, Any]:
    """A figure-lane reply for work that failed (`failure_detail`)."""
    return {"ok": False, "status": 503, "detail": failure_detail(what, exc)}
