"""What the broker holds: the run ids of "train run X" messages still waiting in the queue
(or, on Redis, delivered but not yet acknowledged). The recovery sweep compares this with the
runs the database says are queued, and enqueues the ones the broker lost."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from trainboard.broker import is_sql_broker
from trainboard.queues import TRAIN_RUN_TASK


def _sql_url(broker_url: str):
    return make_url(broker_url.split("+", 1)[1])


def _run_id(message: dict) -> int | None:
    headers = message.get("headers") or {}
    if headers.get("task") != TRAIN_RUN_TASK:
        return None
    body = message.get("body", "")
    if (message.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    try:
        args = json.loads(body)[0]
        return int(args[0])
    except (ValueError, IndexError, TypeError, KeyError):
        return None


def _ids(payloads: Iterable[bytes | str]) -> set[int]:
    found = set()
    for payload in payloads:
        try:
            run_id = _run_id(json.loads(payload))
        except ValueError:
            continue
        if run_id is not None:
            found.add(run_id)
    return found


def queued_run_ids(broker_url: str, queues: Iterable[str]) -> set[int] | None:
    """Run ids the broker holds in these queues (or has delivered and not seen acknowledged), or
    None when this kind of broker cannot be looked into."""
    queues = sorted(set(queues))
    if broker_url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            waiting = [item for queue in queues for item in client.lrange(queue, 0, -1)]
            # Delivered to a worker, not yet acknowledged: kombu keeps [message, exchange, key] here.
            unacked = [json.dumps(json.loads(item)[0]) for item in client.hvals("unacked")]
        finally:
            client.close()
        return _ids([*waiting, *unacked])
    if is_sql_broker(broker_url):
        engine = sa.create_engine(_sql_url(broker_url))
        try:
            with engine.connect() as connection:
                tables = sa.inspect(connection).get_table_names()
                if "kombu_message" not in tables:
                    return set()
                query = sa.text(
                    "SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON m.queue_id = q.id "
                    "WHERE q.name IN :queues AND m.visible"
                ).bindparams(sa.bindparam("queues", expanding=True))
                rows = connection.execute(query, {"queues": queues})
                return _ids(row[0] for row in rows)
        finally:
            engine.dispose()
    return None


def prune_delivered(broker_url: str) -> int:
    """The embedded broker keeps every delivered message forever: drop them. Returns how many."""
    if not is_sql_broker(broker_url):
        return 0
    engine = sa.create_engine(_sql_url(broker_url))
    try:
        with engine.begin() as connection:
            if "kombu_message" not in sa.inspect(connection).get_table_names():
                return 0
            return connection.execute(sa.text("DELETE FROM kombu_message WHERE NOT visible")).rowcount
    finally:
        engine.dispose()
