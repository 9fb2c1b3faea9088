"""One settings object for the API, the worker and the CLI (environment variables prefixed TRAINBOARD_).

With nothing set, everything lives under one data folder: a SQLite store and an embedded
broker (kombu's SQLAlchemy transport on a second SQLite file), so no external server is needed.
Point `database_url` at Postgres and `broker_url` at Redis for the scaled setup.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trainboard.model_budget import DEFAULT_MAX_PARAMETERS

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# `embedded+sqlite:///path`: kombu's SQLAlchemy transport, tuned (worker/celery_app.py).
EMBEDDED_BROKER_SCHEME = "embedded"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAINBOARD_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("trainboard-data"), description="Datasets, the default database and broker")
    artifacts_dir: Path | None = Field(default=None, description="Checkpoints and images; default <data_dir>/artifacts")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir")
    broker_url: str | None = Field(default=None, description="Celery broker; default embedded SQLite broker")
    api_url: str = Field(default="http://127.0.0.1:8000", description="Where workers and the CLI reach the API")
    api_token: str | None = Field(default=None, description="Bearer token for write routes")
    # A token the API takes without it counting as configured: `trainboard up` mints one for its own
    # worker, so the local worker can always report, whatever tokens the user made.
    worker_token: str | None = Field(default=None, description="Set by `trainboard up` for its worker")
    # Browser origins allowed to call the API from other sites: comma-separated or a JSON list.
    # Empty (the default): no CORS headers at all, so other sites' pages cannot read the API.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host names the API answers to besides the localhost names and `host` (DNS-rebinding guard,
    # backend/core/cross_site.py): comma-separated or a JSON list; "*" for any.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Request bodies larger than this are refused with 413 (artifact uploads have their own cap,
    # trainboard.limits.MAX_ARTIFACT_BYTES).
    max_body_bytes: int = Field(default=16 * 2**20, ge=1024)
    # One checkpoint upload (model, optimizer and RNG states); streamed to disk, never held in memory.
    max_checkpoint_bytes: int = Field(default=4 * 2**30, ge=1024)
    # Metric points one run may hold (all metrics together): a batch that would take a run beyond it
    # is refused whole with 413, so that no run grows past what its charts and summaries can serve.
    max_points_per_run: int = Field(default=2_000_000, ge=1)
    # Parameters a run's model may have (trainboard/model_budget.py): a larger one is a 422 when its
    # options prove it, else the worker fails the run before allocating it. Handed to workers with the claim.
    max_model_parameters: int = Field(default=DEFAULT_MAX_PARAMETERS, ge=1)
    host: str = "127.0.0.1"
    port: int = 8000
    # The API's value rules: it hands it to each worker with the claim (a worker's own is not read).
    heartbeat_seconds: float = Field(default=2.0, gt=0, description="A run is lost after 3 missed heartbeats")
    max_attempts: int = Field(default=3, ge=1, le=100, description="Executions of a run before it fails for good")
    recovery_seconds: float = Field(default=5.0, gt=0, description="How often lost runs are looked for")
    worker_publish_seconds: float = Field(
        default=30.0, gt=0, description="How often workers publish their catalog (the API tells them)"
    )
    catalog_ttl_seconds: float = Field(
        default=7 * 24 * 3600, gt=0, description="A worker's offer stays in /catalog this long after it was last seen"
    )
    sqlite_busy_timeout_ms: int = 30_000
    visibility_timeout_seconds: int = Field(default=7 * 24 * 3600, description="Longer than any run")

    @field_validator("api_token", "worker_token")
    @classmethod
    def _empty_token_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip().rstrip("/") for item in text.split(",") if item.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'trainboard.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"{EMBEDDED_BROKER_SCHEME}+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    @property
    def resolved_artifacts_dir(self) -> Path:
        return (self.artifacts_dir or self.data_dir / "artifacts").resolve()

    @property
    def listens_beyond_localhost(self) -> bool:
        return self.host not in LOOPBACK_HOSTS


@lru_cache
def get_settings() -> Settings:
    return Settings()
