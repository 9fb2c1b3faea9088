"""The API never imports torch, torchvision or the worker's code: in a fresh process where those
imports fail, it migrates, takes a worker's catalog, serves /catalog and /presets, takes runs and
a study, and compares them, and torch is not in sys.modules afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.utils.catalog import builtin_catalog

SCRIPT = textwrap.dedent(
    """
    import json, sys

    class Forbidden:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "worker"):
                raise ImportError(f"the API imported {name}")
            return None

    sys.meta_path.insert(0, Forbidden())

    from fastapi.testclient import TestClient

    from backend.core.db import get_engine
    from backend.core.migrate import upgrade
    from backend.main import create_app
    from trainboard.settings import Settings

    data_dir, catalog_file = sys.argv[1], sys.argv[2]
    settings = Settings(data_dir=data_dir, broker_url=f"embedded+sqlite:///{data_dir}/broker.db")
    upgrade(get_engine(settings))
    spec = {"model": "convnet", "dataset": "synthetic_cifar10", "learning_rate": 0.1, "epochs": 1, "batch_size": 8}
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        assert client.post("/api/v1/workers", json=json.load(open(catalog_file))).status_code == 200
        catalog = client.get("/api/v1/catalog")
        assert catalog.status_code == 200 and catalog.json()["models"], catalog.text
        assert client.get("/api/v1/presets").json()["count"] > 0
        runs = [client.post("/api/v1/runs", json={"spec": {**spec, "seed": seed}}) for seed in (1, 2)]
        assert all(r.status_code == 201 for r in runs), runs[0].text
        study = client.post("/api/v1/studies", json={"name": "s", "base_spec": spec, "seeds": 2,
                                                     "grid": {"model.norm": ["none", "batch"]}})
        assert study.status_code == 201, study.text
        ids = [r.json()["id"] for r in runs]
        compare = client.get("/api/v1/compare", params={"run_id": ids})
        assert compare.status_code == 200, compare.text
        assert client.get("/api/v1/stats", params={"run_id": ids}).status_code == 200
    print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "worker")))
    """
)


def test_the_api_serves_without_torch(tmp_path):
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(builtin_catalog()))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(catalog_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("loaded: []")
