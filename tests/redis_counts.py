"""What Redis did for a piece of work, counted by Redis itself (INFO), for a test and a bench to share.

`commands` is every command Redis executed, a script call and the commands it ran each counted (INFO
commandstats); `round_trips` the requests Redis read from its clients (INFO stats' total_reads_processed: a
pipeline of commands is one, a blocking pop is one when it is sent). What runs
at the same time (heartbeats, idle pops timing out) is counted in an idle spell of the same length and taken
off, and so are the INFO calls that do the counting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

_OWN = ("info",)  # the counting's own commands, left out of `commands`


@dataclass(frozen=True)
class Counts:
    commands: float
    round_trips: float

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.commands - other.commands, self.round_trips - other.round_trips)

    def scaled(self, factor: float) -> Counts:
        return Counts(self.commands * factor, self.round_trips * factor)


def snapshot(client: redis.Redis) -> Counts:
    """Redis's counters now (two INFO calls, two reads: taken off by `per_unit`)."""
    stats = client.info("commandstats")
    executed = sum(int(v["calls"]) for k, v in stats.items() if k.removeprefix("cmdstat_") not in _OWN)
    totals = client.info("stats")
    return Counts(executed, int(totals["total_reads_processed"]))


def per_unit(client: redis.Redis, work: Callable[[], None], n: int) -> Counts:
    """What Redis did per call of `work` (run `n` times in a row), less what it does meanwhile when idle."""
    start = snapshot(client)
    t0 = time.monotonic()
    for _ in range(n):
        work()
    busy_s = time.monotonic() - t0
    middle = snapshot(client)
    time.sleep(busy_s)  # an idle spell as long as the work took: the background's share
    end = snapshot(client)
    own = Counts(0, 2)  # one snapshot's INFO calls
    background = end - middle - own
    return (middle - start - own - background).scaled(1 / n)
