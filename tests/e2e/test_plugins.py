"""A plugin installed for one worker: its model and dataset appear in the catalog as offered by
that worker only, its runs train there from REST, a worker without it never receives them, and
the run is compared with a built-in model's in one view. Real API and worker processes; the
plugin is the repository's example (examples/plugin), installed with pip into a folder on that
worker's PYTHONPATH."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.services import running_stack, with_example_plugin
from tests.utils.live_server import free_port
from trainboard.queues import DEFAULT_QUEUE

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PLUGIN_QUEUE = "trainboard.trainboard-example-plugin"  # model and dataset both from the plugin
PLUGIN_SPEC = {"model": {"name": "tiny_cnn", "width": 4}, "dataset": "stripes", "learning_rate": 0.05,
               "epochs": 2, "batch_size": 50, "optimizer": "adam"}  # fmt: skip
BUILTIN_SPEC = {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.5, "epochs": 2, "batch_size": 64}


def submit(stack, spec: dict, name: str) -> dict:
    response = httpx.post(f"{stack.api_url}/api/v1/runs", json={"name": name, "spec": spec}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def get_run(stack, run_id: int) -> dict:
    return httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}", timeout=10).json()


def wait_until_ended(stack, run_id: int, timeout: float = 150) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = get_run(stack, run_id)
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not end in {timeout}s:\n{stack.logs()}")


def test_a_plugin_trains_on_the_worker_that_has_it_and_only_there(tmp_path):
    plugin = with_example_plugin()
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(tmp_path / "data"),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HEARTBEAT_SECONDS": "1",
        "TRAINBOARD_WORKER_PUBLISH_SECONDS": "1",  # the API tells the workers: publish every second
    }
    with running_stack(env, tmp_path, workers=0) as stack:
        stack.start_worker("plain")
        stack.start_worker("plugged", env=plugin)
        workers = stack.wait_for_workers("plain", "plugged")
        assert set(workers["plain"]["queues"]) == {DEFAULT_QUEUE}
        assert PLUGIN_QUEUE in workers["plugged"]["queues"] and workers["plugged"]["broken"] == []

        catalog = httpx.get(f"{stack.api_url}/api/v1/catalog", timeout=10).json()
        models = {m["name"]: m for m in catalog["models"]}
        datasets = {d["name"]: d for d in catalog["datasets"]}
        assert [w.split("@")[0] for w in models["tiny_cnn"]["workers"]] == ["plugged"]
        assert sorted(w.split("@")[0] for w in models["mlp"]["workers"]) == ["plain", "plugged"]
        assert models["tiny_cnn"]["package"] == "trainboard-example-plugin"
        assert [o["name"] for o in models["tiny_cnn"]["options"]] == ["width", "activation"]
        assert datasets["stripes"]["input_shape"] == [1, 16, 16] and datasets["stripes"]["num_classes"] == 3

        # Validated against the schema the plugin published: a 422 naming the option.
        bad = httpx.post(f"{stack.api_url}/api/v1/runs",
                         json={"spec": {**PLUGIN_SPEC, "model": {"name": "tiny_cnn", "width": 0}}}, timeout=10)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "spec", "model", "width"]

        trained = submit(stack, PLUGIN_SPEC, "plugin run")
        assert trained["queue"] == PLUGIN_QUEUE
        done = wait_until_ended(stack, trained["id"])
        assert done["status"] == "completed", done["error"]
        assert done["worker_host"].startswith("plugged@")
        assert done["param_count"] == (1 * 4 * 9 + 4) + (4 * 8 * 9 + 8) + (8 * 3 + 3)  # measured by the worker
        # The workers publish again at the API's interval: that is how the API knows they are alive.
        assert stack.online_workers()["plain"]["last_seen_at"] > workers["plain"]["last_seen_at"]

        # Without the plugged worker, its runs wait: the plain worker trains the built-in run
        # submitted after it, and never receives the plugin's.
        stack.stop("plugged")
        assert "plugged" not in stack.online_workers()  # it said so on its way out
        waiting = submit(stack, PLUGIN_SPEC, "plugin run, waiting")
        builtin = submit(stack, BUILTIN_SPEC, "built-in run")
        misfit = submit(stack, {**BUILTIN_SPEC, "model": {"name": "convnet", "widths": [8] * 6}}, "too deep")
        assert wait_until_ended(stack, builtin["id"])["status"] == "completed"
        failed = wait_until_ended(stack, misfit["id"], timeout=30)
        assert failed["status"] == "failed" and "cannot take this dataset's 1x28x28 inputs" in failed["error"]
        assert failed["epochs_completed"] == 0
        still = get_run(stack, waiting["id"])
        assert still["status"] == "queued" and still["attempt"] == 0, still  # never claimed by the plain worker

        stack.start_worker("plugged", env=plugin)
        done_later = wait_until_ended(stack, waiting["id"])
        assert done_later["status"] == "completed" and done_later["worker_host"].startswith("plugged@")

        # One comparison of the plugin's run and the built-in one.
        compare = httpx.get(f"{stack.api_url}/api/v1/compare", params={"run_id": [trained["id"], builtin["id"]]},
                            timeout=10)
        assert compare.status_code == 200, compare.text
        compared = {run["spec"]["model"]["name"]: run for run in compare.json()["runs"]}
        assert set(compared) == {"tiny_cnn", "mlp"}
        assert all(run["param_count"] and run["macs"] for run in compared.values())


def test_a_broken_plugin_is_skipped_and_the_worker_serves_the_rest(tmp_path):
    """A plugin whose module fails to import is reported with its name; the worker still trains."""
    broken = tmp_path / "plugins"
    package = broken / "broken_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('no module named cuda_magic')\n")
    info = broken / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[trainboard.models]\nmagic = broken_plugin\n")
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(tmp_path / "data"),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
    }
    with running_stack(env, tmp_path, workers=0) as stack:
        stack.start_worker("solo", env={"PYTHONPATH": str(broken)})
        worker = stack.wait_for_workers("solo")["solo"]
        assert [b["package"] for b in worker["broken"]] == ["broken-plugin"]
        assert "no module named cuda_magic" in worker["broken"][0]["error"]
        run = submit(stack, BUILTIN_SPEC, "still trains")
        assert wait_until_ended(stack, run["id"])["status"] == "completed"
