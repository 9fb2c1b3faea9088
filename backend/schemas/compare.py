from typing import Any

from pydantic import BaseModel, Field

from backend.schemas.run import RunPublic


class Series(BaseModel):
    """One metric of one run, as columns: steps[i] has values[i], measured at wall_times[i]."""

    steps: list[int]
    values: list[float | None]
    wall_times: list[float]


class RunGroup(BaseModel):
    """Runs shown as one curve and one table row (backend/services/grouping.py)."""

    key: str = Field(description="The group's identity; GET /stats gives the same key for the same group_by")
    label: str = Field(description="How every view names it: 'optimizer=sgd(momentum=0.9)', or the run's name")
    cell: dict[str, Any] | None = Field(
        description="group_by path -> the group's value (options at their defaults left out); null per run"
    )
    run_ids: list[int]


class Comparison(BaseModel):
    runs: list[RunPublic] = Field(description="With each metric's exact best and final value (`summary`)")
    series: dict[int, dict[str, Series]] = Field(description="run id -> metric name -> series")
    metrics: list[str] = Field(default_factory=list, description="Every metric the runs report, curves or not")
    max_points: int = Field(default=0, description="Points per curve at most (0: every point)")
    time_origins: dict[int, float] = Field(
        default_factory=dict, description="run id -> wall time its relative time starts from (every metric seen)"
    )
    seconds_per_epoch: dict[int, float] = Field(
        default_factory=dict, description="run id -> mean epoch_seconds over every epoch"
    )
    group_by: list[str] = Field(description="Spec paths (or cell, or group) the runs are grouped by; [] per run")
    groups: list[RunGroup] = Field(description="The runs grouped by group_by, in display order; one per run without")
