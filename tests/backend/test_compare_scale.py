"""GET /compare at study size (issue 13): long curves come thinned to a chart's resolution, keeping
what a chart shows (each stretch's first, last, lowest and highest point, the run's best), every
point stays one parameter away (max_points=0, for exports), the summaries stay exact, groups keep
aligned steps for their means, and the answer is smaller (and gzipped for a browser)."""

from __future__ import annotations

import json
import math
import statistics

from backend.services.downsample import m4_indices
from tests.utils.factories import API, finish_run, post_points, track_run
from trainboard.limits import SCRIPT_LOST

STEPS = 2000


def wavy(step: int, phase: float = 0.0) -> float:
    """A loss that falls with a wobble and a few spikes: extremes inside every stretch."""
    spike = 0.5 if step % 397 == 0 else 0.0
    return 2.0 / math.sqrt(step) + 0.05 * math.sin(step / 7 + phase) + spike


def long_run(client, name: str, group: str, phase: float = 0.0, lr: float = 0.1) -> dict:
    run = track_run(client, name=name, group=group, config={"learning_rate": lr, "phase": phase})
    points = []
    for step in range(1, STEPS + 1):
        points += [
            {"name": "train_loss", "step": step, "value": wavy(step, phase), "wall_time": 1000.0 + step},
            {"name": "test_accuracy", "step": step, "value": 0.9 - wavy(step, phase) / 10, "wall_time": 1000.0 + step},
            {"name": "epoch_seconds", "step": step, "value": 1.0 + (step % 3) / 10, "wall_time": 1000.0 + step},
        ]
    for start in range(0, len(points), 10_000):
        post_points(client, run["id"], points[start : start + 10_000])
    return run


