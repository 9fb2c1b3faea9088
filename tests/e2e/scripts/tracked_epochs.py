"""A training script as a user writes one, tracked by the Python client, run with none of the
server's packages importable (as after `pip install trainboard`). It prints one JSON line per
event (init, epoch, stop, end) for the test to follow.

    python tracked_epochs.py --epochs 30 --seconds 0.3 [--name N] [--group G] [--resume RUN_ID]
"""

import argparse
import json
import sys
import time


class ServerMissing:
    """Imports of the server's and the worker's packages fail, as in a client-only install."""

    BLOCKED = (
        "fastapi", "starlette", "sqlalchemy", "celery", "kombu", "pydantic", "numpy", "torch", "backend", "worker",
    )

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (a client-only install)", name=name)
        return None


sys.meta_path.insert(0, ServerMissing())

import trainboard  # noqa: E402


def say(event: str, **fields) -> None:
    print(json.dumps({"event": event, "time": time.time(), **fields}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=0.0, help="the 'training' of one epoch")
    parser.add_argument("--name", default="tracked epochs")
    parser.add_argument("--group", default=None)
    parser.add_argument("--resume", type=int, default=None)
    parser.add_argument("--offset", type=float, default=0.0, help="added to every loss (tells executions apart)")
    args = parser.parse_args()
    config = {"epochs": args.epochs, "optimizer": {"name": "sgd", "lr": 0.1}, "seconds": args.seconds}
    with trainboard.init(name=args.name, group=args.group, config=config, resume=args.resume) as run:
        say("init", run_id=run.id)
        for epoch in range(1, args.epochs + 1):
            run.log({"loss": 1.0 / epoch + args.offset, "accuracy": 1.0 - 1.0 / (epoch + 1)}, step=epoch)
            say("epoch", epoch=epoch)
            if run.should_stop:
                say("stop", epoch=epoch)
                break
            time.sleep(args.seconds)
    say("end")


if __name__ == "__main__":
    main()
