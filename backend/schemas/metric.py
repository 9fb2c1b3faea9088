from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import NotRequired, TypedDict

from backend.schemas.common import BodyLeaseAttempt, JsonFloat, JsonInt
from trainboard.limits import MAX_POINTS_PER_BATCH, MAX_STEP, METRIC_NAME_PATTERN



class MetricPointIn(TypedDict):
    """A point as the ingestion route validates it: a plain dict (validating into dicts costs a
    fraction of building a model per point, and ingestion is the API's hot path)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=METRIC_NAME_PATTERN)]
    step: Annotated[JsonInt, Field(ge=0, le=MAX_STEP, description="Epoch for the engine's metrics")]
    value: Annotated[JsonFloat | None, Field(description="NaN and infinities are stored as null")]
    wall_time: NotRequired[Annotated[JsonFloat | None, Field(description="Unix seconds; default: when received")]]


class MetricBatch(TypedDict):
    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        extra="forbid",
        json_schema_extra={"examples": [{"attempt": 1, "points": [{"name": "val_loss", "step": 1, "value": 0.42}]}]},
    )
    attempt: BodyLeaseAttempt
    points: Annotated[list[MetricPointIn], Field(max_length=MAX_POINTS_PER_BATCH)]


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
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end")
