from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.models.run import RunStatus
from backend.schemas.common import BodyLeaseAttempt, JsonInt, Label, json_within
from trainboard.limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_ENVIRONMENT_BYTES
from trainboard.spec import TrainSpec, defer_to_catalog_check


# A spec the built-in zoo trains in seconds, without any download: the examples of the OpenAPI document.
EXAMPLE_SPEC = {
    "model": {"name": "mlp"},
    "dataset": {"name": "synthetic_mnist"},
    "epochs": 2,
    "batch_size": 32,
    "learning_rate": 0.1,
}


class RunCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "mlp baseline", "group": "mlp", "spec": EXAMPLE_SPEC}]}
    )

    name: Label | None = Field(default=None, description="Defaults to '<model> on <dataset>'")
    group: Label | None = Field(default=None, description="Group or study the run belongs to")
    spec: TrainSpec  # kept as sent: the route checks it against the catalog (all problems at once)

    _defer_spec_check = field_validator("spec", mode="wrap")(defer_to_catalog_check)


class MetricSummary(BaseModel):
    final: float | None = Field(default=None, description="Value at the last step")
    final_step: int | None = None
    best: float | None = Field(
        default=None, description="Lowest loss or time, highest score over all steps (of a test_* metric: optimistic)"
    )
    best_step: int | None = None
    selected: float | None = Field(default=None, description="Value at the run's selected epoch (`selected_epoch`)")


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    group: str | None
    status: RunStatus
    source: Literal["worker", "script"] = Field(
        default="worker", description="Trained by a worker from its spec, or reported by the user's own script"
    )
    spec: dict[str, Any] = Field(description="A worker run's recipe; {} for a script run")
    config: dict[str, Any] | None = Field(default=None, description="A script run's config, as its script sent it")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker_host: str | None
    device_name: str | None
    environment: dict[str, Any] | None
    attempt: int
    handbacks: int = Field(default=0, description="Executions handed back on a worker's graceful stop: no attempt used")
    epochs_completed: int
    cancel_requested: bool
    error: str | None
    param_count: int | None = Field(description="Measured by the worker when the run starts")
    macs: int | None
    queue: str | None = Field(default=None, description="The Celery queue it is routed to")
    waiting_for: str | None = Field(
        default=None, description="Why a queued run waits: no online worker can take it (no GPU, a package missing)"
    )
    study_id: int | None = Field(default=None, description="The study the run belongs to")
    cell: dict[str, Any] | None = Field(default=None, description="Its grid cell in the study: {'model.norm': 'batch'}")
    summary: dict[str, MetricSummary] = Field(
        default_factory=dict, description="Final, best and selected value of each metric the run reported"
    )
    selection_metric: str | None = Field(
        default=None,
        description="The metric its best epoch is chosen by: val_accuracy, val_dice, the spec's or a script "
        "config's selection_metric; null for a script run that has none",
    )
    selected_epoch: int | None = Field(
        default=None, description="The first epoch (step) where `selection_metric` is best; null without a value"
    )


class RunClaimed(RunPublic):
    """The reply to a worker's claim: the run, and how the worker must report on it."""

    heartbeat_seconds: float = Field(
        description="Beat at this interval: a run is given up for lost after 3 missed heartbeats"
    )
    max_model_parameters: int = Field(
        description="The server's parameter budget: a larger model fails the run before it is allocated"
    )


class RunTrack(BaseModel):
    """A script creates its run (the Python client's `trainboard.init`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "my script", "group": "mlp", "config": {"lr": 0.01}}]},
    )

    name: Label | None = Field(default=None, description="Defaults to 'script run'")
    group: Label | None = Field(default=None, description="Group, or the name of a study the run joins")
    config: dict[str, Any] = Field(default_factory=dict, description="Any JSON object: the script's settings")
    client_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Idempotency key: a second request with it returns the run it created",
    )
    host: str | None = Field(default=None, max_length=255, description="The machine the script runs on")
    environment: dict[str, Any] | None = Field(default=None, description="Versions, devices...")

    _config_size = field_validator("config")(json_within(max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_CONFIG_DEPTH))
    _environment_size = field_validator("environment")(
        json_within(max_bytes=MAX_ENVIRONMENT_BYTES, max_depth=MAX_CONFIG_DEPTH)
    )


class RunResume(BaseModel):
    """A script takes a new lease on its run (it restarted, or `trainboard sync` sends what it kept)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"host": "laptop"}]})
    host: str | None = Field(default=None, max_length=255)


class RunTracked(RunPublic):
    """The reply to a script creating or resuming its run: the run, and how the script reports on it."""

    heartbeat_seconds: float = Field(
        description="Beat at this interval: a run is given up for lost after 3 missed heartbeats"
    )
    last_step: int | None = Field(description="The highest step stored for any metric of the run; None if none")
    created: bool = Field(description="False when the client_key named a run created before")


class RunsPublic(BaseModel):
    data: list[RunPublic]
    count: int = Field(description="Total number of runs matching the filters, over all pages")


class RunStart(BaseModel):
    """A worker claims a queued run."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"worker_host": "gpu-box"}]})
    worker_host: str = Field(min_length=1, max_length=255)


# Stored in a 32-bit column: a larger count is a 422, not a database error.
EpochsCompleted = Annotated[JsonInt | None, Field(ge=0, le=2**31 - 1)]


class RunHeartbeat(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"attempt": 1, "epochs_completed": 1, "device_name": "cpu"}]}
    )
    attempt: BodyLeaseAttempt
    worker_host: str | None = Field(default=None, max_length=255)
    epochs_completed: EpochsCompleted = None
    device_name: str | None = Field(default=None, max_length=255)
    environment: dict[str, Any] | None = None
    param_count: JsonInt | None = Field(default=None, ge=0, le=2**62, description="Parameters, measured by the worker")
    macs: JsonInt | None = Field(default=None, ge=0, le=2**62, description="Multiply-accumulates per sample")


class RunRelease(BaseModel):
    """A worker gives a running run back to the queue (it is shutting down); another resumes it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"attempt": 1, "reason": "shutdown"}]})
    attempt: BodyLeaseAttempt
    reason: str | None = Field(default=None, max_length=500)


class RunHeartbeatReply(BaseModel):
    status: RunStatus
    cancel_requested: bool


class RunFinish(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"attempt": 1, "status": "completed", "epochs_completed": 2}]}
    )
    attempt: BodyLeaseAttempt
    status: Literal["completed", "failed", "cancelled"]
    error: str | None = Field(default=None, max_length=20_000)
    epochs_completed: EpochsCompleted = None
