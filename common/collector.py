"""The cyclic garbage collector, set for a long-running server process (the API, a predict worker).

Python collects its youngest objects every 700 container allocations, and a request on the hot paths allocates
hundreds (frames, dicts, futures, parsed JSON), nearly all freed by reference counting before any collection
could find them; each collection still walks every young object that is alive at that moment. Collecting
every `YOUNG` allocations instead lets most of them die first, and what start-up made (routes, schemas,
modules, a loaded model) is frozen out of the collector's sight, so the older generations' passes do not walk
it. Measured side by side (two bench/sessions.py stacks, alternating): collecting the young every 20,000
allocations instead of 700 took 10% off the API's CPU per session observe and 5% off the worker's; a py-spy
profile of the API before had 5-8% of its CPU in the collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 20_000  # allocations between collections of the youngest generation (Python's default: 700)
# The older generations keep Python's ratios (one collection of each per 10 of the one below): slowing them too
# (20 and 50) saved nothing measurable side by side, and would leave old cyclic garbage lying longer.


def settle() -> None:
    """Freeze what the process holds now, and collect the young generation less often; call once start-up is
    done, in a process that serves until it exits (a predict worker)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])


@contextmanager
def settled() -> Iterator[None]:
    """`settle` for as long as the block runs (an app's lifespan), then the collector as it was: an app served
    in another process's life (a test's client) leaves nothing frozen behind."""
    before = gc.get_threshold()
    settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
