"""The one owner of Redis keys and job state, shared by the API and the workers."""

from common.store.base import FINAL, ID_RE, JobStatus, Keys, is_id, now_iso

__all__ = ["FINAL", "ID_RE", "JobStatus", "Keys", "is_id", "now_iso"]
