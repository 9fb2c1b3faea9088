"""`trainboard study ...`: create a study from a YAML file, list and show studies, compare their
cells statistically, extend them with more seeds, cancel them; all through the REST API."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from backend.cli.common import STATUSES, format_table, indent, local_time, shorten
from backend.cli.http import api_call
from backend.cli.specs import json_ready, read_spec_file


@click.group()
def study() -> None:
    """Studies: a grid of runs with several seeds per cell, compared statistically.

    \b
    trainboard study create study.yaml      # {name, base_spec, grid, seeds}
    trainboard study show 1 | stats 1 --metric test_accuracy --test welch
    trainboard study extend 1 --seeds 2 | cancel 1
    """


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _number(value: float | None, fmt: str = ".4g") -> str:
    return "-" if value is None else format(value, fmt)


def _progress_text(progress: dict[str, Any]) -> str:
    parts = [f"{progress[status]} {status}" for status in STATUSES if progress.get(status)]
    return f"{progress.get('total', 0)} runs" + (": " + ", ".join(parts) if parts else "")


@study.command("create")
@click.argument("spec_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--name", help="Study name (also the group of its runs) [default: the file's name]")
@click.option("--seeds", type=click.IntRange(1, 50), help="Seeds per cell [default: the file's seeds, or 3]")
def study_create(spec_file: str, name: str | None, seeds: int | None) -> None:
    """Create a study and queue all its runs. SPEC_FILE (YAML or JSON, - for stdin) holds its
    name, base_spec (a TrainSpec), grid (spec path: [values], every combination is run) and seeds.

    \b
    name: gtsrb-bn-optimizer
    base_spec: {model: traffic_sign_cnn, dataset: gtsrb, optimizer: adam,
                learning_rate: 1.0e-3, epochs: 400, batch_size: 128}
    grid:
      model.batch_norm: [false, true]
      optimizer: [adam, sgd]
    seeds: 3
    """
    body = json_ready(read_spec_file(spec_file))
    if "base_spec" not in body and isinstance(body.get("spec"), dict):
        body["base_spec"] = body.pop("spec")
    if name is not None:
        body["name"] = name
    if seeds is not None:
        body["seeds"] = seeds
    if not body.get("name"):
        raise click.ClickException(f"the study needs a name: give name: in {spec_file} or --name")
    created = api_call("POST", "/studies", json=body)
    cells = len(created["cells"])
    click.echo(
        f"created study {created['id']}: {created['name']} ({cells} cell{'s' if cells != 1 else ''} x "
        f"{len(created['seeds'])} seeds, {created['progress']['total']} runs queued)"
    )


@study.command("ls")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def study_list(limit: int) -> None:
    """List studies, newest first."""
    page = api_call("GET", "/studies", params={"limit": limit})
    rows = [
        [
            str(item["id"]),
            shorten(item["name"], 40),
            item["status"],
            " x ".join(str(len(values)) for values in item["grid"].values()) or "1",
            str(len(item["seeds"])),
            f"{item['progress']['completed']}/{item['progress']['total']}",
            local_time(item.get("created_at"), "%Y-%m-%d %H:%M"),
        ]
        for item in page["data"]
    ]
    if rows:
        click.echo(format_table(["ID", "NAME", "STATUS", "GRID", "SEEDS", "DONE", "CREATED"], rows))
    click.echo(f"{len(rows)} of {page['count']} studies")


@study.command("show")
@click.argument("study_id", metavar="STUDY", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the study as the API returns it")
def study_show(study_id: int, as_json: bool) -> None:
    """Show a study: its grid, seeds, progress, and each cell's runs."""
    found = api_call("GET", f"/studies/{study_id}")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"study {found['id']}: {found['name']} ({found['status']})")
    click.echo(f"  {'created':<10}{local_time(found.get('created_at'))}")
    click.echo(f"  {'seeds':<10}{', '.join(map(str, found['seeds']))}")
    click.echo(f"  {'progress':<10}{_progress_text(found['progress'])}")
    click.echo("grid:")
    if found["grid"]:
        click.echo(indent(yaml.safe_dump(found["grid"], sort_keys=False, default_flow_style=None)))
    else:
        click.echo("  (none: every run is the base spec with another seed)")
    rows = []
    for cell in found["cells"]:
        progress = cell["progress"]
        runs = ", ".join(
            f"{run['id']}" + ("" if run["status"] == "completed" else f" ({run['status']})") for run in cell["runs"]
        )
        rows.append([shorten(cell["label"], 60), f"{progress['completed']}/{progress['total']}", runs or "-"])
    click.echo(format_table(["CELL", "DONE", "RUNS"], rows))


@study.command("stats")
@click.argument("study_id", metavar="STUDY", type=int)
@click.option("--metric", help="Metric to compare [default: the test counterpart of the selection metric: "
              "test_accuracy, test_dice...]")  # fmt: skip
@click.option("--summary", type=click.Choice(["auto", "selected", "final", "best", "at_epoch"]), default="auto",
              show_default=True, help="Each run's value at its best validation epoch (selected), its final value, "
              "its best over all epochs (on test_*: selected on the test set, optimistic) or its value at --epoch; "
              "auto: selected when the runs hold out a validation split, else final")  # fmt: skip
