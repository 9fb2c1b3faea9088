"""Metric points: idempotent batch ingestion, non-finite values, filters, order and limits, and the
lease: points only from the current attempt of a running run."""

from __future__ import annotations

import json

import pytest

from tests.utils.factories import API, create_run, finish_run, post_points, start_run, started_run, strict_json

NAMES = ("train_loss", "val_loss", "val_accuracy")


def _batch(steps=range(5), names=NAMES) -> list[dict]:
    return [
        {"name": name, "step": step, "value": step * 10 + i, "wall_time": 1_700_000_000.0 + step}
        for step in steps
        for i, name in enumerate(names)
    ]


def _read(client, run_id: int, **params) -> list[dict]:
    response = client.get(f"{API}/runs/{run_id}/metrics", params=params)
    assert response.status_code == 200, response.text
    body = strict_json(response.content)
    assert body["run_id"] == run_id
    return body["points"]


def _keys(points) -> list[tuple[str, int]]:
    return [(p["name"], p["step"]) for p in points]


@pytest.fixture
def run(client) -> dict:
    """A running run, claimed as attempt 1: the points below are its worker's."""
    return started_run(client)


def test_batch_is_stored_and_read_back(client, run):
    batch = _batch()
    assert post_points(client, run["id"], batch) == {"received": 15, "inserted": 15}
    points = _read(client, run["id"])
    assert len(points) == 15
    assert sorted(points, key=lambda p: (p["name"], p["step"])) == sorted(batch, key=lambda p: (p["name"], p["step"]))
    assert all(isinstance(p["value"], float) for p in points)


def test_same_batch_twice_is_stored_once(client, run):
    post_points(client, run["id"], _batch())
    assert post_points(client, run["id"], _batch()) == {"received": 15, "inserted": 0}
    points = _read(client, run["id"])
    assert len(points) == 15
    assert len(set(_keys(points))) == 15


def test_overlapping_batch_inserts_only_new_points(client, run):
    post_points(client, run["id"], _batch(steps=range(3)))
    assert post_points(client, run["id"], _batch(steps=range(2, 5))) == {"received": 9, "inserted": 6}
    assert len(_read(client, run["id"])) == 15


def test_retry_does_not_overwrite_a_stored_value(client, run):
    post_points(client, run["id"], [{"name": "loss", "step": 1, "value": 0.5}])
    assert post_points(client, run["id"], [{"name": "loss", "step": 1, "value": 9.9}])["inserted"] == 0
    assert [p["value"] for p in _read(client, run["id"])] == [0.5]


def test_same_point_twice_in_one_batch_is_stored_once(client, run):
    batch = [{"name": "loss", "step": 1, "value": 0.5}, {"name": "loss", "step": 1, "value": 0.7}]
    assert post_points(client, run["id"], batch) == {"received": 2, "inserted": 1}
    points = _read(client, run["id"])
    assert _keys(points) == [("loss", 1)]
    assert points[0]["value"] == 0.5  # the first one counts


