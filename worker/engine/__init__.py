"""The training engine: takes an `EngineSpec` and a callback; knows nothing of Celery, HTTP or SQL."""
