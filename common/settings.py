"""One validated Settings object for the API, the workers and `rnncast up`."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rnncast.common.defaults import (
    MAX_CONTEXT,
    MAX_EPOCHS,
    MAX_FILTER_SCAN,
    MAX_HORIZON,
    MAX_POINTS,
    MAX_SEEDS,
    MAX_SESSION_TTL_S,
    MIN_POINTS,
)
from rnncast.common.webhooks import Network, parse_networks

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

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis: the broker, the job store and results.")
    redis_password_file: Path | None = Field(None, description=(
        "A file holding Redis's password (a Compose or Docker secret, e.g. /run/secrets/redis_password): it "
        "replaces the password of RNNCAST_REDIS_URL, which then carries none, so the password is in no "
        "environment variable or compose file."))
    data_dir: Path = Field(Path("./.rnncast"), description=(
        "This process's own folder: the artifacts when RNNCAST_ARTIFACTS is unset, the private Redis's AOF "
        "(`rnncast up`), its children's logs (`logs/`), a worker's model cache (`cache/`). A relative path is "
        "resolved once, against the folder the process starts in, and `rnncast up` hands its children the "
        "absolute path."))
    artifacts: str = Field("", description=(
        "Where checkpoints, model files and datasets live: unset for RNNCAST_DATA_DIR, a path or `file://path`, "
        "or `s3://bucket/prefix` (the S3 client reads the standard AWS credential variables: AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_DEFAULT_REGION). Any other scheme stops "
        "start-up."))
    s3_endpoint_url: str | None = Field(None, description=(
        "An S3-compatible server (SeaweedFS, MinIO, ...); unset: AWS."))
    s3_timeout_s: float = Field(30.0, gt=0, le=600, description=(
        "Read timeout of one S3 request, in seconds (connect: 5 s; three tries)."))
    artifact_retry_s: float = Field(300.0, ge=0, description=(
        "How long a worker retries a job's dataset or model read or write while the store is unavailable, "
        "then fails the job saying why (a resume checkpoint is retried while training goes on)."))
    model_disk_cache_bytes: int = Field(1024**3, ge=0, description=(
        "A worker's local copy of the model files it serves from S3, by sha256, under RNNCAST_DATA_DIR/cache; "
        "least recently used evicted (0: none)."))
    api_key: SecretStr | None = Field(None, description=(
        "When set (16 characters at least), every `/v1` request (and `/metrics`) needs `Authorization: Bearer "
        "<key>` or `X-API-Key`, checked before the body is read; unset, only loopback `Host` names are served "
        "(421 otherwise)."))
    metrics_public: bool = Field(False, description="Serve `/metrics` without the key.")
    otel: bool = Field(False, description=(
        "FastAPI's native OpenTelemetry: traces, metrics and logs of each request, to the providers this process "
        "configured (e.g. under `opentelemetry-instrument`). Off, no request looks for providers: that look "
        "costs about 5% of the API's CPU per forecast."))
    trusted_origins: str = Field("", description=(
        "Origins (`scheme://host[:port]`, comma-separated) whose pages may send state-changing requests besides "
        "the API's own: e.g. the public address of a proxy that rewrites Host."))
    auth_failures_per_minute: int = Field(20, ge=0, description=(
        "Wrong API keys one client address may present in a minute before it is answered 429 until the minute "
        "ends (0: no limit)."))
    url: str = Field("http://127.0.0.1:8000", description="Where the client commands go.")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description=(
        "The workers' torch device: `auto` (CUDA when available), `cpu`, `cuda` or `cuda:N`."))
    heartbeat_timeout: float = Field(60.0, ge=5, le=86_400, description=(
        "Seconds without a heartbeat before a running job counts as lost and is handed on."))
    heartbeat_interval: float = Field(5.0, gt=0, le=3_600, description=(
        "Seconds between heartbeats and between recovery passes (at most half the heartbeat timeout)."))
    max_attempts: int = Field(3, ge=1, le=100, description=(
        "Attempts before a job that keeps losing its worker is failed."))

    # Limits on what a client may ask for.
    max_epochs: int = Field(100_000, ge=1, le=MAX_EPOCHS, description=(
        "Cap on a job's `epochs`, up to the ceiling MAX_EPOCHS (checked by the server and stated in its OpenAPI "
        "document)."))
    max_horizon: int = Field(10_000, ge=1, le=MAX_HORIZON, description="Cap on a forecast's `horizon`.")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description=(
        "Request bodies larger than this get 413 (dataset uploads have RNNCAST_MAX_UPLOAD_BYTES)."))
    max_seeds: int = Field(32, ge=1, le=MAX_SEEDS, description="Cap on a comparison's seeds.")
    max_search_candidates: int = Field(12, ge=1, le=100, description=(
        "Candidates one search trains at most (`POST /v1/searches`): a larger grid is sampled by the search's "
        "seed; a request's `max_candidates` above this is 422."))
    max_filter_scan: int = Field(10_000, ge=1, le=MAX_FILTER_SCAN, description=(
        "Ids one page of a list filtered by two or more filters examines at most (its count too): past it, the "
        "count is a lower bound (`count_exact: false`), a page left short (an offset at or past it too) says "
        "`truncated: true`. Up to the ceiling MAX_FILTER_SCAN."))
    max_queued_jobs: int = Field(10_000, ge=1, description="More queued jobs than this get 429.")
    max_train_cost: float = Field(3e13, gt=0, description=(
        "A job's estimated work (`train_cost`) above this is 422 with the estimate; the default "
        "admits the tutorial's defaults at the epochs cap."))
    max_job_seconds: float = Field(86_400.0, gt=0, description=(
        "A job running longer than this (since its first start) stops within a second and fails, keeping its last "
        "checkpoint; a job's own `max_seconds` can only be lower."))
    max_train_memory: float = Field(default_factory=lambda: host_memory() / 4, gt=0, description=(
        "A job's estimated peak memory in bytes (`train_memory`) above this is 422 with the "
        "estimate. The default is a quarter of this host's memory: set it to the training hosts' budget where "
        "they differ from the API's."))
    retention_days: float = Field(30.0, ge=0, description=(
        "Ended jobs and comparisons (records, history, events, checkpoints) are deleted this long after they end "
        "(0: kept forever; fractions allowed). Models stay until deleted."))

    # Workers.
    torch_threads: int = Field(1, ge=1, le=256, description="Intra-op torch threads per worker process.")
    flush_denormal: bool = Field(True, description=(
        "Flush denormal floats to zero in workers: denormals make small recurrent layers several times slower on "
        "x86 CPUs early in training, and flushing them costs no accuracy here."))
    model_cache_size: int = Field(16, ge=1, le=10_000, description="Models a forecast worker keeps loaded (LRU).")
    forecast_timeout: float = Field(30.0, gt=0, le=600, description=(
        "Seconds the API waits for a forecast or a figure from a worker (then 503)."))
    batch_window_ms: float = Field(0.0, ge=0, le=1_000, description=(
        "How long a forecast waits for others to batch with (0: no waiting; requests that arrive while a batch "
        "computes form the next one)."))
    max_batch: int = Field(256, ge=1, le=100_000, description="The largest forecast batch.")
    max_queued_forecasts: int = Field(10_000, ge=1, le=10_000_000, description=(
        "Forecast requests waiting on the forecast lane in Redis; beyond, 429 with Retry-After."))
    max_queued_figures: int = Field(1_000, ge=1, le=1_000_000, description=(
        "Figure, backtest and ensemble requests waiting on the figure lane in Redis; beyond, 429 with Retry-After."))
    forecast_threads: int = Field(2, ge=0, le=256, description=(
        "Threads of a predict worker that pop and compute forecast batches side by side (the rollout kernel "
        "releases the GIL): while one computes a batch, the next computes the requests that came meanwhile. "
        "0: one per CPU the process may use. Two served more forecasts than one at 64 clients on this project's "
        "2-vCPU machine, in smaller batches (docs/performance.md); the gain is the compiled kernel's (models it "
        "does not run hold the GIL between torch's ops), and more threads split the batches further, so raise "
        "it only with cores to spare."))
    max_forecast_work: float = Field(1e11, gt=0, description=(
        "Work in one rollout (`forecast_work`, calibrated to measured time: about 8e10 a second on one core of "
        "the development machine), for every path that runs one (forecasts, figures, backtests per origin and 50x "
        "that in all, ensembles over all their models, a comparison's forecasts at creation): larger batches are "
        "split, a request larger alone is 422 with the estimate. The default admits the defaults' model (LSTM, 20 "
        "hidden, windows of 80) at the largest batch of 100-step forecasts (4.5e10) with room."))
    max_context: int = Field(10_000, ge=1, le=MAX_CONTEXT, description=(
        "Values in one forecast's `context` (422 above; the schema's `maxItems`); a forecast's body may be 32 "
        "bytes a value plus 16 kB (413 above)."))
    max_session_ttl_s: int = Field(86_400, ge=1, le=MAX_SESSION_TTL_S, description=(
        "The longest `ttl_s` a streaming session may ask for (422 above): seconds it lives after its last "
        "observe (its state is a few hundred bytes in Redis)."))
    max_dataset_points: int = Field(MAX_POINTS, ge=MIN_POINTS, le=MAX_POINTS, description=(
        "Values in one dataset (422 above, naming the count)."))
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024, description=(
        "The body limit of `POST /v1/datasets` and `POST /v1/models` (a model import, whose members may not "
        "inflate past it either) only (413 above); every other endpoint keeps RNNCAST_MAX_BODY_BYTES."))
    max_models: int = Field(10_000, ge=1, description=(
        "Models kept plus jobs queued or running (each of which makes one); 429 beyond."))
    max_model_bytes: float = Field(50 * 1024**3, gt=0, description="Bytes of all model files (507 beyond).")
    max_datasets: int = Field(10_000, ge=1, description="Datasets kept (429 beyond).")
    max_dataset_bytes: float = Field(20 * 1024**3, gt=0, description="Bytes of all datasets' values (507 beyond).")
    min_free_disk_bytes: float = Field(1024**3, ge=0, description=(
        "Free space a local artifact folder keeps: writes that would leave less are refused (507; a job fails "
        "saying so), which also leaves room for the private Redis's AOF on the same disk."))
    max_concurrent_uploads: int = Field(4, ge=1, le=1_000, description=(
        "Dataset uploads and model imports one API process reads at once; beyond, 429 with Retry-After before the "
        "body is read. With RNNCAST_MAX_UPLOAD_BYTES it bounds the memory uploads can take."))
    body_grace_s: float = Field(10.0, gt=0, le=3_600, description=(
        "Seconds any request body may take before RNNCAST_MIN_BODY_RATE applies."))
    min_body_rate: float = Field(64 * 1024, gt=0, description=(
        "Bytes a second a request body must keep arriving at, counted from its start after RNNCAST_BODY_GRACE_S "
        "(408 and the connection closed below): a slow or idle upload does not hold its slot."))
    max_connections: int = Field(1024, ge=8, le=1_000_000, description=(
        "Connections and requests one API process serves at once (uvicorn's `limit_concurrency`); beyond, 503. "
        "Must exceed RNNCAST_MAX_EVENT_STREAMS plus RNNCAST_MAX_SESSION_STREAMS."))
    keep_alive_s: int = Field(5, ge=1, le=300, description=(
        "Seconds an idle keep-alive connection stays open: long enough for a client's next request, short "
        "enough that idle clients do not hold RNNCAST_MAX_CONNECTIONS."))
    forwarded_allow_ips: str = Field("", description=(
        "Proxies (addresses or networks, comma-separated; `*` for any) whose `X-Forwarded-For` and "
        "`X-Forwarded-Proto` the API believes; unset: none, the client address is the connection's peer. Name "
        "only your own reverse proxy: a client that may set the header chooses its address (and dodges the "
        "wrong-key throttle)."))
    api_store_threads: int = Field(8, ge=1, le=256, description=(
        "Artifact store calls (dataset writes and reads, file deletes) one API process runs at once, on threads "
        "of their own; beyond, 503 at once: a slow store never takes the threads job submission uses."))
    api_store_timeout_s: float = Field(10.0, gt=0, le=600, description=(
        "Seconds the API waits on one artifact store call (then 503); the API's S3 requests time out as soon."))
    max_event_streams: int = Field(256, ge=1, le=100_000, description=(
        "Open `/events` streams per API process (429 with Retry-After beyond)."))
    max_session_streams: int = Field(256, ge=1, le=100_000, description=(
        "Open session streams (`/v1/sessions/{id}/stream`, a WebSocket each) per API process (429 with Retry-After "
        "on the upgrade beyond)."))
    session_stream_idle_s: float = Field(120.0, gt=0, le=86_400, description=(
        "A session stream with no message from its client for this many seconds is closed (code 4408: the client "
        "may open it again), and a connection whose client takes no answer for as long is dropped; its session "
        "lives on, to its own time to live."))
    event_stream_max_s: float = Field(3600.0, gt=0, description=(
        "A stream ends after this many seconds; browsers' EventSource and rnncast's client resume it with "
        "Last-Event-ID."))
    visibility_timeout: float = Field(7 * 86_400, ge=60, description=(
        "The broker's redelivery of unacknowledged tasks, in seconds (must exceed the heartbeat timeout). "
        "Recovery of lost jobs uses heartbeats instead, so this only needs to exceed the longest job."))

    # Webhooks (`/v1/webhooks`): limits, the URL guard, and how the workers' sender delivers.
    max_webhooks: int = Field(100, ge=1, le=100_000, description="Webhook subscriptions kept (429 beyond).")
    max_webhook_url_length: int = Field(2048, ge=16, le=65_536, description="The longest webhook URL accepted.")
    webhook_allow_private: bool = Field(False, description=(
        "Let webhooks go to loopback, private, link-local and other non-public addresses (a receiver on the "
        "host's own network). Off, such a URL is refused at subscription (422) and at every delivery."))
    webhook_allowed_networks: str = Field("", description=(
        "CIDRs (comma-separated, e.g. `10.1.2.0/24`) webhooks may reach although not public: a narrower "
        "allowance than RNNCAST_WEBHOOK_ALLOW_PRIVATE."))
    webhook_timeout_s: float = Field(10.0, gt=0, le=300, description=(
        "How long the sender waits for a receiver's answer (connect and read); then the attempt failed."))
    webhook_max_attempts: int = Field(8, ge=1, le=100, description=(
        "Attempts at a delivery before it is marked failed."))
    webhook_backoff_s: float = Field(10.0, gt=0, le=86_400, description=(
        "The wait before a failed delivery's first retry; it doubles with each attempt, with random jitter "
        "(up to half of it), up to RNNCAST_WEBHOOK_BACKOFF_MAX_S."))
    webhook_backoff_max_s: float = Field(3600.0, gt=0, le=7 * 86_400, description="The longest wait between retries.")
    webhook_lease_s: float = Field(60.0, ge=1, le=86_400, description=(
        "A sender's claim on a delivery: if it dies mid-delivery, another sends it again after this long "
        "(same delivery id). Must exceed RNNCAST_WEBHOOK_TIMEOUT_S."))

    @field_validator("forecast_threads")
    @classmethod
    def _threads_per_core(cls, value: int) -> int:
        if value:
            return value
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("artifacts")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if sep and scheme not in ("file", "s3"):
            raise ValueError(f"RNNCAST_ARTIFACTS ({value!r}) has an unknown scheme {scheme!r}: "
                             "use a path, file://path or s3://bucket/prefix")
        if sep and not rest.strip("/"):
            raise ValueError(f"RNNCAST_ARTIFACTS ({value!r}) names no folder or bucket")
        if value and scheme != "s3":  # a local folder: resolved once, like the data folder
            return str(Path(value.removeprefix("file://")).expanduser().resolve())
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

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"RNNCAST_WEBHOOK_ALLOWED_NETWORKS ({value!r}): {exc}") from None
        return value

    @property
    def webhook_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.webhook_allowed_networks)

    @property
    def trusted_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip().lower().rstrip("/") for o in self.trusted_origins.split(",") if o.strip())

    @model_validator(mode="after")
    def _redis_password(self) -> Settings:
        if self.redis_password_file is not None:
            try:
                password = self.redis_password_file.read_text().rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"RNNCAST_REDIS_PASSWORD_FILE ({self.redis_password_file}) cannot be read: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
            if not password:
                raise ValueError(f"RNNCAST_REDIS_PASSWORD_FILE ({self.redis_password_file}) is empty")
            self.redis_url = with_password(self.redis_url, password)
        return self

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
        if self.webhook_lease_s <= self.webhook_timeout_s:
            raise ValueError(
                f"webhook_lease_s ({self.webhook_lease_s}) must exceed webhook_timeout_s ({self.webhook_timeout_s})"
            )
        if self.max_connections <= self.max_event_streams + self.max_session_streams:
            raise ValueError(
                f"max_connections ({self.max_connections}) must exceed max_event_streams ({self.max_event_streams}) "
                f"plus max_session_streams ({self.max_session_streams})"
            )
        return self


def with_password(url: str, password: str) -> str:
    """`url` (redis://[user[:password]@]host...) with `password` in place of its own."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0] if at else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{hostport}"))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
