from pydantic import BaseModel, ConfigDict, Field

MAX_POINTS_PER_BATCH = 10_000


class MetricPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-/]+$")
    step: int = Field(ge=0, le=2**31 - 1, description="Epoch for the engine's metrics")
    value: float | None = Field(description="NaN and infinities are stored as null")
    wall_time: float | None = Field(default=None, description="Unix seconds; default: when received")


class MetricBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[MetricPointIn] = Field(max_length=MAX_POINTS_PER_BATCH)


class MetricBatchResult(BaseModel):
    received: int
    inserted: int = Field(description="Points new to the store; repeats of a stored (name, step) are ignored")


class MetricPointPublic(BaseModel):
    name: str
    step: int
    value: float | None
    wall_time: float


class MetricSeries(BaseModel):
    run_id: int
    points: list[MetricPointPublic]
