"""The summaries kept as points arrive (backend/crud/metrics.py add_points) say what the points say:
for random batches, with points re-sent with other values, NaN and infinities, steps out of order and
ties, each metric's final and best value and the run's selected epoch are those computed from every
point, on SQLite and on Postgres."""

from __future__ import annotations

import json
import math
import random

import pytest

from tests.utils.factories import API, started_run

NAMES = ("val_loss", "val_accuracy", "lr")
VALUES = (0.1, 0.2, 0.5, 0.5, 0.9, None, math.nan, math.inf, -math.inf)


def _expected(stored: dict[tuple[str, int], float | None]) -> dict[str, dict]:
    """What the old aggregate over every point gave: final at the last step, best the lowest (loss) or
    highest (accuracy) finite value at its earliest step, none for lr."""
    found = {}
    for name in {name for name, _ in stored}:
        points = sorted((step, value) for (n, step), value in stored.items() if n == name)
        entry = {"final": points[-1][1], "final_step": points[-1][0], "best": None, "best_step": None}
        finite = [(step, value) for step, value in points if value is not None]
        if finite and name != "lr":
            pick = min if name.endswith("loss") else max
            best = pick(value for _, value in finite)
            entry["best"], entry["best_step"] = best, next(step for step, value in finite if value == best)
        found[name] = entry
    return found


@pytest.mark.parametrize("seed", range(4))
def test_kept_summaries_equal_the_figures_of_every_point(client, seed):
    rng = random.Random(seed)
    run = started_run(client)
    stored: dict[tuple[str, int], float | None] = {}
    for _ in range(8):
        batch = [
            {"name": rng.choice(NAMES), "step": rng.randrange(40), "value": rng.choice(VALUES)}
            for _ in range(rng.randrange(1, 30))
        ]
        for point in batch:  # the first of a (name, step) counts, in a batch as across batches
            value = point["value"]
            finite = value if value is not None and math.isfinite(value) else None
            stored.setdefault((point["name"], point["step"]), finite)
        body = json.dumps({"attempt": 1, "points": batch})  # NaN and Infinity as the literals Python writes
        headers = {"content-type": "application/json"}
        response = client.post(f"{API}/runs/{run['id']}/metrics", content=body, headers=headers)
        assert response.status_code == 200, response.text
    answer = client.get(f"{API}/runs/{run['id']}").json()
    summary = {name: {k: v for k, v in entry.items() if k != "selected"} for name, entry in answer["summary"].items()}
    expected = _expected(stored)
    assert summary == expected
    assert answer["selected_epoch"] == expected.get(answer["selection_metric"], {}).get("best_step")
    assert client.get(f"{API}/runs", params={"limit": 50}).json()["data"][0]["summary"] == answer["summary"]
