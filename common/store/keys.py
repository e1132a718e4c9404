"""Every Redis key the project uses, and the ids that go into them."""

from __future__ import annotations

PREFIX = "rnncast:"
EVENTS_MAXLEN = 2_000  # events kept per job (approximately: XADD MAXLEN ~); a stream resumes within them
# Epochs kept in a job's history: past it, every other older entry goes (the history thins evenly,
# the first and the newest epoch stay); the checkpoint and the model keep the whole record.
HISTORY_MAXLEN = 4_000
IDEMPOTENCY_TTL_S = 24 * 3600
FIGURE_REPLY_TTL_S = 120  # a figure's reply key, if the API stopped waiting for it
WEBHOOK_DELIVERIES_KEPT = 100  # a subscription's recent deliveries listed (older ones leave its index)
DELIVERY_TTL_S = 7 * 86_400  # an ended (delivered or failed) delivery's record is kept this long


class Keys:
    """Every Redis key the project uses."""

    jobs = PREFIX + "jobs"
    comparisons = PREFIX + "comparisons"
    # Searches: comparisons over candidate configurations (common.search), listed apart.
    searches = PREFIX + "searches"
    models = PREFIX + "models"
    datasets = PREFIX + "datasets"
    # Bytes each model's checkpoint and each dataset's values take: the quotas' running account.
    model_bytes = PREFIX + "models:bytes"
    dataset_bytes = PREFIX + "datasets:bytes"
    # Bytes each queued or running job's model is estimated to take: reserved when the job is admitted, gone
    # when it ends (its saved model is then in `model_bytes` at its real size) or is deleted.
    model_reservations = PREFIX + "models:reserved"
    # Each account's sum (field: the account's key), changed with the account by the same script, so admission
    # reads one number instead of summing. A missing field means "to be recounted" (records from before it).
    quota_totals = PREFIX + "quota:totals"
    workers = PREFIX + "workers"
    # What each worker in `workers` said of itself at its last heartbeat (JSON: queues, device, memory, GPU use,
    # data folder and artifact store): /readyz, /metrics and `rnncast doctor` read it.
    worker_info = PREFIX + "workers:info"
    # The artifact store the API processes use (their RNNCAST_ARTIFACTS, or data folder, as a URL): a worker
    # started with another one says so and stops.
    api_artifacts = PREFIX + "api:artifacts"
    # Lane threads of the predict workers ("<host>:<pid>/<thread>"): "<Redis time> <1 serving | 0 not>".
    lanes = PREFIX + "lanes"
    # Ended jobs (not comparison runs) and ended comparisons, scored by their end
    # time (ms, Redis's clock): what retention deletes, oldest first.
    ended_jobs = PREFIX + "ended:jobs"
    ended_comparisons = PREFIX + "ended:comparisons"
    # Set once the records that ended before those indexes existed are in them.
    ended_indexed = PREFIX + "ended:indexed"
    # Set once the records created before the id indexes (`by_id`) existed are in them (":2": since webhooks
    # and searches have one too; a Redis marked before enters them again, once).
    ids_indexed = PREFIX + "ids:indexed:2"
    # Set once the records stored before their facets (`labels`, `facet`) existed are in them.
    labels_indexed = PREFIX + "labels:indexed"
    # Forecasts: API processes push requests here, predict workers pop them in batches.
    forecasts = PREFIX + "forecasts"
    # Figures: API processes push requests here, a thread in every predict worker process pops them.
    figures = PREFIX + "figures"

    # Webhooks: subscriptions by creation time (ms), and the outbox: every pending delivery by when it is due
    # (ms, Redis's clock; a claimed one by when its sender's lease ends).
    webhooks = PREFIX + "webhooks"
    deliveries_due = PREFIX + "deliveries:due"

    # Aliases (common.aliases): every alias by creation time (ms); and the models being deleted, which no alias
    # may move onto (their files may be gone already).
    aliases = PREFIX + "aliases"
    models_deleting = PREFIX + "models:deleting"
    # Each alias name's moves counted over its whole life (deleting an alias keeps its count): a move's number,
    # and so its webhook delivery's subject (`<name>#<n>`), is never used twice.
    alias_moves = PREFIX + "aliases:moves"

    @staticmethod
    def alias(name: str) -> str:
        """An alias: a hash of its name, model_id, moves (a count), created_at and moved_at."""
        return f"{PREFIX}alias:{name}"

    @staticmethod
    def alias_history(name: str) -> str:
        """An alias's moves, oldest first (JSON each, with the evidence that allowed it)."""
        return f"{PREFIX}alias:{name}:history"

    @staticmethod
    def model_aliases(model_id: str) -> str:
        """The aliases pointing at a model (a set of names): a model with one is not deleted."""
        return f"{PREFIX}model:{model_id}:aliases"

    @staticmethod
    def model_unaliased(model_id: str) -> str:
        """Set, for a grace period, when an alias leaves a model: requests that resolved the alias to it may
        still be in flight, so it is not deleted yet."""
        return f"{PREFIX}model:{model_id}:unaliased"

    @staticmethod
    def webhook(webhook_id: str) -> str:
        return f"{PREFIX}webhook:{webhook_id}"

    @staticmethod
    def webhooks_on(event: str) -> str:
        """The subscriptions to `event` (a set of ids)."""
        return f"{PREFIX}webhooks:on:{event}"

    @staticmethod
    def webhook_deliveries(webhook_id: str) -> str:
        """A subscription's recent deliveries, by creation time (ms)."""
        return f"{PREFIX}webhook:{webhook_id}:deliveries"

    @staticmethod
    def delivery(delivery_id: str) -> str:
        return f"{PREFIX}delivery:{delivery_id}"

    @staticmethod
    def by_id(index: str) -> str:
        """The ids of a creation index (`jobs`, `models`, `comparisons`, `datasets`), all scored 0 so that they
        sort by id: an id's prefix finds its ids (ZRANGEBYLEX). Kept with the index by the same scripts."""
        return f"{index}:by-id"

    @staticmethod
    def labels(index: str) -> str:
        """A creation index's records' facets ("kind=value": name, tag, cell, dataset, status; a hash: id -> JSON
        array), kept by the scripts that index them (`label_lua`) so that removing a record removes its facets."""
        return f"{index}:labels"

    @staticmethod
    def facet(index: str, facet: str) -> str:
        """The records of a creation index that have `facet` ("tag=prod"), scored as in the index."""
        return f"{index}:f:{facet}"

    @staticmethod
    def job(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def history(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}:history"

    @staticmethod
    def view(job_id: str) -> str:
        """A finished job's public JSON, rendered once (finished jobs never change)."""
        return f"{PREFIX}job:{job_id}:view"

    @staticmethod
    def events(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}:events"

    @staticmethod
    def jobs_by_status(status: str) -> str:
        return f"{PREFIX}jobs:{status}"

    @staticmethod
    def idempotency(scope: str, key: str) -> str:
        return f"{PREFIX}idem:{scope}:{key}"

    @staticmethod
    def model(model_id: str) -> str:
        return f"{PREFIX}model:{model_id}"

    @staticmethod
    def dataset(dataset_id: str) -> str:
        return f"{PREFIX}dataset:{dataset_id}"

    @staticmethod
    def dataset_users(dataset_id: str) -> str:
        """Jobs created to train on the dataset; a job leaves when it is deleted or expires
        (and ended ones when the dataset is deleted)."""
        return f"{PREFIX}dataset-users:{dataset_id}"

    @staticmethod
    def comparison(comparison_id: str) -> str:
        return f"{PREFIX}comparison:{comparison_id}"

    @staticmethod
    def reply(request_id: str) -> str:
        """Where a worker answers one figure request."""
        return f"{PREFIX}reply:{request_id}"

    @staticmethod
    def session(session_id: str) -> str:
        """A streaming session's state (common.sessions): a hash with a time to live."""
        return f"{PREFIX}session:{session_id}"

    @staticmethod
    def replies(inbox: str) -> str:
        """One API process's inbox for forecast answers."""
        return f"{PREFIX}replies:{inbox}"