def test_points_of_runs_are_kept_apart(client, run):
    other = started_run(client)
    post_points(client, run["id"], _batch(steps=[0]))
    assert post_points(client, other["id"], _batch(steps=[0])) == {"received": 3, "inserted": 3}
    assert len(_read(client, run["id"])) == 3
    assert len(_read(client, other["id"])) == 3


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_are_stored_as_null(client, run, literal):
    text = (
        '{"attempt": 1, "points": ['
        f'{{"name": "loss", "step": 0, "value": {literal}}}, '
        '{"name": "loss", "step": 1, "value": 0.25}, '
        f'{{"name": "acc", "step": 0, "value": 0.5, "wall_time": {literal}}}'
        "]}"
    )
    response = client.post(
        f"{API}/runs/{run['id']}/metrics", content=text, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert strict_json(response.content) == {"received": 3, "inserted": 3}

    response = client.get(f"{API}/runs/{run['id']}/metrics")
    assert response.status_code == 200
    points = {(p["name"], p["step"]): p for p in strict_json(response.content)["points"]}
    assert points[("loss", 0)]["value"] is None
    assert points[("loss", 1)]["value"] == 0.25
    assert points[("acc", 0)]["value"] == 0.5
    wall_time = points[("acc", 0)]["wall_time"]  # a non-finite time becomes the time of receipt
    assert isinstance(wall_time, float) and wall_time > 1_600_000_000


def test_null_value_is_accepted(client, run):
    assert post_points(client, run["id"], [{"name": "loss", "step": 0, "value": None}])["inserted"] == 1
    assert _read(client, run["id"])[0]["value"] is None


def test_wall_time_defaults_to_time_of_receipt(client, run):
    import time

    before = time.time()
    post_points(client, run["id"], [{"name": "loss", "step": 0, "value": 1.0}])
    (point,) = _read(client, run["id"])
    assert before - 1 <= point["wall_time"] <= time.time() + 1


def test_filter_by_name_and_since_step(client, run):
    post_points(client, run["id"], _batch())
    assert {p["name"] for p in _read(client, run["id"], name="val_loss")} == {"val_loss"}
    assert len(_read(client, run["id"], name="val_loss")) == 5
    both = _read(client, run["id"], name=["val_loss", "train_loss"])
    assert {p["name"] for p in both} == {"val_loss", "train_loss"} and len(both) == 10
    assert _read(client, run["id"], name="unknown") == []
    since = _read(client, run["id"], since_step=3)
    assert sorted({p["step"] for p in since}) == [3, 4] and len(since) == 6
    assert _keys(_read(client, run["id"], name="val_accuracy", since_step=4)) == [("val_accuracy", 4)]
    assert _read(client, run["id"], since_step=99) == []
    assert client.get(f"{API}/runs/{run['id']}/metrics", params={"since_step": -1}).status_code == 422


def test_points_are_returned_by_step(client, run):
    # sent out of order, in several batches
    post_points(client, run["id"], _batch(steps=[4, 2]))
    post_points(client, run["id"], _batch(steps=[0, 3]))
    post_points(client, run["id"], _batch(steps=[1]))
    points = _read(client, run["id"])
    steps = [p["step"] for p in points]
    assert steps == sorted(steps) == [s for s in range(5) for _ in NAMES]
    for name in NAMES:
        assert [p["step"] for p in _read(client, run["id"], name=name)] == [0, 1, 2, 3, 4]


def test_large_batch_in_one_call(client, run):
    batch = _batch(steps=range(1000), names=tuple(f"metric_{i}" for i in range(5)))
    assert len(batch) == 5000
    assert post_points(client, run["id"], batch) == {"received": 5000, "inserted": 5000}
    assert post_points(client, run["id"], batch) == {"received": 5000, "inserted": 0}
    points = _read(client, run["id"])
    assert len(points) == 5000
    assert points[-1]["step"] == 999


def test_batch_over_the_limit_is_refused(client, run):
    batch = [{"name": "loss", "step": step, "value": 0.0} for step in range(10_001)]
    response = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": batch})
    assert response.status_code == 422
    assert ["body", "points"] in [error["loc"] for error in response.json()["detail"]]
    assert _read(client, run["id"]) == []


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"name": "val loss", "step": 0, "value": 1.0}, "name"),
        ({"name": "x" * 101, "step": 0, "value": 1.0}, "name"),
        ({"name": "", "step": 0, "value": 1.0}, "name"),
        ({"name": "loss\n", "step": 0, "value": 1.0}, "name"),
        ({"name": "loss", "step": -1, "value": 1.0}, "step"),
        ({"name": "loss", "step": 2**31, "value": 1.0}, "step"),
        ({"name": "loss", "step": 1.5, "value": 1.0}, "step"),
        ({"name": "loss", "step": 0, "value": "high"}, "value"),
        ({"name": "loss", "step": 0}, "value"),
        ({"name": "loss", "step": 0, "value": 1.0, "epoch": 0}, "epoch"),
    ],
    ids=["space", "101-chars", "empty", "newline", "step-negative", "step-too-large", "step-fraction",
         "value-text", "value-missing", "unknown-field"],
)
def test_bad_point_refuses_the_whole_batch(client, run, point, field):
    good = {"name": "loss", "step": 5, "value": 1.0}
    response = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": [good, point]})
    assert response.status_code == 422, response.text
    assert ["body", "points", 1, field] in [error["loc"] for error in response.json()["detail"]]
    assert _read(client, run["id"]) == []


def test_accepted_metric_names(client, run):
    names = ["loss", "val/loss", "lr.group-0", "x" * 100, "Top_5"]
    points = [{"name": name, "step": 0, "value": 1.0} for name in names]
    assert post_points(client, run["id"], points)["inserted"] == 5
    assert sorted(p["name"] for p in _read(client, run["id"])) == sorted(names)


def test_empty_batch(client, run):
    assert post_points(client, run["id"], []) == {"received": 0, "inserted": 0}


