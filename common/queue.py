"""The Celery app both sides share: names, queues and broker settings.

The API only sends tasks by name (it never imports the worker's task code, so
it never imports torch); workers register the tasks in `worker.tasks`. Only
training travels as a Celery task; a worker that consumes `predict` serves
forecasts and figures from threads of its own (worker.lane, worker.figures),
so they never wait behind training.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from rnncast.common.settings import Settings

TRAIN_QUEUE = "train"
PREDICT_QUEUE = "predict"
QUEUES = (TRAIN_QUEUE, PREDICT_QUEUE)
TRAIN_TASK = "rnncast.train"


def make_celery(settings: Settings) -> Celery:
    """A Celery app on the Redis broker, JSON only, named queues only."""
    app = Celery("rnncast", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        task_ignore_result=True,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        task_create_missing_queues=False,
        task_default_queue=TRAIN_QUEUE,
        task_default_exchange=TRAIN_QUEUE,
        task_default_routing_key=TRAIN_QUEUE,
        task_routes={
            TRAIN_TASK: {"queue": TRAIN_QUEUE},
        },
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Training jobs may run for hours: no time limits; lost jobs are found
        # by their heartbeats, not by the broker's redelivery.
        task_time_limit=None,
        task_soft_time_limit=None,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "socket_timeout": 5,
            "socket_connect_timeout": 2,
            # Kombu's Redis pool (default 10) must not make publishing threads queue up.
            "max_connections": 128,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=2,
        # Producers: the API publishes from many threads at once.
        broker_pool_limit=64,
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
