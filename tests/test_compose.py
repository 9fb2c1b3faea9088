"""docker-compose.yml describes the scaled setup: it cannot run here (no Docker engine), so its
shape is checked, and every trainboard command in it must be a real subcommand with valid options."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

from backend.cli import cli

COMPOSE = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_of_the_scaled_setup():
    assert {"api", "worker", "redis", "postgres"} <= set(SERVICES)
    assert "--appendonly" in SERVICES["redis"]["command"] and "yes" in SERVICES["redis"]["command"]
    gpus = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in gpus)
    assert "ports" not in SERVICES["worker"] and "container_name" not in SERVICES["worker"], "workers must scale"


@pytest.mark.parametrize("name", ["api", "worker", "redis", "postgres"])
def test_each_long_running_service_has_a_health_check_or_waits_for_healthy_ones(name):
    service = SERVICES[name]
    depends = service.get("depends_on", {})
    assert "healthcheck" in service or depends
    for dependency, rule in depends.items():
        assert dependency in SERVICES
        expected = "service_completed_successfully" if dependency == "migrate" else "service_healthy"
        assert rule["condition"] == expected
        if expected == "service_healthy":
            assert "healthcheck" in SERVICES[dependency]


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if s.get("command", [""])[0] == "trainboard"])
def test_trainboard_commands_are_real_subcommands(name):
    command = SERVICES[name]["command"]
    subcommand = cli.commands.get(command[1])
    assert subcommand is not None, f"{name}: trainboard has no {command[1]!r} command"
    # Parsing the options with the real command fails on an unknown option or a bad value.
    subcommand.make_context(command[1], list(command[2:]))


def test_the_token_is_required_when_the_api_listens_beyond_localhost():
    env = COMPOSE["x-trainboard-env"]
    assert "TRAINBOARD_API_TOKEN" in env and ":?" in env["TRAINBOARD_API_TOKEN"]
    for name in ("api", "worker"):
        assert SERVICES[name]["environment"]["TRAINBOARD_BROKER_URL"].startswith("redis://")
        assert SERVICES[name]["environment"]["TRAINBOARD_DATABASE_URL"].startswith("postgresql")


ROOT = Path(__file__).resolve().parent.parent
TORCH = {"torch", "torchvision", "nvidia-cudnn-cu12", "triton"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _base_requirements(distribution: str, extra: str | None = None) -> list[str]:
    """What installing `distribution` (with `extra`) pulls in: its requirements without an extra
    marker, and those of `extra`."""
    wanted = [f'extra == "{extra}"'] if extra else []
    return [
        r for r in importlib.metadata.requires(distribution) or []
        if "extra ==" not in r or any(marker in r for marker in wanted)
    ]


def test_two_images_the_apis_without_torch():
    for name in ("api", "migrate"):
        assert SERVICES[name]["build"]["dockerfile"] == "docker/api.Dockerfile"
    assert SERVICES["worker"]["build"]["dockerfile"] == "docker/worker.Dockerfile"
    api = (ROOT / "docker" / "api.Dockerfile").read_text()
    installs = [line for line in api.splitlines() if line.startswith("RUN pip install")]
    assert installs == ["RUN pip install '.[server]'"], "the API image installs trainboard with the server extra only"
    assert "COPY worker" not in api
    assert "pip install '.[worker]'" in (ROOT / "docker" / "worker.Dockerfile").read_text()


def test_the_api_images_dependency_list_holds_no_torch():
    """`pip install '.[server]'` (the API image): trainboard's requirements with the server extra, and
    theirs in turn, as installed here, name neither torch nor torchvision; the `worker` extra does."""
    seen: set[str] = set()
    todo = ["trainboard"]
    while todo:
        distribution = todo.pop()
        extra = "server" if distribution == "trainboard" else None
        for requirement in _base_requirements(distribution, extra):
            name = _name(requirement)
            assert name not in TORCH, f"{distribution} requires {requirement}: the API image would carry torch"
            if name not in seen:
                seen.add(name)
                try:
                    importlib.metadata.distribution(name)
                except importlib.metadata.PackageNotFoundError:
                    continue  # a requirement whose marker does not apply here
                todo.append(name)
    assert {"fastapi", "sqlalchemy", "celery"} <= seen
    worker_extra = [r for r in importlib.metadata.requires("trainboard") if 'extra == "worker"' in r]
    assert {"torch", "torchvision", "trainboard"} <= {_name(r) for r in worker_extra}


def test_pip_install_trainboard_is_the_client_alone():
    """`pip install trainboard` pulls in what the Python client needs and nothing of the server:
    no FastAPI, SQLAlchemy, Celery, pydantic, NumPy or torch in a training script's environment."""
    assert {_name(r) for r in _base_requirements("trainboard")} == {"httpx"}