@click.option("--epoch", type=click.IntRange(min=0), help="With --summary at_epoch")
@click.option("--ci", type=click.Choice(["t", "bootstrap"]), default="t", show_default=True,
              help="Confidence interval of each group's mean")  # fmt: skip
@click.option("--test", "test_name", type=click.Choice(["mannwhitney", "welch", "wilcoxon"]), default="mannwhitney",
              show_default=True, help="Two-sided test; wilcoxon pairs runs by seed")  # fmt: skip
@click.option("--alpha", type=click.FloatRange(0, 0.5, min_open=True), default=0.05, show_default=True)
@click.option("--group-by", "group_by", multiple=True, metavar="PATH",
              help="Pool the cells by spec paths (repeatable) instead of comparing every cell")  # fmt: skip
@click.option("--include-running", is_flag=True, help="Count running runs with their values so far")
@click.option("--json", "as_json", is_flag=True, help="Print the table as the API returns it")
def study_stats(
    study_id: int,
    metric: str | None,
    summary: str,
    epoch: int | None,
    ci: str,
    test_name: str,
    alpha: float,
    group_by: tuple[str, ...],
    include_running: bool,
    as_json: bool,
) -> None:
    """Compare a study's cells: each cell's runs described, ranked, and every pair tested, with
    Holm's correction; warnings say what the numbers cannot show."""
    params: dict[str, Any] = {"summary": summary, "ci": ci, "test": test_name, "alpha": alpha}
    if metric is not None:
        params["metric"] = metric
    if epoch is not None:
        params["epoch"] = epoch
    if group_by:
        params["group_by"] = list(group_by)
    if include_running:
        params["include_running"] = "true"
    table = api_call("GET", f"/studies/{study_id}/stats", params=params)
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    better = "higher" if table["direction"] == "max" else "lower"
    interval = f"{table['confidence']:.0%} CI"
    click.echo(f"{table['summary_description']}; {better} is better")
    rows = []
    for group in sorted(table["groups"], key=lambda g: (g["rank"] is None, g["rank"] or 0)):
        ci_text = f"[{_number(group['ci_low'])}, {_number(group['ci_high'])}]" if group["ci_low"] is not None else "-"
        rows.append([
            str(group["rank"] or "-"), shorten(group["label"], 50), str(group["n"]), _number(group["mean"]),
            _number(group["median"]), _number(group["std"], ".2g"), ci_text,
            str(group["incomplete_runs"]) if group["incomplete_runs"] else "",
        ])  # fmt: skip
    click.echo(format_table(["RANK", "GROUP", "N", "MEAN", "MEDIAN", "STD", interval, "LEFT OUT"], rows))
    if table["comparisons"]:
        titles = {"mannwhitney": "Mann–Whitney U", "welch": "Welch's t-test", "wilcoxon": "Wilcoxon signed-rank"}
        count = len(table["comparisons"])
        click.echo(
            f"\n{titles[table['test']]}, two-sided; p adjusted by Holm over {count} comparison"
            f"{'s' if count != 1 else ''}; significant if < {table['alpha']:g}"
        )
        rows = []
        for item in table["comparisons"]:
            better = {item["a"]: "A", item["b"]: "B"}.get(item["better"], "-")
            rows.append([
                shorten(item["a"], 40), shorten(item["b"], 40), _p(item["p_value"]), _p(item["p_holm"]),
                _number(item["cliffs_delta"], ".2f"), _number(item["cohens_d"], ".2f"), better,
                "yes" if item["significant"] else "no",
            ])  # fmt: skip
        headers = ["A", "B", "P", "P HOLM", "CLIFF'S DELTA", "COHEN'S D", "BETTER", "SIGNIFICANT"]
        click.echo(format_table(headers, rows))
    for warning in table["warnings"]:
        click.echo(f"warning: {warning}")


@study.command("extend")
@click.argument("study_id", metavar="STUDY", type=int)
@click.option("--seeds", type=click.IntRange(1, 50), required=True, help="How many more seeds per cell")
def study_extend(study_id: int, seeds: int) -> None:
    """Run every cell of a study with more seeds, numbered on from the largest one used."""
    before = api_call("GET", f"/studies/{study_id}")
    after = api_call("POST", f"/studies/{study_id}/extend", json={"seeds": seeds})
    added = after["progress"]["total"] - before["progress"]["total"]
    new_seeds = [seed for seed in after["seeds"] if seed not in before["seeds"]]
    click.echo(
        f"study {study_id}: {added} runs queued (seed{'s' if len(new_seeds) != 1 else ''} "
        f"{', '.join(map(str, new_seeds))}); {after['progress']['total']} runs in all"
    )


@study.command("cancel")
@click.argument("study_id", metavar="STUDY", type=int)
def study_cancel(study_id: int) -> None:
    """Cancel every run of a study: queued ones at once, running ones at their next batch."""
    found = api_call("POST", f"/studies/{study_id}/cancel")
    stopping = sum(1 for cell in found["cells"] for run in cell["runs"] if run["status"] == "running")
    text = f"study {study_id}: {found['progress']['cancelled']} runs cancelled"
    if stopping:
        runs = f"{stopping} running run{'s stop' if stopping > 1 else ' stops'}"
        text += f", {runs} at its next batch" if stopping == 1 else f", {runs} at their next batch"
    click.echo(text)