def test_a_thinned_curve_keeps_each_stretch_extremes_and_the_runs_best(client):
    run = long_run(client, "long", "study")
    full = client.get(f"{API}/compare", params={"group": "study", "max_points": 0}).json()
    thin = client.get(f"{API}/compare", params={"group": "study", "max_points": 100}).json()
    everything = full["series"][str(run["id"])]["train_loss"]
    kept = thin["series"][str(run["id"])]["train_loss"]
    assert len(everything["steps"]) == STEPS
    assert 50 <= len(kept["steps"]) <= 100 + 2
    assert kept["steps"] == sorted(kept["steps"])
    value_at = dict(zip(everything["steps"], everything["values"], strict=True))
    assert all(value_at[s] == v for s, v in zip(kept["steps"], kept["values"], strict=True))  # real points
    wall_at = dict(zip(everything["steps"], everything["wall_times"], strict=True))
    assert all(wall_at[s] == w for s, w in zip(kept["steps"], kept["wall_times"], strict=True))

    buckets = 100 // 4
    for bucket in range(buckets):
        inside = [s for s in everything["steps"] if (s - 1) * buckets // STEPS == bucket]
        values = [value_at[s] for s in inside]
        lowest, highest = inside[values.index(min(values))], inside[values.index(max(values))]
        assert {inside[0], inside[-1], lowest, highest} <= set(kept["steps"]), bucket

    summary = thin["runs"][0]["summary"]["train_loss"]
    assert summary == full["runs"][0]["summary"]["train_loss"]  # exact, whatever the curves
    assert summary["best"] == min(everything["values"]) and summary["best_step"] in kept["steps"]
    assert summary["final_step"] == STEPS and kept["steps"][-1] == STEPS and kept["steps"][0] == 1
    accuracy = thin["runs"][0]["summary"]["test_accuracy"]
    assert accuracy["best"] == max(full["series"][str(run["id"])]["test_accuracy"]["values"])
    assert accuracy["best_step"] in thin["series"][str(run["id"])]["test_accuracy"]["steps"]


def test_the_chart_resolution_is_the_default_and_the_answer_is_smaller(client):
    long_run(client, "long", "study")
    default = client.get(f"{API}/compare", params={"group": "study"})
    full = client.get(f"{API}/compare", params={"group": "study", "max_points": 0})
    assert default.json()["max_points"] == 500 and full.json()["max_points"] == 0
    assert all(len(s["steps"]) <= 502 for per_run in default.json()["series"].values() for s in per_run.values())
    assert len(default.content) < len(full.content) / 3

    packed = client.get(f"{API}/compare", params={"group": "study"}, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.json() == default.json()  # the client unpacks it
    assert int(packed.headers["content-length"]) < len(default.content) / 2
    plain = client.get(f"{API}/compare", params={"group": "study"}, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and json.loads(plain.content) == default.json()


def test_the_page_asks_for_the_metric_it_shows_with_exact_summaries(client):
    run = long_run(client, "long", "study")
    main = client.get(f"{API}/compare", params={"group": "study", "curves": "main"}).json()
    assert main["metrics"] == ["epoch_seconds", "test_accuracy", "train_loss"]  # for the metric menu
    assert set(main["series"][str(run["id"])]) == {"test_accuracy"}  # the preferred result metric
    seconds = [1.0 + (step % 3) / 10 for step in range(1, STEPS + 1)]
    assert math.isclose(main["seconds_per_epoch"][str(run["id"])], statistics.fmean(seconds))
    # Time starts at the first epoch's start: its wall time less its epoch_seconds.
    started = client.get(f"{API}/runs/{run['id']}").json()["started_at"]
    assert started is not None
    first_epoch_start = 1001.0 - 1.1
    assert main["time_origins"][str(run["id"])] == first_epoch_start  # started_at (now) is later

    chosen = client.get(f"{API}/compare", params={"group": "study", "metric": "train_loss", "curves": "main"}).json()
    assert set(chosen["series"][str(run["id"])]) == {"train_loss"}


def test_grouped_runs_keep_the_same_steps_so_their_mean_is_exact(client):
    runs = [long_run(client, f"seed {i}", "seeds", phase=i / 3) for i in range(3)]
    params = {"group": "seeds", "group_by": "config.learning_rate", "metric": "train_loss", "max_points": 100}
    thin = client.get(f"{API}/compare", params=params).json()
    full = client.get(f"{API}/compare", params={**params, "max_points": 0}).json()
    steps = [thin["series"][str(run["id"])]["train_loss"]["steps"] for run in runs]
    assert steps[0] == steps[1] == steps[2] and len(steps[0]) <= 101 and steps[0][-1] == STEPS
    for index, step in enumerate(steps[0]):
        thin_mean = statistics.fmean(thin["series"][str(r["id"])]["train_loss"]["values"][index] for r in runs)
        full_mean = statistics.fmean(full["series"][str(r["id"])]["train_loss"]["values"][step - 1] for r in runs)
        assert thin_mean == full_mean


def test_m4_keeps_short_curves_whole_and_copes_with_missing_values():
    assert m4_indices([1, 2, 3], [1.0, None, 2.0], 100) == [0, 1, 2]
    steps = list(range(1, 1001))
    values = [None if 400 <= s < 600 else float((s * 37) % 101) for s in steps]  # 200 non-finite epochs
    kept = m4_indices(steps, values, 40)
    assert kept[0] == 0 and kept[-1] == 999 and len(kept) <= 42
    known = [v for v in values if v is not None]
    assert values.index(min(known)) in kept and values.index(max(known)) in kept
    assert 399 in kept and 400 in kept  # the ends of the stretches, missing values or not


def test_a_finished_runs_summary_is_kept_and_a_revived_run_is_read_again(client, monkeypatch):
    from backend.services import finished_summaries as kept

    monkeypatch.setattr(kept, "SETTLE_SECONDS", 0)
    run = track_run(client, name="script", group="kept", config={})
    post_points(client, run["id"], [{"name": "test_accuracy", "step": 1, "value": 0.5}])
    finish_run(client, run["id"], "failed", error=f"{SCRIPT_LOST} (by hand)")  # as the recovery sweep does
    first = client.get(f"{API}/compare", params={"group": "kept"}).json()
    assert first["runs"][0]["summary"]["test_accuracy"]["best"] == 0.5
    assert client.get(f"{API}/compare", params={"group": "kept"}).json()["runs"] == first["runs"]  # from memory

    # Its script was only cut off: its next heartbeat revives it, and its new points count.
    response = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1})
    assert response.status_code == 200, response.text
    post_points(client, run["id"], [{"name": "test_accuracy", "step": 2, "value": 0.9}])
    finish_run(client, run["id"])
    again = client.get(f"{API}/compare", params={"group": "kept"}).json()["runs"][0]["summary"]["test_accuracy"]
    assert again == {"final": 0.9, "final_step": 2, "best": 0.9, "best_step": 2, "selected": None}
