"""Many writers at once: 16 concurrent clients posting metrics through a real server lose no
point and get no "database is locked" error, on SQLite (WAL + busy timeout) and on Postgres."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from backend.main import create_app
from tests.utils.factories import API, started_run
from tests.utils.live_server import serve

WRITERS = 16
BATCHES = 10
POINTS_PER_BATCH = 200


@pytest.mark.timeout(180)
def test_sixteen_concurrent_writers_lose_nothing(client, migrated):
    runs = [started_run(client, name=f"writer {i}")["id"] for i in range(WRITERS // 2)]  # two writers per run

    def write(writer: int) -> list[int]:
        run_id = runs[writer // 2]
        statuses = []
        with httpx.Client(base_url=base_url, timeout=60) as http:
            for batch in range(BATCHES):
                # Each writer owns its own metric names, so every point is distinct.
                points = [{"name": f"w{writer}_m{batch}", "step": step, "value": float(step)}
                          for step in range(POINTS_PER_BATCH)]
                response = http.post(f"{API}/runs/{run_id}/metrics", json={"attempt": 1, "points": points})
                statuses.append(response.status_code)
                assert response.status_code == 200, response.text
                assert response.json()["inserted"] == POINTS_PER_BATCH
        return statuses

    with serve(create_app(migrated)) as base_url, ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(write, range(WRITERS)))
        assert all(status == 200 for statuses in results for status in statuses)
        stored = sum(len(httpx.get(f"{base_url}{API}/runs/{run_id}/metrics", timeout=60).json()["points"])
                     for run_id in runs)
    assert stored == WRITERS * BATCHES * POINTS_PER_BATCH
