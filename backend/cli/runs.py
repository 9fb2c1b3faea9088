"""The commands on runs: `submit`, `ls`, `show`, `watch` and `cancel`, through the REST API."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from backend.cli.common import STATUSES, format_table, human_count, indent, local_time, shorten, total_epochs
from backend.cli.http import api_call
from backend.cli.progress import watch_and_exit
from backend.cli.specs import build_submission


def _status(run: dict) -> str:
    """`queued`, or why no online worker can take it: `queued: waiting for a worker with a GPU`."""
    return run["status"] + (f": {run['waiting_for']}" if run.get("waiting_for") else "")


def _entry_name(value: Any) -> str:
    """`mlp` from "mlp" or {"name": "mlp", ...}."""
    if isinstance(value, dict):
        return str(value.get("name", "?"))
    return str(value) if value is not None else "?"


@click.command()
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--model", help="Model name (spec.model.name)")
@click.option("--dataset", help="Dataset name (spec.dataset.name)")
@click.option("--optimizer", help="Optimizer name (spec.optimizer.name)")
@click.option("--scheduler", help="Scheduler name (spec.scheduler.name)")
@click.option(
    "--set", "assignments", multiple=True, metavar="KEY=VALUE",
    help="Set a spec field by dotted path, value as YAML: learning_rate=0.1, model.hidden_sizes=[64,32]",
)  # fmt: skip
@click.option("--name", help="Run name [default: '<model> on <dataset>']")
@click.option("--group", help="Group or study of the run")
@click.option("--watch", is_flag=True, help="Then follow the run until it ends")
def submit(
    spec_file: str | None,
    model: str | None,
    dataset: str | None,
    optimizer: str | None,
    scheduler: str | None,
    assignments: tuple[str, ...],
    name: str | None,
    group: str | None,
    watch: bool,
) -> None:
    """Submit a run. SPEC_FILE (YAML or JSON, - for stdin) holds a TrainSpec, or
    {name, group, spec}; options and --set apply on top of it, in that order.

    \b
    trainboard submit --model mlp --dataset synthetic_mnist --set learning_rate=0.1 \\
        --set epochs=30 --set batch_size=64 --set model.hidden_sizes=[256,128]
    """
    body = build_submission(
        spec_file,
        entries={"model": model, "dataset": dataset, "optimizer": optimizer, "scheduler": scheduler},
        assignments=assignments,
        name=name,
        group=group,
    )
    run = api_call("POST", "/runs", json=body)
    click.echo(f"submitted run {run['id']}: {run['name']} ({_status(run)})")
    if watch:
        watch_and_exit(run["id"])


@click.command("ls")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Only these (repeatable)")
@click.option("--group", help="Only this group")
@click.option("--name", help="Name contains")
@click.option("--source", type=click.Choice(["worker", "script"]), help="Only runs of workers, or of your own scripts")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def list_runs(statuses: tuple[str, ...], group: str | None, name: str | None, source: str | None, limit: int) -> None:
    """List runs, newest first. A run your own script reports shows `script` as its model; a queued
    run no online worker can take is marked `queued!`, with the reason under the table."""
    params: dict[str, Any] = {"limit": limit, "status": list(statuses)}
    for key, value in (("group", group), ("name", name), ("source", source)):
        if value is not None:
            params[key] = value
    page = api_call("GET", "/runs", params=params)
    rows, waiting = [], []
    for run in page["data"]:
        if run.get("waiting_for"):
            waiting.append(f"! run {run['id']}: {run['waiting_for']}")
        spec = run.get("spec") or {}
        script = run.get("source") == "script"
        rows.append([
            str(run["id"]),
            shorten(run["name"], 40),
            run["status"] + ("*" if run.get("cancel_requested") and run["status"] == "running" else "")
            + ("!" if run.get("waiting_for") else ""),
            "script" if script else _entry_name(spec.get("model")),
            "-" if script else _entry_name(spec.get("dataset")),
            "-" if script else f"{run.get('epochs_completed', 0)}/{total_epochs(run) or '?'}",
            human_count(run.get("param_count")),
            human_count(run.get("macs")),
            local_time(run.get("created_at"), "%Y-%m-%d %H:%M"),
        ])  # fmt: skip
    if rows:
        click.echo(
            format_table(["ID", "NAME", "STATUS", "MODEL", "DATASET", "EPOCH", "PARAMS", "MACS", "CREATED"], rows)
        )
    for line in waiting:  # runs no online worker can take, and why
        click.echo(line)
    click.echo(f"{len(rows)} of {page['count']} runs")


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the run as the API returns it")
def show(run_id: int, as_json: bool) -> None:
    """Show a run: its fields and its full spec (a script run's config)."""
    run = api_call("GET", f"/runs/{run_id}")
    if as_json:
        click.echo(json.dumps(run, indent=2))
        return
    status = _status(run) + (
        " (cancel requested)" if run.get("cancel_requested") and run["status"] == "running" else ""
    )
    handbacks = f" ({run['handbacks']} handed back on a worker's stop)" if run.get("handbacks") else ""
    fields = [
        ("status", status),
        ("group", run.get("group") or "-"),
        ("epochs", f"{run.get('epochs_completed', 0)}/{total_epochs(run) or '?'}"),
        ("params", human_count(run.get("param_count"))),
        ("MACs", human_count(run.get("macs"))),
        ("created", local_time(run.get("created_at"))),
        ("started", local_time(run.get("started_at"))),
        ("finished", local_time(run.get("finished_at"))),
        ("host" if run.get("source") == "script" else "worker", run.get("worker_host") or "-"),
        ("device", run.get("device_name") or "-"),
        ("attempt", str(run.get("attempt", 0)) + handbacks),
    ]
    click.echo(f"run {run['id']}: {run['name']}")
    for label, value in fields:
        click.echo(f"  {label:<10}{value}")
    if run.get("error"):
        click.echo("  error")
        for line in run["error"].rstrip().splitlines():
            click.echo(f"    {line}")
    recipe = ("config", run.get("config")) if run.get("source") == "script" else ("spec", run.get("spec"))
    click.echo(f"{recipe[0]}:")
    click.echo(indent(yaml.safe_dump(recipe[1] or {}, sort_keys=False, default_flow_style=None)))
    if run.get("environment"):
        click.echo("environment:")
        click.echo(indent(yaml.safe_dump(run["environment"], sort_keys=False, default_flow_style=None)))


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
def watch(run_id: int) -> None:
    """Follow a run live: epoch, losses, accuracy, ETA. Exits 0 if it completes, 1 otherwise."""
    watch_and_exit(run_id)


@click.command()
@click.argument("run_id", metavar="RUN", type=int)
def cancel(run_id: int) -> None:
    """Cancel a run.

    A queued run is cancelled at once; a running one stops at its next batch."""
    run = api_call("POST", f"/runs/{run_id}/cancel")
    if run["status"] == "running" and run.get("source") == "script":
        click.echo(f"run {run_id}: cancel requested (its script sees run.should_stop at its next heartbeat)")
    elif run["status"] == "running":
        click.echo(f"run {run_id}: cancel requested (it stops at its next batch)")
    else:
        click.echo(f"run {run_id}: {run['status']}")


@click.command(context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sync(args: tuple[str, ...]) -> None:
    """Send runs a script kept on disk (offline runs, points the API could not take) to the API:
    trainboard sync DIR [DIR ...]. Syncing twice stores nothing twice."""
    from trainboard.client.sync import main

    raise SystemExit(main(list(args)))
