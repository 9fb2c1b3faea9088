"""The built-in zoo's catalog as a real worker publishes it, stored for tests that run the API
without a worker process (the e2e tests start real workers, which publish their own)."""

from __future__ import annotations

import functools

from sqlalchemy.orm import Session

from backend.core.db import get_engine
from backend.crud import workers as workers_crud
from trainboard.settings import Settings

TEST_WORKER = "trainboard@test-worker"


@functools.cache
def builtin_catalog() -> dict:
    from worker.catalog import worker_catalog

    return worker_catalog(TEST_WORKER).model_dump(mode="json")


def publish_builtin_catalog(settings: Settings, *, name: str = TEST_WORKER) -> None:
    """What `POST /workers` stores for a worker with only the built-in zoo."""
    catalog = {**builtin_catalog(), "name": name}
    with Session(get_engine(settings)) as session:
        workers_crud.publish(session=session, name=name, hostname="test-worker", catalog=catalog, stopping=False)
        session.commit()
