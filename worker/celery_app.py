"""The worker's Celery app: the shared configuration (`trainboard.broker`) plus the tasks.

Run it with `trainboard worker` (or `celery -A worker.celery_app worker`)."""

from __future__ import annotations

from trainboard.broker import create_celery
from trainboard.settings import get_settings

app = create_celery(get_settings(), include=["worker.tasks"])
