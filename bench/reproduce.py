"""Reproduce a preset's study (issue 11): train every run of a preset (`trainboard.presets`) on the
dataset files in a data folder, in this process, one run after the other, and write its table to
docs: per arm (cell of the preset's grid) the runs counted, mean ± 95% t-interval of the test
metric at each run's best validation epoch, its median, the mean time per epoch, parameters and
MACs; then every pair of arms compared by Mann–Whitney U (exact, Holm-corrected), and the figures
the seed sheets and the literature report for the same study.

    python -m bench.reproduce PRESET --data-dir DIR [--epochs N] [--seeds K] [--device auto|cpu|cuda]
                              [--set PATH=JSON ...] [--out docs/reproduce/PRESET.md]

`--epochs`, `--seeds` and `--set` (a dotted spec path, as `trainboard submit --set` takes it, e.g.
`--set dataset.limit_train=5000`) shorten the study; the table then says it is not the preset's
own budget. Each finished run's epochs are kept in `<out>.json`: run the same command again after
an interruption and the finished runs are not trained again.

The statistics are those the API serves (`backend.services.statistics_table`); the selected epoch is
chosen as the API chooses it (`trainboard.metrics.best_epoch` of the run's selection metric).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, code_version, cpu_model, memory_gib, usable_cores

# What the seeds and the literature report, by dataset: the reference the table is read against.
REFERENCES = {
    "mnist": "Seed 002: a 3-layer sigmoid MLP trained from scratch reaches 95–98% test accuracy on MNIST "
    "in 30 epochs at a good learning rate (LeCun et al. 1998 report 95.3–97.1% for 2- and 3-layer nets).",
    "cifar10": "Seed 003 (50 epochs): ResNet 78.4% > VGG11 75.4% > ConvNet 64.3% test accuracy; without "
    "normalization ~90%, BatchNorm 92–93%, GroupNorm(32) ~93% on its own network after 30 epochs.",
    "gtsrb": "A single CNN reaches above 99% test accuracy on GTSRB (Cireşan et al. 2012: 99.46% for a "
    "committee, ~98.5–99.2% for one network; humans 98.84%).",
    "lung_xray": "U-Nets segment the lungs in chest X-rays with a Dice of 0.95 or more (Montgomery/Shenzhen/JSRT).",
}


class Recorder:
    """The engine's callback: keeps each epoch's metrics, prints one line per epoch."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.epochs: dict[int, dict[str, float]] = {}

    def on_start(self, info: dict) -> None:
        print(f"  {self.label}: on {info.get('device', '?')}", flush=True)

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs[epoch] = dict(metrics)
        shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith(("val_", "test_")) and
                         isinstance(v, float) and "pooled" not in k and "balanced" not in k)
        print(f"    epoch {epoch}: {shown}", flush=True)

    def on_artifact(self, name: str, content: bytes, media_type: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def find_preset(name: str):
    from trainboard.presets import PRESETS

    found = {preset.name: preset for preset in PRESETS}
    if name not in found:
        raise SystemExit(f"no preset {name!r}; presets: {', '.join(found)}")
    return found[name]


def plan(preset, *, epochs: int | None, seeds: int | None, device: str, overrides: list[tuple[str, Any]]):
    """The runs of the preset's study, expanded and checked as POST /studies does it."""
    from backend.services.catalog import Catalog
    from backend.services.studies import plan_runs, study_seeds
    from trainboard.spec_paths import set_path
    from worker.catalog import worker_catalog

    offered = worker_catalog("bench")
    catalog = Catalog(models={m.name: m for m in offered.models}, datasets={d.name: d for d in offered.datasets})
    base = json.loads(json.dumps(preset.base_spec))
    for path, value in [*overrides, *([("epochs", epochs)] if epochs else []), ("device", device)]:
        set_path(base, path, value)
    count = seeds or preset.seeds
    return plan_runs(base_spec=base, grid=preset.grid, seeds=study_seeds(base.get("seed", 0), count), catalog=catalog)


@dataclass
class EngineSpecInfo:
    selection_metric: str
    task: str
    params: int
    macs: int


def train_run(planned, data_dir: Path) -> tuple[dict[int, dict[str, float]], EngineSpecInfo]:
    from worker.engine.loop import train
    from worker.engine.model_stats import model_size
    from worker.engine.spec import EngineSpec

    spec = EngineSpec.model_validate(planned.spec.model_dump(mode="json"))
    recorder = Recorder(f"{cell_text(planned.cell)} seed={planned.seed}")
    train(spec, recorder, data_dir=data_dir)
    params, macs = model_size(spec)
    return recorder.epochs, EngineSpecInfo(spec.selects_by, spec.task, params, macs)


def cell_text(cell: dict[str, Any]) -> str:
    from backend.services.grouping import cell_label

    return cell_label(cell)


def run_key(planned) -> str:
    return hashlib.sha256(json.dumps(planned.spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def selected_value(epochs: dict[int, dict[str, float]], selection: str, metric: str) -> tuple[int | None, float | None]:
    """(the run's selected epoch, `metric` there): the epoch of the best selection-metric value."""
    from trainboard.metrics import best_epoch

    epoch = best_epoch({e: m.get(selection) for e, m in epochs.items()}, selection)
    value = epochs[epoch].get(metric) if epoch is not None else None
    return epoch, value if value is not None and math.isfinite(value) else None


def epochs_of(result: dict[str, Any]) -> dict[int, dict[str, float]]:
    """A kept run's epochs, keyed by number (JSON keeps them as text)."""
    return {int(epoch): metrics for epoch, metrics in result["epochs"].items()}


def summarise(results: list[dict[str, Any]], cells: list[str]) -> dict[str, Any]:
    """Per arm: n, values, description; and the pairwise comparisons (the API's statistics)."""
    from backend.services import statistics_table
    from trainboard.metrics import direction

    first = results[0]
    metric = "test_" + first["selection_metric"].split("_", 1)[1]
    samples, arms = [], []
    for cell in cells:
        runs = [r for r in results if r["cell"] == cell]
        picked = [selected_value(epochs_of(r), r["selection_metric"], metric) for r in runs]
        values = [v for _, v in picked if v is not None]
        seeds = [r["seed"] for r, (_, v) in zip(runs, picked, strict=True) if v is not None]
        seconds = [m["epoch_seconds"] for r in runs for m in r["epochs"].values() if "epoch_seconds" in m]
        samples.append(statistics_table.Sample(cell, values, seeds))
        arms.append({
            "cell": cell, "runs": len(runs), "selected_epochs": [e for e, _ in picked], "values": values,
            "epoch_seconds": sum(seconds) / len(seconds) if seconds else None,
            "params": runs[0]["params"] if runs else None, "macs": runs[0]["macs"] if runs else None,
        })  # fmt: skip
    table = statistics_table.table(samples, direction=direction(metric), test="mannwhitney", ci="t", confidence=0.95)
    for arm, row in zip(arms, table.groups, strict=True):
        arm["description"], arm["rank"] = row.description, row.rank
    return {"metric": metric, "selection_metric": first["selection_metric"], "arms": arms, "table": table}


def _pct(value: float | None, task: str) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if task == "segmentation" else f"{100 * value:.2f}%"


def markdown(preset, summary: dict[str, Any], *, command: str, shortened: list[str], device: str,
             dataset: str, task: str) -> str:
    metric, selection = summary["metric"], summary["selection_metric"]
    lines = [
        f"# Reproduction: {preset.title}",
        "",
        f"Preset `{preset.name}`: {preset.text}",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; code {code_version()}",
        f"- Machine: {cpu_model()}, {usable_cores()} cores, {memory_gib()}; {device}; Python "
        f"{platform.python_version()}, torch {_torch_version()}",
        f"- Value per run: {metric} at the run's best {selection} epoch (selected on validation, never on test)",
    ]
    if shortened:
        lines.append(f"- **Shortened, not the preset's own study**: {'; '.join(shortened)}")
    lines += ["", "| arm | runs | n | mean ± 95% CI | median | selected epochs | s/epoch | params | MACs |",
              "|---|---:|---:|---|---:|---|---:|---:|---:|"]
    for arm in summary["arms"]:
        d = arm["description"]
        ci = (f"{_pct(d.mean, task)} ± {_pct((d.ci_high - d.ci_low) / 2, task)}" if d.ci_high is not None
              else _pct(d.mean, task))
        seconds = f"{arm['epoch_seconds']:.2f}" if arm["epoch_seconds"] is not None else "–"
        epochs = ", ".join(str(e) for e in arm["selected_epochs"])
        lines.append(f"| {arm['cell']} | {arm['runs']} | {d.n} | {ci} | {_pct(d.median, task)} | {epochs} | "
                     f"{seconds} | {arm['params'] / 1e6:.3g} M | {arm['macs'] / 1e6:.3g} M |")
    table = summary["table"]
    if table.comparisons:
        lines += ["", "Mann–Whitney U, two-sided, Holm-corrected over the table:", "",
                  "| a | b | U | p | p (Holm) | smallest p possible | Cliff's δ | winner |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for row in table.comparisons:
            r = row.result
            lines.append(f"| {row.a} | {row.b} | {_num(r.statistic)} | {_num(r.p_value)} | {_num(row.p_holm)} | "
                         f"{_num(row.min_attainable_p)} | {_num(r.cliffs_delta)} | {row.winner or '–'} |")
    if table.warnings:
        lines += ["", "Warnings:", "", *[f"- {w}" for w in table.warnings]]
    lines += ["", f"Reference: {REFERENCES.get(dataset, 'none recorded for this dataset')}", ""]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _torch_version() -> str:
    import torch

    return torch.__version__


def parse_set(text: str) -> tuple[str, Any]:
    path, sep, raw = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"--set takes PATH=VALUE, not {text!r}")
    try:
        return path, json.loads(raw)
    except json.JSONDecodeError:
        return path, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("preset")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TRAINBOARD_DATA_DIR", "data")))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", type=parse_set, action="append", default=[], dest="overrides")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    preset = find_preset(args.preset)
    out = args.out or REPO_ROOT / "docs" / "reproduce" / f"{preset.name}.md"
    from trainboard.catalog import SpecInvalid
    from backend.services.studies import GridInvalid

    try:
        planned = plan(preset, epochs=args.epochs, seeds=args.seeds, device=args.device, overrides=args.overrides)
    except (GridInvalid, SpecInvalid) as exc:
        print(f"error: the preset does not make valid runs: {getattr(exc, 'errors', exc)}", file=sys.stderr)
        return 2
    kept_path = out.with_suffix(".json")
    kept = json.loads(kept_path.read_text()) if kept_path.is_file() else {}
    cells = list(dict.fromkeys(cell_text(p.cell) for p in planned))
    print(f"{preset.name}: {len(planned)} runs ({len(cells)} arms x {len(planned) // len(cells)} seeds), "
          f"{sum(1 for p in planned if run_key(p) in kept)} already done", flush=True)
    from worker.datasets.errors import DatasetUnavailable

    started = time.perf_counter()
    for planned_run in planned:
        key = run_key(planned_run)
        if key in kept:
            continue
        try:
            epochs, info = train_run(planned_run, args.data_dir)
        except DatasetUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        kept[key] = {"cell": cell_text(planned_run.cell), "seed": planned_run.seed, "epochs": epochs,
                     "selection_metric": info.selection_metric, "task": info.task,
                     "params": info.params, "macs": info.macs}
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = kept_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(kept, indent=1))
        partial.replace(kept_path)  # a finished run is never half-written
    results = [kept[run_key(p)] for p in planned]
    summary = summarise(results, cells)
    shortened = [f"{name} {value}" for name, value in (("epochs", args.epochs), ("seeds", args.seeds)) if value]
    shortened += [f"{path}={json.dumps(value)}" for path, value in args.overrides]
    spec = planned[0].spec
    command = "python -m bench.reproduce " + " ".join(argv if argv is not None else sys.argv[1:])
    out.write_text(markdown(preset, summary, command=command, shortened=shortened, device=_device_text(args.device),
                            dataset=spec.dataset.name, task=results[0]["task"]))
    print(f"wrote {out} ({time.perf_counter() - started:.0f} s of training)")
    return 0


def _device_text(device: str) -> str:
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return "CPU"


if __name__ == "__main__":
    sys.exit(main())
