"""The project's numba-compiled code, made ready in one call: the rollout kernel (core.kernel) and GRU's training
layer (core.fastgru).

Compiling them takes ~20 s the first time on a machine (the GRU's forward and backward most of it); numba keeps
the build in its cache (beside the modules, or in NUMBA_CACHE_DIR), from which a later process reads it back in
well under a second. `warm()` is called where that cost belongs, never in a job's or a forecast's time:
`make setup` and the worker image's build run `python -m rnncast.core.compiled` once, and a worker's main
process calls it before it forks the processes that train and serve (they inherit the compiled code).
Where numba is not installed it does nothing (the torch paths run instead).
"""

from __future__ import annotations

import sys
import time

from rnncast.core import fastgru, kernel


def warm() -> float:
    """Compile, or read back from numba's cache, every compiled function; the seconds it took."""
    began = time.monotonic()
    kernel.warm()
    fastgru.warm()
    return time.monotonic() - began


if __name__ == "__main__":
    took = warm()
    ready = f"compiled code ready in {took:.1f} s" if kernel.available() else "numba is not installed: nothing to do"
    sys.stdout.write(ready + "\n")
