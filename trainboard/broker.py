"""The Celery app as both sides configure it from the settings: the API sends "train run X" with
it, the worker (`worker.celery_app`) consumes with it. Imports Celery, not torch.

With no broker set, the embedded one: kombu's SQLAlchemy transport on a SQLite file.

Both brokers poll a worker's queues in the order it declares them, the first holding a message
winning, so that resumed runs go first (`trainboard.queues.consumed_in_order`): Redis through its
`queue_order_strategy` option (one BRPOP over the keys in that order); the embedded broker through
`InOrderCycle`, since kombu's virtual channels otherwise rotate among queues whatever that option
says (kombu 5: `FairCycle` in kombu.utils.scheduling, used by virtual.Channel.drain_events)."""

from __future__ import annotations

from queue import Empty

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqlalchemy
from kombu.utils.scheduling import FairCycle

from trainboard.queues import DEFAULT_QUEUE
from trainboard.settings import EMBEDDED_BROKER_SCHEME, Settings


class InOrderCycle(FairCycle):
    """Polls the queues from the first each time (kombu's `FairCycle` goes on from the queue after
    the last one polled): a message in an earlier queue always goes before one in a later queue."""

    def get(self, callback, **kwargs):
        self.pos = 0
        return super().get(callback, **kwargs)


class EmbeddedChannel(kombu_sqlalchemy.Channel):
    def _reset_cycle(self):
        self._cycle = InOrderCycle(self._get_and_deliver, self._active_queues, Empty)


class EmbeddedBroker(kombu_sqlalchemy.Transport):
    """The broker that needs no server: kombu's SQLAlchemy transport on a SQLite file, polling
    five times a second (kombu's once a second would add up to a second to every launch), each
    worker's queues in the order it declared them."""

    Channel = EmbeddedChannel
    polling_interval = 0.2


TRANSPORT_ALIASES[EMBEDDED_BROKER_SCHEME] = f"{__name__}:EmbeddedBroker"


def is_sql_broker(broker_url: str) -> bool:
    return broker_url.startswith((f"{EMBEDDED_BROKER_SCHEME}+", "sqla+"))


def create_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    app = Celery("trainboard", broker=settings.resolved_broker_url, include=include or [])
    app.conf.update(
        task_acks_late=True,  # a run's message is acknowledged only when its task returns
        task_reject_on_worker_lost=True,  # ... and goes back to the queue if the worker process dies
        worker_prefetch_multiplier=1,  # a worker process holds one run at a time
        task_ignore_result=True,  # the database holds results, not the broker
        task_default_queue=DEFAULT_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options=_transport_options(settings),
    )
    return app


def _transport_options(settings: Settings) -> dict:
    if is_sql_broker(settings.resolved_broker_url):
        # The embedded broker hands these to SQLAlchemy's create_engine: wait on a busy SQLite file.
        return {"connect_args": {"timeout": settings.sqlite_busy_timeout_ms / 1000}}
    # Redis redelivers an unacknowledged message after this long: longer than any run. Its queues
    # are polled in the order the worker declared them: resumed runs first.
    return {"visibility_timeout": settings.visibility_timeout_seconds, "queue_order_strategy": "priority"}
