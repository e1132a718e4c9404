"""The one owner of Redis keys and job state, shared by the API and the workers.

Operations are written once (`*_ops.py`, `comparison_jobs.py`, `admission.py`, as generators
over batches of commands, see `plan`); `sync.JobStore` (workers) and
`aio.AsyncJobStore` (API) only execute them.
"""

from rnncast.common.store.keys import Keys
from rnncast.common.store.status import FINAL, JobStatus

__all__ = ["FINAL", "JobStatus", "Keys"]
