"""The fields a training job takes, from the declared options (common.options): checked before any HTTP."""

from __future__ import annotations

from typing import Any

from rnncast.common.options import JobOptions, ModelOptions, TrainOptions, spec

# The fields a training job takes besides cell and seed: the declared options (common.options), the data, a name
# and tags.
JOB_FIELDS = frozenset(s.name for cls in (ModelOptions, TrainOptions, JobOptions) for s in spec(cls)) | {
    "data", "name", "tags"}


def job_fields(given: dict[str, Any]) -> dict[str, Any]:
    """The given job fields (None: left to the server), refused before any HTTP when one is not a job field."""
    unknown = sorted(set(given) - JOB_FIELDS)
    if unknown:
        raise TypeError(f"unknown training option(s) {unknown}; the options are {sorted(JOB_FIELDS)}")
    return {k: v for k, v in given.items() if v is not None}