def test_unknown_run(client, run):
    response = client.post(f"{API}/runs/999/metrics", json={"attempt": 1, "points": _batch(steps=[0])})
    assert response.status_code == 404
    assert client.get(f"{API}/runs/999/metrics").status_code == 404
    assert _read(client, run["id"]) == []


def test_extreme_finite_values_round_trip(client, run):
    values = [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 0.0, -0.0, 0.1 + 0.2]
    post_points(client, run["id"], [{"name": "v", "step": i, "value": v} for i, v in enumerate(values)])
    response = client.get(f"{API}/runs/{run['id']}/metrics")
    got = [p["value"] for p in json.loads(response.content, parse_constant=lambda c: pytest.fail(c))["points"]]
    assert got == values


@pytest.mark.timeout(120)
def test_racing_retries_of_one_batch_store_it_once(client, run):
    """A batch sent again while the first send is still being stored: each point is counted once."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    senders = 4
    batch = _batch(steps=range(50))
    barrier = Barrier(senders)

    def send(_: int) -> int:
        barrier.wait(timeout=30)
        return post_points(client, run["id"], batch)["inserted"]

    with ThreadPoolExecutor(senders) as pool:
        inserted = list(pool.map(send, range(senders)))
    assert sum(inserted) == len(batch) == 150
    points = _read(client, run["id"])
    assert len(points) == 150 and len(set(_keys(points))) == 150


# --- the lease: only the current attempt of a running run reports points ----------------------------


def _best(client, run_id: int, name: str):
    return client.get(f"{API}/runs/{run_id}").json()["summary"][name]["best"]


def test_points_for_a_completed_run_are_refused_and_not_stored(client):
    run = create_run(client)
    start_run(client, run["id"])
    post_points(client, run["id"], [{"name": "test_accuracy", "step": 1, "value": 0.25}])
    finish_run(client, run["id"])
    late = client.post(
        f"{API}/runs/{run['id']}/metrics",
        json={"attempt": 1, "points": [{"name": "test_accuracy", "step": 50, "value": 0.999}]},
    )
    assert late.status_code == 409 and "completed" in late.json()["detail"]
    assert _best(client, run["id"], "test_accuracy") == 0.25
    assert [p["step"] for p in _read(client, run["id"])] == [1]


def test_points_for_a_queued_run_are_refused(client):
    run = create_run(client)
    response = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": _batch(steps=[0])})
    assert response.status_code == 409 and "queued" in response.json()["detail"]
    assert _read(client, run["id"]) == []


def test_points_of_a_stale_attempt_are_refused(client):
    run = create_run(client)
    start_run(client, run["id"], "w1")
    client.post(f"{API}/runs/{run['id']}/release", json={"attempt": 1})  # handed to another worker
    assert start_run(client, run["id"], "w2")["attempt"] == 2
    stale = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": _batch(steps=[7])})
    assert stale.status_code == 409 and "lost its lease" in stale.json()["detail"]
    assert _read(client, run["id"]) == []
    assert post_points(client, run["id"], _batch(steps=[7]), attempt=2)["inserted"] == 3


def test_a_batch_without_its_attempt_is_422_naming_it(client, run):
    response = client.post(f"{API}/runs/{run['id']}/metrics", json={"points": _batch(steps=[0])})
    assert response.status_code == 422
    assert ["body", "attempt"] in [error["loc"] for error in response.json()["detail"]]
    assert _read(client, run["id"]) == []


def test_a_batch_beyond_the_runs_point_cap_is_refused_whole_with_413(migrated):
    from fastapi.testclient import TestClient

    from backend.main import create_app

    capped = migrated.model_copy(update={"max_points_per_run": 10})
    with TestClient(create_app(capped), base_url="http://localhost") as client:
        run = started_run(client)
        post_points(client, run["id"], _batch(steps=range(3)))  # 9 points
        post_points(client, run["id"], _batch(steps=range(3)))  # re-sent: nothing new, still 9
        response = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": _batch(steps=[3])})
        assert response.status_code == 413
        detail = response.json()["detail"]
        assert f"run {run['id']} holds 9 metric points" in detail and "10 points" in detail
        assert "TRAINBOARD_MAX_POINTS_PER_RUN" in detail
        assert len(_read(client, run["id"])) == 9  # nothing of the refused batch
        assert client.get(f"{API}/runs/{run['id']}").json()["summary"]["val_loss"]["final_step"] == 2
        assert post_points(client, run["id"], [{"name": "lr", "step": 0, "value": 0.1}])["inserted"] == 1  # the 10th


def test_pages_follow_the_cursor_over_every_point_exactly_once(client, run):
    post_points(client, run["id"], _batch(steps=[7, 3, 0, 12, 5, 9, 1]))
    everything = _read(client, run["id"])
    pages, cursor = [], None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{API}/runs/{run['id']}/metrics", params=params).json()
        assert len(body["points"]) <= 4
        pages.append(body["points"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(pages) == 6 and [p for page in pages for p in page] == everything  # 21 points, by step and name
    assert client.get(f"{API}/runs/{run['id']}/metrics", params={"cursor": "x"}).status_code == 422


def test_a_chart_read_thins_long_curves_as_the_comparison_does(client, run):
    """Stretches shorter than a tile (64 steps) are thinned from the points, exactly as the
    comparison thins its curves."""
    import math
    import random

    from backend.services.downsample import m4_indices

    rng = random.Random(1)
    steps = sorted(rng.sample(range(2000), 1500))  # 50 stretches of 40 steps
    values = [rng.choice([None, round(rng.random(), 1), math.sin(s / 50)]) for s in steps]
    points = [{"name": "val_loss", "step": s, "value": v} for s, v in zip(steps, values, strict=True)]
    for start in range(0, 1500, 750):
        lr = [{"name": "lr", "step": s, "value": 0.1} for s in range(start // 75, start // 75 + 10)]
        post_points(client, run["id"], points[start : start + 750] + lr)
    body = client.get(f"{API}/runs/{run['id']}/metrics", params={"max_points": 200}).json()
    kept = [(p["step"], p["value"]) for p in body["points"] if p["name"] == "val_loss"]
    assert kept == [(steps[i], values[i]) for i in m4_indices(steps, values, 200)]
    assert [p["step"] for p in body["points"] if p["name"] == "lr"] == list(range(20))  # short: every point
    assert [p["step"] for p in body["points"]] == sorted(p["step"] for p in body["points"])


def _m4_by_tiles(steps: list[int], values: list, max_points: int) -> list[int]:
    """M4 over 64-step tiles, from the points themselves: a tile joins the stretch of its first
    step; each stretch keeps its first and last step and its earliest lowest and highest value."""
    buckets, span = max_points // 4, steps[-1] - steps[0] + 1
    stretches: dict[int, list[tuple[int, float | None]]] = {}
    tiles: dict[int, list[tuple[int, float | None]]] = {}
    for step, value in zip(steps, values, strict=True):
        tiles.setdefault(step // 64, []).append((step, value))
    for tile in sorted(tiles):
        points = tiles[tile]
        stretches.setdefault((points[0][0] - steps[0]) * buckets // span, []).extend(points)
    keep = set()
    for points in stretches.values():
        keep |= {points[0][0], points[-1][0]}
        finite = [(value, step) for step, value in points if value is not None]
        if finite:
            keep |= {min(finite)[1], min(finite, key=lambda vs: (-vs[0], vs[1]))[1]}
    return sorted(keep)


def test_a_chart_read_of_a_long_run_picks_its_points_from_the_tiles_kept_at_ingestion(client, run):
    """100,000 steps at 2,000 points: stretches of 200 steps, thinned from the 64-step tiles kept as
    the points arrived (out of order, a tile's points split between batches, NULLs, a re-sent
    batch): each stretch's first, last, lowest and highest point, the run's extremes among them."""
    import random

    rng = random.Random(7)
    steps = sorted(rng.sample(range(100_000), 60_000))
    values = [None if rng.random() < 0.05 else round(rng.gauss(0, 1), 2) for _ in steps]
    values[rng.randrange(len(values))] = -9.0  # the run's lowest, and best
    batches = [steps[start : start + 7000] for start in range(0, len(steps), 7000)]
    rng.shuffle(batches)
    by_step = dict(zip(steps, values, strict=True))
    for batch in [*batches, batches[0]]:
        post_points(client, run["id"], [{"name": "val_loss", "step": s, "value": by_step[s]} for s in batch])
    body = client.get(f"{API}/runs/{run['id']}/metrics", params={"max_points": 2000}).json()
    kept = [(p["step"], p["value"]) for p in body["points"]]
    assert [step for step, _ in kept] == _m4_by_tiles(steps, values, 2000)
    assert all(by_step[step] == value for step, value in kept)  # real points, with their values
    assert len(kept) <= 2000 and (steps[0], values[0]) in kept and (steps[-1], values[-1]) in kept
    assert min(value for _, value in kept if value is not None) == -9.0
