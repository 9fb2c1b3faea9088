"""`trainboard catalog` and `trainboard workers`: what the workers can train, and the workers."""

from __future__ import annotations

import json
from typing import Any

import click

from backend.cli.common import format_table, local_time, shorten
from backend.cli.http import api_call


def _workers(entry: dict[str, Any]) -> str:
    return ", ".join(entry.get("workers", [])) or "-"


def _options(entry: dict[str, Any]) -> str:
    return ", ".join(f"{o['name']}={json.dumps(o.get('default'))}" for o in entry.get("options", []))


@click.command("catalog")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as the API returns it")
def catalog(as_json: bool) -> None:
    """The models and datasets the workers offer, with their package, options and workers."""
    found = api_call("GET", "/catalog")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found["models"]:
        click.echo("no worker has published what it can train yet: start one with `trainboard worker`")
        return
    models = [[m["name"], m["task"], m["package"], _workers(m), shorten(_options(m), 60)] for m in found["models"]]
    click.echo(format_table(["MODEL", "TASK", "PACKAGE", "WORKERS", "OPTIONS (DEFAULTS)"], models))
    click.echo()
    datasets = [
        [d["name"], d["task"], "x".join(map(str, d["input_shape"])), str(d["num_classes"]), d["package"], _workers(d)]
        for d in found["datasets"]
    ]
    click.echo(format_table(["DATASET", "TASK", "INPUT", "CLASSES", "PACKAGE", "WORKERS"], datasets))


@click.command("workers")
def workers() -> None:
    """The workers seen recently: online or not, what they train, the plugins they skipped."""
    found = api_call("GET", "/workers")["data"]
    rows = [
        [w["name"], "online" if w["online"] else "offline", local_time(w["last_seen_at"]),
         ", ".join(w["packages"]), str(len(w["models"])), str(len(w["datasets"]))]
        for w in found
    ]  # fmt: skip
    if rows:
        click.echo(format_table(["WORKER", "STATE", "LAST SEEN", "PACKAGES", "MODELS", "DATASETS"], rows))
    for worker in found:
        for broken in worker["broken"]:
            click.echo(f"{worker['name']}: plugin {broken['package']} skipped: {broken['error']}")
    click.echo(f"{sum(w['online'] for w in found)} of {len(found)} workers online")
