"""One validated Settings object for the API, the workers and `rnncast up`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rnncast.common.defaults import MAX_CONTEXT, MAX_EPOCHS, MAX_HORIZON, MAX_POINTS, MAX_SEEDS, MIN_POINTS

MIN_KEY_LENGTH = 16


def host_memory() -> int:
    """This host's physical memory in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small host
        return 8 * 1024**3


class Settings(BaseSettings):
    """Environment settings, prefix `RNNCAST_`; nonsense fails at start-up."""

    model_config = SettingsConfigDict(env_prefix="RNNCAST_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = Path("./.rnncast")
    # Where checkpoints, model files and datasets live (common.artifacts): unset for
    # RNNCAST_DATA_DIR, a path or file://path, or s3://bucket/prefix; the S3 client
    # reads the standard AWS credential variables.
    artifacts: str = ""
    s3_endpoint_url: str | None = None  # an S3-compatible server (SeaweedFS, MinIO); unset: AWS
    s3_timeout_s: float = Field(30.0, gt=0, le=600)
    # How long a worker retries a write or read while the store is unavailable before the
    # job fails (a resume checkpoint is retried while training goes on).
    artifact_retry_s: float = Field(300.0, ge=0)
    # A worker's local copy of the model files it serves from S3 (under RNNCAST_DATA_DIR/cache).
    model_disk_cache_bytes: int = Field(1024**3, ge=0)
    api_key: SecretStr | None = None
    metrics_public: bool = False  # serve /metrics without the key
    # Origins (scheme://host[:port], comma-separated) whose pages may send state-changing requests
    # besides the API's own: e.g. the public address of a proxy that rewrites Host.
    trusted_origins: str = ""
    # Wrong API keys one client address may present in a minute before it is answered 429 (0: no limit).
    auth_failures_per_minute: int = Field(20, ge=0)
    url: str = "http://127.0.0.1:8000"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    heartbeat_timeout: float = Field(60.0, ge=5, le=86_400)
    heartbeat_interval: float = Field(5.0, gt=0, le=3_600)
    max_attempts: int = Field(3, ge=1, le=100)

    # Limits on what a client may ask for.
    max_epochs: int = Field(100_000, ge=1, le=MAX_EPOCHS)
    max_horizon: int = Field(10_000, ge=1, le=MAX_HORIZON)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_seeds: int = Field(32, ge=1, le=MAX_SEEDS)
    max_queued_jobs: int = Field(10_000, ge=1)
    # A job's estimated work (common.defaults.train_cost); the default admits the
    # tutorial's defaults at the epochs cap.
    max_train_cost: float = Field(3e13, gt=0)
    max_job_seconds: float = Field(86_400.0, gt=0)  # a running job stops and fails past it
    # A job's estimated peak memory in bytes (common.defaults.train_memory); the default is a quarter
    # of this host's memory: set it to the training hosts' budget where they differ.
    max_train_memory: float = Field(default_factory=lambda: host_memory() / 4, gt=0)
    # Ended jobs and comparisons are deleted this long after they end (0: kept
    # forever); models stay until deleted. Fractions allowed.
    retention_days: float = Field(30.0, ge=0)

    # Workers.
    torch_threads: int = Field(1, ge=1, le=256)
    # Denormal floats make small recurrent layers several times slower on x86
    # CPUs early in training; flushing them to zero costs no accuracy here.
    flush_denormal: bool = True
    model_cache_size: int = Field(16, ge=1, le=10_000)
    forecast_timeout: float = Field(30.0, gt=0, le=600)
    # 0: no waiting; requests that arrive while a batch computes form the next one.
    batch_window_ms: float = Field(0.0, ge=0, le=1_000)
    max_batch: int = Field(256, ge=1, le=100_000)
    # Requests waiting on the forecast and figure lanes in Redis; beyond, 429 with Retry-After.
    max_queued_forecasts: int = Field(10_000, ge=1, le=10_000_000)
    max_queued_figures: int = Field(1_000, ge=1, le=1_000_000)
    # Threads of a predict worker that pop and compute forecast batches side by side (a
    # rollout releases the GIL): raise it on a host with cores to spare; on this project's
    # 2-vCPU machine a second thread added nothing (each rollout ran at half speed).
    # 0: one per CPU the process may use.
    forecast_threads: int = Field(1, ge=0, le=256)
    # Work in one rollout (common.defaults.forecast_work), for every path that runs one
    # (forecasts, figures, backtests, ensembles, a comparison's forecasts): larger batches
    # are split, a request larger alone is 422. The default admits the defaults' model
    # (LSTM, 20 hidden, windows of 80) at max_batch rows of 100 steps (3.3e9) with room.
    max_forecast_work: float = Field(5e9, gt=0)
    max_context: int = Field(10_000, ge=1, le=MAX_CONTEXT)  # values in one forecast's `context`
    # Datasets: values in one, and the body limit of POST /v1/datasets (uploads only).
    max_dataset_points: int = Field(MAX_POINTS, ge=MIN_POINTS, le=MAX_POINTS)
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    # Quotas: models (counting the jobs that will make one) and datasets kept, and the bytes of
    # their files (429 past a count, 507 past the bytes); a local artifact folder must keep
    # min_free_disk_bytes free (writes that would not are refused), the private Redis's AOF too.
    max_models: int = Field(10_000, ge=1)
    max_model_bytes: float = Field(50 * 1024**3, gt=0)
    max_datasets: int = Field(10_000, ge=1)
    max_dataset_bytes: float = Field(20 * 1024**3, gt=0)
    min_free_disk_bytes: float = Field(1024**3, ge=0)
    # Open /events streams per API process (429 beyond), and how long one lasts
    # before the client resumes it with Last-Event-ID.
    max_event_streams: int = Field(256, ge=1, le=100_000)
    event_stream_max_s: float = Field(3600.0, gt=0)
    # Broker redelivery of unacknowledged tasks; recovery of lost jobs uses
    # heartbeats instead, so this only needs to exceed the longest job.
    visibility_timeout: float = Field(7 * 86_400, ge=60)

    @field_validator("forecast_threads")
    @classmethod
    def _threads_per_core(cls, value: int) -> int:
        if value:
            return value
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)

    @field_validator("artifacts")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if sep and scheme not in ("file", "s3"):
            raise ValueError(f"RNNCAST_ARTIFACTS ({value!r}) has an unknown scheme {scheme!r}: "
                             "use a path, file://path or s3://bucket/prefix")
        if sep and not rest.strip("/"):
            raise ValueError(f"RNNCAST_ARTIFACTS ({value!r}) names no folder or bucket")
        return value

    @property
    def artifacts_url(self) -> str:
        """RNNCAST_ARTIFACTS, or the data folder when unset."""
        return self.artifacts or str(self.data_dir)

    @property
    def cache_dir(self) -> Path:
        """This process's scratch space for copies of artifacts (never shared between hosts)."""
        return self.data_dir / "cache"

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"RNNCAST_API_KEY must be at least {MIN_KEY_LENGTH} characters "
                             "(e.g. openssl rand -hex 32)")
        return value

    @property
    def trusted_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip().lower().rstrip("/") for o in self.trusted_origins.split(",") if o.strip())

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.heartbeat_interval * 2 > self.heartbeat_timeout:
            raise ValueError(
                f"heartbeat_interval ({self.heartbeat_interval}) must be at most half of "
                f"heartbeat_timeout ({self.heartbeat_timeout})"
            )
        if self.visibility_timeout <= self.heartbeat_timeout:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout}) must exceed "
                f"heartbeat_timeout ({self.heartbeat_timeout})"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
