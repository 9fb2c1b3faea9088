"""A model that cannot take the dataset's inputs is refused at the door (422 naming the field),
not found out by a worker."""

from __future__ import annotations

from tests.utils.factories import API, run_count, valid_spec


def test_a_model_too_deep_for_the_inputs_is_a_422(client):
    spec = valid_spec(model={"name": "convnet", "widths": [8, 8, 8, 8, 8, 8]})  # 6 poolings of 28 pixels
    response = client.post(f"{API}/runs", json={"spec": spec})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "spec", "dataset"]
    assert "convnet" in error["msg"] and "1x28x28" in error["msg"]
    assert run_count(client) == 0


def test_a_unet_needs_inputs_divisible_by_its_poolings(client):
    spec = valid_spec(model={"name": "unet", "num_layers": 6},
                      dataset={"name": "synthetic_segmentation", "image_size": 48})
    response = client.post(f"{API}/runs", json={"spec": spec})
    assert response.status_code == 422 and "unet" in response.json()["detail"][0]["msg"]
    spec["dataset"]["image_size"] = 64
    assert client.post(f"{API}/runs", json={"spec": spec}).status_code == 201
