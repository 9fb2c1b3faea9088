"""trainboard's contract: what the API, the worker and the client share, with no torch.

    trainboard.settings   the one settings object (TRAINBOARD_ environment variables)
    trainboard.spec       `TrainSpec`, a run's whole recipe, with the optimizer and scheduler options
    trainboard.catalog    what a worker publishes it can train, and checking a spec against it
    trainboard.plugins    `register_model` / `register_dataset`: the API of model and dataset plugins
    trainboard.metrics    which way each metric improves
    trainboard.queues     Celery task and queue names
    trainboard.broker     the Celery app both sides configure from the settings (imports Celery)
    trainboard.spec_paths a spec value by dotted path (`--set model.hidden_sizes=...`, study grids)
    trainboard.sse        the Server-Sent Events client of a run's live stream (CLI, benchmarks, tests)

Nothing here imports torch, torchvision, `backend` or `worker`: a test enforces it.
"""
