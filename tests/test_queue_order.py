"""Resumed runs first, on both brokers, with real messages: a worker consumes its queues in the
order `trainboard.queues.consumed_in_order` gives (every `.resumed` queue before the queues of new
runs), and the broker hands it a resumed run before any new run queued earlier."""

from __future__ import annotations


import pytest
from celery.app.amqp import Queues
from kombu import Queue

from trainboard.broker import create_celery
from trainboard.queues import DEFAULT_QUEUE, TRAIN_RUN_TASK, consumed_in_order, resumed, queues_of
from trainboard.settings import Settings


def test_resumed_queues_come_before_the_queues_of_new_runs():
    queues = queues_of(["trainboard", "acme"])
    order = consumed_in_order(queues)
    assert sorted(order) == sorted([*queues, *map(resumed, queues)])
    assert order == [*map(resumed, queues), *queues]


def _settings(tmp_path, broker_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", broker_url=broker_url)


def _received_in_order(app, queues: list[str], count: int) -> list[int]:
    """What a worker consuming `queues` (in this order, as Celery's consumer declares them) is
    handed, one message at a time, each acknowledged before the next is fetched."""
    received: list[int] = []

    def on_message(body, message):
        received.append(body[0][0])
        message.ack()

    with app.connection_for_read() as connection:
        declared = [Queue(name) for name in queues]
        with connection.Consumer(declared, callbacks=[on_message], accept=["json"], prefetch_count=1):
            while len(received) < count:
                connection.drain_events(timeout=5)
    return received


def _send(app, run_id: int, queue: str) -> None:
    app.send_task(TRAIN_RUN_TASK, args=[run_id], queue=queue)


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def broker_app(request, tmp_path):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = f"embedded+sqlite:///{tmp_path / 'broker.db'}"
    app = create_celery(_settings(tmp_path, url))
    queues = consumed_in_order([DEFAULT_QUEUE])
    with app.connection_for_write() as connection:  # a clean slate: queues declared and empty
        for name in queues:
            Queue(name, channel=connection.default_channel).declare()
            connection.default_channel.queue_purge(name)
    yield app, queues
    with app.connection_for_write() as connection:
        for name in queues:
            connection.default_channel.queue_purge(name)


def test_a_resumed_run_is_handed_out_before_new_runs_queued_earlier(broker_app):
    app, queues = broker_app
    for run_id in range(1, 6):  # five new runs wait
        _send(app, run_id, DEFAULT_QUEUE)
    for run_id in (100, 101, 102):  # then runs come back from lost workers
        _send(app, run_id, resumed(DEFAULT_QUEUE))
    assert _received_in_order(app, queues, 4) == [100, 101, 102, 1]
    _send(app, 103, resumed(DEFAULT_QUEUE))  # another, while new runs still wait
    assert _received_in_order(app, queues, 5) == [103, 2, 3, 4, 5]


def test_the_worker_declares_its_queues_resumed_first(tmp_path):
    """The worker's start-up hook leaves Celery's consumer with the resumed queues first."""
    from worker.tasks import consume_in_order

    queues = Queues({DEFAULT_QUEUE: Queue(DEFAULT_QUEUE)})  # Celery adds the default queue first
    consume_in_order(queues, consumed_in_order(queues_of(["trainboard", "acme"])))
    names = list(queues.consume_from)
    kinds = ["resumed" if name.endswith(".resumed") else "new" for name in names]
    assert kinds == ["resumed"] * 3 + ["new"] * 3 and DEFAULT_QUEUE in names


