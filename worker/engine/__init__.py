"""The training engine: takes a `TrainSpec` and a callback; knows nothing of Celery, HTTP or SQL."""
