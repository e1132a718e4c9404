"""What both stores share: binding operations as methods, and sending one command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from rnncast.common.store.plan import Call, Op

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound="Runner")
A = TypeVar("A", bound="AsyncRunner")


class Runner:
    def run(self, op: Op[T]) -> T:
        raise NotImplementedError


class AsyncRunner:
    async def run(self, op: Op[T]) -> T:
        raise NotImplementedError


def sync_op(operation: Callable[P, Op[T]]) -> Callable[Concatenate[S, P], T]:
    """`operation` as a method of a sync store: runs it there."""

    def method(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.run(operation(*args, **kwargs))

    method.__doc__, method.__name__ = operation.__doc__, operation.__name__
    return method


def async_op(operation: Callable[P, Op[T]]) -> Callable[Concatenate[A, P], Awaitable[T]]:
    """`operation` as a method of the async store: runs it there."""

    async def method(self: A, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.run(operation(*args, **kwargs))

    method.__doc__, method.__name__ = operation.__doc__, operation.__name__
    return method


def send(client: Any, call: Call, scripts: dict[str, Any]) -> Any:
    """Issue `call` on a client or pipeline (for the async client: an awaitable)."""
    if call.script is not None:
        keys, args = call.args
        return scripts[call.script](keys=keys, args=args, client=client)
    return getattr(client, call.name)(*call.args, **call.kwargs)
