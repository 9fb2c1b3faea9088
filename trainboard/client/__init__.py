"""The Python client: report a training script's runs to trainboard in a few lines.

    import trainboard

    with trainboard.init(name="mlp", config={"lr": 0.1}) as run:
        for epoch in range(30):
            run.log({"train_loss": loss, "test_accuracy": accuracy})

    trainboard.client.run       `init()` and `Run` (log, log_artifact, finish, should_stop)
    trainboard.client.points    the checks `log()` makes, and the points it queues
    trainboard.client.delivery  the background thread: batches, heartbeats, retries, the spool
    trainboard.client.folder    the run folder (offline runs, undelivered points)
    trainboard.client.sync      `trainboard sync DIR...`: send run folders to the API
    trainboard.client.api       the REST calls (httpx, imported only when a run talks to the API)
    trainboard.client.metadata  the default name, the config made JSON-able, host and environment

Importing it takes the standard library only: no httpx, pydantic, NumPy or torch."""

from trainboard.client.api import ApiRefused
from trainboard.client.run import Run, init

__all__ = ["ApiRefused", "Run", "init"]
