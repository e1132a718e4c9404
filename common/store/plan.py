"""Store operations written once, run by either store.

An operation is a generator: it yields a `Batch` of Redis commands, receives
their replies, and returns its result. The sync store (workers) and the async
store (API) only execute batches, so each operation has one body whichever
side calls it, as redis-py's own sync and async clients share their command
definitions.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One Redis command: a redis-py client method, or a script from `scripts.SCRIPTS`."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    script: str | None = None


@dataclass(frozen=True)
class Batch:
    """Commands sent together.

    Args:
        atomic: as one MULTI/EXEC transaction.
        block_s: a blocking read that may wait this long (the API runs it on its blocking pool).
        stream: the blocking read of an event stream (the API's pool for those).
    """

    calls: tuple[Call, ...]
    atomic: bool = False
    block_s: float | None = None
    stream: bool = False


Op = Generator[Batch, list[Any], T]


def cmd(name: str, *args: Any, **kwargs: Any) -> Call:
    return Call(name, args, kwargs)


def script(name: str, keys: list[str], args: list[Any]) -> Call:
    return Call("evalsha", (keys, args), script=name)


def batch(*calls: Call, atomic: bool = False, block_s: float | None = None, stream: bool = False) -> Batch:
    return Batch(tuple(calls), atomic, block_s, stream)


def one(call: Call, block_s: float | None = None, stream: bool = False) -> Op[Any]:
    """An operation of a single command: its reply."""
    return (yield batch(call, block_s=block_s, stream=stream))[0]


def advance(op: Op[T], replies: list[Any] | None) -> tuple[Batch | None, T | None]:
    """Feed `replies` to `op`: its next batch, or (None, its result) once it is done."""
    try:
        return op.send(replies), None  # type: ignore[arg-type]  # the first send must be None
    except StopIteration as done:
        return None, done.value
