"""trainboard's contract: what the API, the worker and the client share, with no torch; and the
Python client that reports a training script's runs:

    run = trainboard.init(name="mlp", config={"lr": 0.1})
    run.log({"train_loss": 0.3, "test_accuracy": 0.9})
    run.finish()

    trainboard.settings   the one settings object (TRAINBOARD_ environment variables)
    trainboard.spec       `TrainSpec`, a run's whole recipe, with the optimizer and scheduler options
    trainboard.catalog    what a worker publishes it can train, and checking a spec against it
    trainboard.plugins    `register_model` / `register_dataset`: the API of model and dataset plugins
    trainboard.metrics    which way each metric improves
    trainboard.limits     what the API takes from a worker or a script (batch size, names, sizes)
    trainboard.queues     Celery task and queue names
    trainboard.broker     the Celery app both sides configure from the settings (imports Celery)
    trainboard.spec_paths a spec value by dotted path (`--set model.hidden_sizes=...`, study grids)
    trainboard.sse        the Server-Sent Events client of a run's live stream (CLI, benchmarks, tests)
    trainboard.client     `init()` and `Run`, the client of training scripts (standard library only;
                          httpx once a run talks to the API), and `trainboard sync` of run folders

Nothing here imports torch, torchvision, `backend` or `worker`, and `import trainboard` takes the
standard library only: tests enforce it.
"""

from trainboard.client import Run, init

__all__ = ["Run", "init"]
